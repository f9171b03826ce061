"""neurosim.LIF module behaviour: shapes, dtypes, state streaming, learnable parameters."""

import pytest
import torch
from conftest import NATIVE

import neurosim

BACKENDS = [b for b, _ in NATIVE if b == "cpp"] + ["torch"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(7, 3), (7, 3, 5), (7, 2, 3, 4, 5)])
def test_returns_spikes_of_input_shape_and_dtype(backend, shape):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3  # not test-order dependent
    s = neurosim.LIF(backend=backend)(x)
    assert s.shape == x.shape and s.dtype == x.dtype
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert s.sum() > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_streaming_in_chunks_equals_one_call(backend):
    x = torch.randn(100, 3, 6, generator=torch.Generator().manual_seed(2)) * 1.5
    lif = neurosim.LIF(backend=backend, reset="zero", return_state=True)
    full = lif(x)
    state, parts = None, []
    for chunk in x.split(17):
        out = lif(chunk, state)
        state = out.state
        parts.append(out.spikes)
    assert torch.equal(torch.cat(parts), full.spikes)
    assert torch.equal(state, full.state)


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_bptt_with_detached_state_trains(backend):
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 8)
    lif = neurosim.LIF(backend=backend, return_state=True, learn_beta=True, learn_threshold=True)
    opt = torch.optim.SGD(list(lin.parameters()) + list(lif.parameters()), lr=0.05)
    x = torch.rand(60, 4, 8)
    target = torch.full((4, 8), 0.3)
    state = None
    for chunk in x.split(20):
        out = lif(lin(chunk), state)
        loss = ((out.spikes.mean(0) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        assert lif.beta.grad is not None and lif.threshold.grad is not None
        assert torch.isfinite(lin.weight.grad).all()
        opt.step()
        state = out.state.detach()


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_neuron_parameters_over_multidim_features(backend):
    x = torch.randn(20, 2, 3, 4) * 2
    beta = torch.rand(3, 4)
    thr = torch.rand(3, 4) + 0.5
    out = neurosim.LIF(beta=beta, threshold=thr, backend=backend, record_membrane=True)(x)
    ref = neurosim.functional.lif(x, beta=beta, threshold=thr, record_membrane=True, backend="torch")
    assert torch.equal(out.spikes, ref.spikes)
    torch.testing.assert_close(out.membrane, ref.membrane)


@pytest.mark.parametrize("backend", BACKENDS)
def test_learned_beta_is_clamped_like_snntorch(backend):
    lif = neurosim.LIF(beta=0.9, learn_beta=True, backend=backend)
    with torch.no_grad():
        lif.beta.fill_(1.3)  # an optimiser step can push it out of range
    x = torch.randn(10, 2, 3)
    ref = neurosim.functional.lif(x, beta=1.0, backend="torch").spikes
    assert torch.equal(lif(x), ref)


def test_empty_batch_and_repr():
    lif = neurosim.LIF()
    assert lif(torch.randn(4, 0, 3)).shape == (4, 0, 3)
    assert "beta=0.9" in repr(lif) and "fast_sigmoid" in repr(lif)


def test_backends_lists_torch_last():
    names = neurosim.backends()
    assert names[-1] == "torch" and len(set(names)) == len(names)
