"""No device-to-host syncs in the forward and backward of the neuron modules.

Reading a CUDA tensor's value (``.item()``, ``bool(t)``, ``float(t)``) stalls the stream on every
call and fails under CUDA graph capture. Values of non-CPU tensors are checked where they are set
(module construction), never per call. Without a GPU we run the same code path on the ``meta``
device, where any value read is counted; with a GPU, under ``set_sync_debug_mode("error")``.
"""

import pytest
import torch

import neurosim

MODULES = {
    "LIF": lambda b: neurosim.LIF(beta=0.9, learn_beta=True, learn_threshold=True, backend=b),
    "LIF-per-neuron": lambda b: neurosim.LIF(beta=torch.full((3,), 0.8), threshold=torch.ones(3), backend=b),
    "UltraLIF": lambda b: neurosim.UltraLIF(backend=b),
    "UltraPLIF": lambda b: neurosim.UltraPLIF(backend=b),
    "UltraDPLIF": lambda b: neurosim.UltraDPLIF(backend=b),
    "Synaptic": lambda b: neurosim.Synaptic(learn_alpha=True, learn_beta=True, learn_threshold=True, backend=b),
    "Synaptic-per-neuron": lambda b: neurosim.Synaptic(alpha=torch.full((3,), 0.7), beta=torch.full((3,), 0.8),
                                                       backend=b),
    "ALIF": lambda b: neurosim.ALIF(learn_beta=True, learn_rho=True, learn_gamma=True, learn_threshold=True,
                                    backend=b),
    "LI": lambda b: neurosim.LI(learn_beta=True, backend=b),
}


@pytest.fixture
def value_reads(monkeypatch):
    """Counts value reads of non-CPU tensors (each one a host sync on CUDA)."""
    reads = []
    for method in ("item", "__bool__", "__float__", "__int__", "tolist"):
        original = getattr(torch.Tensor, method)

        def counting(self, *args, _original=original, _method=method, **kwargs):
            if self.device.type != "cpu":
                reads.append(_method)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, counting)
    return reads


@pytest.mark.parametrize("backend", [b for b in ("cpp", "torch") if b in neurosim.backends()])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_forward_backward_read_no_values_off_cpu(name, backend, value_reads):
    module = MODULES[name](backend).to("meta")
    module.return_state = True
    x = torch.empty(6, 2, 3, device="meta", requires_grad=True)
    state = torch.empty(2, 3, device="meta", requires_grad=True)
    states = (state,) if not isinstance(module, (neurosim.Synaptic, neurosim.ALIF)) else (state, state * 2)
    result = module(x, states[0] if len(states) == 1 else states)
    final = result.state if isinstance(result.state, tuple) else (result.state,)
    (result[0].sum() + sum(s.sum() for s in final)).backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert value_reads == []


def test_cpu_values_still_checked():
    # the CPU path keeps every value check: a NaN state or beta is refused by name
    x = torch.rand(4, 2, 3)
    with pytest.raises(ValueError, match="state"):
        neurosim.functional.lif(x, torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="beta"):
        neurosim.functional.lif(x, beta=torch.full((3,), 1.5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", sorted(MODULES))
def test_cuda_no_sync_and_graph_capture(name):
    module = MODULES[name]("auto").cuda()
    x = torch.rand(16, 4, 3, device="cuda", requires_grad=True)
    torch.cuda.set_sync_debug_mode("error")
    try:
        module(x).sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    static_x = torch.rand(16, 4, 3, device="cuda", requires_grad=True)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm up on a side stream, as CUDA graph capture requires
        for _ in range(2):
            module(static_x).sum().backward()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    static_x.grad = None
    with torch.cuda.graph(graph):
        out = module(static_x)
        out.sum().backward()
    static_x.data.copy_(torch.rand_like(static_x))
    graph.replay()
    expected = module(static_x.detach())
    torch.testing.assert_close(out, expected)
