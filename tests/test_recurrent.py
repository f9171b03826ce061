"""Recurrent spiking layers (RLIF, RSynaptic, RALIF): snnTorch parity (bit for bit forward,
autograd backward), native backends against the PyTorch reference, gradcheck, streaming state,
opcheck, torch.compile and bad input."""

import shutil
import subprocess
import sys

import pytest
import torch
from conftest import NATIVE, ROOT, needs_native

import neurosim
from neurosim.functional import RALIFState, RLIFState, RSynapticState

BACKENDS = [b for b, _ in NATIVE] + ["torch"]
CELLS = {
    "lif": (neurosim.RLIF, {"beta": 0.85, "threshold": 0.9}),
    "synaptic": (neurosim.RSynaptic, {"alpha": 0.8, "beta": 0.7, "threshold": 0.9}),
    "alif": (neurosim.RALIF, {"beta": 0.85, "rho": 0.9, "gamma": 0.4, "threshold": 0.9}),
}
STATES = {"lif": RLIFState, "synaptic": RSynapticState, "alif": RALIFState}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: torch on one thread


def _device(backend):
    return "cuda" if backend == "cuda" else "cpu"


def _snn_run(layer, x, state):
    """snnTorch's cell stepped over x, returning stacked spikes, membranes and the final state."""
    spikes, mems = [], []
    for x_t in x:
        state = layer(x_t, *state)
        spikes.append(state[0])
        mems.append(state[-1])
    return torch.stack(spikes), torch.stack(mems), state


# ------------------------------------------------------------------------------------------------
# snnTorch parity
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("all_to_all", [True, False])
@pytest.mark.parametrize("cell", ["lif", "synaptic"])
def test_matches_snntorch(backend, reset, all_to_all, cell):
    snn = pytest.importorskip("snntorch")
    device = _device(backend)
    torch.manual_seed(3)
    T, B, n = 30, 3, 16
    beta = torch.rand(n) * 0.3 + 0.65  # one per neuron, learnable on both sides
    V = torch.randn(n) * 0.5
    common = dict(spike_grad=snn.surrogate.atan(alpha=2.0), reset_mechanism=reset, learn_beta=True,
                  learn_threshold=True, threshold=0.8)
    rec = dict(linear_features=n) if all_to_all else dict(all_to_all=False, V=V.clone())
    if cell == "lif":
        ref = snn.RLeaky(beta=beta.clone(), **rec, **common)
        ours = neurosim.RLIF(n, beta=beta, threshold=0.8, all_to_all=all_to_all, V=V, reset=reset,
                             surrogate="atan", backend=backend, learn_beta=True, learn_threshold=True,
                             record_membrane=True)
        state0 = (torch.zeros(B, n), torch.randn(B, n) * 0.5)
    else:
        ref = snn.RSynaptic(alpha=0.75, beta=beta.clone(), learn_alpha=True, **rec, **common)
        ours = neurosim.RSynaptic(n, alpha=0.75, beta=beta, threshold=0.8, all_to_all=all_to_all, V=V,
                                  reset=reset, surrogate="atan", backend=backend, learn_alpha=True,
                                  learn_beta=True, learn_threshold=True, record_membrane=True)
        state0 = (torch.zeros(B, n), torch.randn(B, n) * 0.3, torch.randn(B, n) * 0.5)
    state0 = ((torch.rand(B, n) < 0.3).float(), *state0[1:])  # some neurons spiked "before"
    if all_to_all:
        ours.recurrent.load_state_dict(ref.recurrent.state_dict())
    ref.to(device)
    ours.to(device)
    x = (torch.randn(T, B, n) * 0.7).to(device).requires_grad_()
    ref_state0 = tuple(s.to(device).requires_grad_() for s in state0)
    our_state0 = tuple(s.to(device).requires_grad_() for s in state0)

    spikes_ref, mem_ref, final_ref = _snn_run(ref, x, ref_state0)
    out = ours(x, STATES[cell](*our_state0))
    assert 0.02 < spikes_ref.mean().item() < 0.9
    assert torch.equal(out.spikes, spikes_ref)
    assert torch.equal(out.membrane, mem_ref)
    for ours_s, ref_s in zip(out.state, final_ref):
        assert torch.equal(ours_s, ref_s)

    w = torch.randn(T, B, n, generator=torch.Generator().manual_seed(1)).to(device)
    loss_ref = (spikes_ref * w).sum() + (mem_ref * w).sum() * 0.1 + sum(s.sum() for s in final_ref[1:])
    loss = (out.spikes * w).sum() + (out.membrane * w).sum() * 0.1 + sum(s.sum() for s in out.state[1:])
    grads_ref = torch.autograd.grad(loss_ref, [x, *ref_state0, *ref.parameters()])
    grads = torch.autograd.grad(loss, [x, *our_state0, *ours.parameters()])
    names_ref = ["x", *[f"state{i}" for i in range(len(state0))], *[k for k, _ in ref.named_parameters()]]
    names = ["x", *[f"state{i}" for i in range(len(state0))],
             *[k.replace("recurrent.V", "V") for k, _ in ours.named_parameters()]]
    ref_by_name = dict(zip(names_ref, grads_ref))
    for name, g in zip(names, grads):
        expected = ref_by_name[name].reshape(g.shape)
        torch.testing.assert_close(g, expected, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")


# ------------------------------------------------------------------------------------------------
# native backends against the reference
# ------------------------------------------------------------------------------------------------

def _run(cell, backend, dtype, x, state, params, rec, reset="subtract", detach_reset=True, surrogate="fast_sigmoid"):
    out = neurosim.functional.recurrent(cell, x, state, **rec, reset=reset, detach_reset=detach_reset,
                                        surrogate=surrogate, record_membrane=True, backend=backend, **params)
    return out


def _leaves(cell, device, dtype, T=37, B=3, n=10, all_to_all=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, n, generator=g, dtype=dtype) * 0.9).to(device).requires_grad_()
    fields = STATES[cell]._fields
    state = STATES[cell](*[((torch.rand(B, n, generator=g) < 0.3).to(dtype) if f == "spk"
                            else torch.randn(B, n, generator=g, dtype=dtype) * 0.4).to(device).requires_grad_()
                           for f in fields])
    params = {k: torch.full((n,), float(v), dtype=dtype).add(torch.rand(n, generator=g, dtype=dtype) * 0.05)
              .to(device).requires_grad_() for k, v in CELLS[cell][1].items()}
    if all_to_all:
        rec = {"weight": (torch.randn(n, n, generator=g, dtype=dtype) * 0.4).to(device).requires_grad_(),
               "bias": (torch.randn(n, generator=g, dtype=dtype) * 0.1).to(device).requires_grad_()}
    else:
        rec = {"v": (torch.randn(n, generator=g, dtype=dtype) * 0.5).to(device).requires_grad_()}
    return x, state, params, rec


@needs_native
@pytest.mark.parametrize("backend", [b for b, _ in NATIVE])
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("reset,detach_reset", [("subtract", True), ("zero", True), ("none", True),
                                                ("subtract", False), ("none", False)])
@pytest.mark.parametrize("all_to_all", [True, False])
def test_native_matches_reference(backend, cell, reset, detach_reset, all_to_all):
    device = _device(backend)
    dtype = torch.float64
    x, state, params, rec = _leaves(cell, device, dtype, all_to_all=all_to_all)
    leaves = [x, *state, *params.values(), *rec.values()]
    results, grads = [], []
    for b in ("torch", backend):
        out = _run(cell, b, dtype, x, state, params, rec, reset, detach_reset, surrogate="atan")
        w = torch.randn(out.spikes.shape, generator=torch.Generator().manual_seed(5), dtype=dtype).to(device)
        loss = (out.spikes * w).sum() + (out.membrane * w.flip(0)).sum() * 0.3 + sum(
            (s * (i + 1)).sum() for i, s in enumerate(out.state))
        grads.append(torch.autograd.grad(loss, leaves))
        results.append(out)
    ref, nat = results
    assert 0.02 < ref.spikes.mean().item() < 0.9
    assert torch.equal(nat.spikes, ref.spikes)
    assert torch.equal(nat.membrane, ref.membrane)
    for a, b in zip(nat.state, ref.state):
        assert torch.equal(a, b)
    for i, (gn, gr) in enumerate(zip(*grads)):
        torch.testing.assert_close(gn, gr, rtol=1e-9, atol=1e-10, msg=lambda m: f"leaf {i}: {m}")


@needs_native
@pytest.mark.parametrize("cell", list(CELLS))
def test_float32_native_matches_reference_bitwise_forward(cell):
    x, state, params, rec = _leaves(cell, "cpu", torch.float32, T=50, B=4, n=33)
    a = _run(cell, "torch", torch.float32, x, state, params, rec)
    b = _run(cell, "cpp", torch.float32, x, state, params, rec)
    assert torch.equal(a.spikes, b.spikes) and torch.equal(a.membrane, b.membrane)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("all_to_all", [True, False])
def test_gradcheck_smooth_part(backend, cell, all_to_all):
    """gradcheck (float64) of the membrane trace and the final variables. A surrogate window far
    narrower than any |u - threshold| makes every surrogate term 0, so what is checked is the exact
    derivative of the smooth dynamics: decays, resets, the recurrent weights acting on the (locally
    constant) spikes, parameters and initial state. The surrogate terms are checked against the
    reference's autograd above."""
    device = _device(backend)
    x, state, params, rec = _leaves(cell, device, torch.float64, T=12, B=2, n=3, all_to_all=all_to_all, seed=4)
    names = list(params)
    rec_names = list(rec)
    sg = neurosim.surrogate.triangle(1e-9)

    def fn(x, *rest):
        st = STATES[cell](*rest[:len(state)])
        ps = dict(zip(names, rest[len(state):len(state) + len(names)]))
        rc = dict(zip(rec_names, rest[len(state) + len(names):]))
        out = neurosim.functional.recurrent(cell, x, st, **rc, surrogate=sg, record_membrane=True, backend=backend,
                                            **ps)
        return (out.membrane, *out.state[1:])

    inputs = (x, *state, *params.values(), *rec.values())
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-7, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", list(CELLS))
def test_streaming_state_equals_one_call(backend, cell):
    device = _device(backend)
    x, state, params, rec = _leaves(cell, device, torch.float32, T=40)
    x, state = x.detach(), STATES[cell](*[s.detach() for s in state])
    whole = _run(cell, backend, torch.float32, x, state, params, rec)
    first = _run(cell, backend, torch.float32, x[:17], state, params, rec)
    second = _run(cell, backend, torch.float32, x[17:], first.state, params, rec)
    assert torch.equal(torch.cat([first.spikes, second.spikes]), whole.spikes)
    assert torch.equal(torch.cat([first.membrane, second.membrane]), whole.membrane)
    for a, b in zip(second.state, whole.state):
        assert torch.equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ralif_without_adaptation_is_rlif(backend):
    device = _device(backend)
    x, state, params, rec = _leaves("lif", device, torch.float32)
    a = neurosim.functional.rlif(x, state, **rec, **params, record_membrane=True, backend=backend)
    b = neurosim.functional.ralif(x, RALIFState(*state, torch.zeros_like(state.mem)), **rec, **params, rho=0.9,
                                  gamma=0.0, record_membrane=True, backend=backend)
    assert torch.equal(a.spikes, b.spikes) and torch.equal(a.membrane, b.membrane)


@pytest.mark.parametrize("backend", BACKENDS)
def test_adaptation_raises_the_threshold(backend):
    """Under constant drive an adaptive neuron fires less than the same neuron without adaptation,
    and its adaptation variable is the rho-filtered spike train."""
    device = _device(backend)
    x = torch.full((200, 1, 4), 0.6, device=device)
    plain = neurosim.RALIF(4, gamma=0.0, all_to_all=False, V=0.0, backend=backend, return_state=True)(x)
    adapt = neurosim.RALIF(4, gamma=0.5, rho=0.95, all_to_all=False, V=0.0, backend=backend, return_state=True)(x)
    assert adapt.spikes.sum() < 0.7 * plain.spikes.sum()
    a = torch.zeros(1, 4, device=device)
    for t in range(200):  # a_t = rho a_{t-1} + s_{t-1}
        a = 0.95 * a + (adapt.spikes[t - 1] if t > 0 else 0.0)
    torch.testing.assert_close(adapt.state.adapt, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_half_input_runs_in_float32(backend):
    device = _device(backend)
    layer = neurosim.RLIF(8, backend=backend).to(device)
    x = torch.randn(10, 2, 8, device=device)
    assert torch.equal(layer(x.to(torch.bfloat16)).float(), layer(x.to(torch.bfloat16).float()))


@pytest.mark.parametrize("backend", [b for b, _ in NATIVE])
@pytest.mark.parametrize("cell", list(CELLS))
def test_native_double_backward_is_refused_not_zero(backend, cell):
    """create_graph=True through a native recurrent layer: its backward has no autograd formula, so
    the second derivative is refused like the other native ops' (it came back as exactly 0, with
    only torch's deprecation warning); the torch backend computes it."""
    cls, params = CELLS[cell]
    device = _device(backend)
    x0 = torch.randn(8, 2, 5, dtype=torch.float64, device=device)
    grads = {}
    for b in (backend, "torch"):
        torch.manual_seed(0)
        layer = cls(5, **params, backend=b, record_membrane=True).double().to(device)
        x = x0.clone().requires_grad_()
        loss = (layer(x).membrane ** 2).sum()
        if b == backend:
            with pytest.raises(RuntimeError, match="no double backward.*backend='torch'"):
                torch.autograd.grad(loss, x, create_graph=True)
        else:
            g, = torch.autograd.grad(loss, x, create_graph=True)
            grads[b] = torch.autograd.grad(g.pow(2).sum(), x)[0]
    assert bool(grads["torch"].any())


@pytest.mark.parametrize("backend", [b for b, _ in NATIVE])
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("all_to_all", [True, False])
def test_empty_batch_backward_gives_zero_gradients(backend, cell, all_to_all):
    """B = 0 through a native recurrent layer: the native backward crashed the interpreter with a
    segmentation fault (so the check runs in a child process); every gradient is a sum over nothing,
    which the op itself now returns."""
    cls, params = CELLS[cell]
    learn = {f"learn_{name}": True for name in params}
    code = f"""
import torch, neurosim
layer = neurosim.{cls.__name__}(3, all_to_all={all_to_all}, backend={backend!r}, **{learn!r}).to({_device(backend)!r})
x = torch.randn(5, 0, 3, device={_device(backend)!r}, requires_grad=True)
layer(x).sum().backward()
assert x.grad.shape == (5, 0, 3) and not x.grad.any()
grads = [p.grad for p in layer.parameters() if p.requires_grad]
assert len(grads) == {len(params) + (2 if all_to_all else 1)} and all(g is not None and not g.any() for g in grads)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


@needs_native
def test_no_trace_without_grad():
    x = torch.randn(30, 2, 6)
    layer = neurosim.RLIF(6, backend="cpp")
    with torch.no_grad():
        a = layer(x)
    assert torch.equal(a, layer(x))


# ------------------------------------------------------------------------------------------------
# op contract and compile
# ------------------------------------------------------------------------------------------------

@needs_native
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("all_to_all", [True, False])
def test_opcheck(cell, all_to_all):
    from neurosim.core.recurrent_op import CELLS as CODES

    x, state, params, rec = _leaves(cell, "cpu", torch.float32, T=9, B=2, n=5, all_to_all=all_to_all)
    state0 = torch.stack(list(state)).detach().requires_grad_()
    p = torch.stack(list(params.values())).detach().requires_grad_()
    weight = rec.get("weight")
    bias = rec.get("bias")
    v = rec.get("v")
    args = (x, state0, p, weight, bias, v, CODES[cell], 0, 1, 2.0, True, True)
    torch.library.opcheck(torch.ops.neurosim.recurrent_forward.default, args)
    spikes, _, trace = torch.ops.neurosim.recurrent_forward(*[a.detach() if isinstance(a, torch.Tensor) else a
                                                              for a in args])
    bargs = (torch.randn_like(spikes), torch.randn_like(state0), torch.randn_like(trace), spikes, trace,
             state0.detach(), p.detach(), None if weight is None else weight.detach(),
             None if v is None else v.detach(), CODES[cell], 0, 1, 2.0, True, True)
    torch.library.opcheck(torch.ops.neurosim.recurrent_backward.default, bargs)


def _compiler_available():
    return shutil.which("cc") is not None or shutil.which("gcc") is not None or shutil.which("g++") is not None


@pytest.mark.skipif(not _compiler_available(), reason="no C++ compiler for the inductor backend")
@pytest.mark.parametrize("backend", [b for b, _ in NATIVE if b == "cpp"])
def test_compile_fullgraph_matches_eager(backend):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), neurosim.RLIF(5, backend=backend, learn_beta=True))
    x = torch.randn(12, 3, 6)
    eager = model(x)
    eager.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    # no on-disk compile caches: a graph cached against an older build of the op would be replayed
    with torch._inductor.config.patch(force_disable_caches=True):
        out = torch.compile(model, fullgraph=True)(x)
        out.sum().backward()
    assert torch.equal(out, eager)
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------

def test_state_of_the_wrong_size_is_refused():
    layer = neurosim.RLIF(6, return_state=True)
    x = torch.randn(5, 2, 6)
    with pytest.raises(ValueError, match=r"state\.mem.*\(2, 6\)"):
        layer(x, RLIFState(torch.zeros(2, 6), torch.zeros(2, 7)))
    with pytest.raises(TypeError, match="RLIFState"):
        layer(x, (torch.zeros(2, 6),))
    with pytest.raises(ValueError, match=r"x: expected \[T, B, 6\]"):
        layer(torch.randn(5, 2, 7))


def test_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        neurosim.RLIF(0)
    with pytest.raises(ValueError, match="V: expected a number or a tensor of shape"):
        neurosim.RLIF(4, all_to_all=False, V=torch.ones(3))
    with pytest.raises(ValueError, match="beta"):
        neurosim.RSynaptic(4, beta=1.5)
    with pytest.raises(ValueError, match="detach_reset=False"):
        neurosim.RLIF(4, reset="zero", detach_reset=False)
    x = torch.randn(5, 2, 4)
    with pytest.raises(ValueError, match="exactly one of weight"):
        neurosim.functional.rlif(x)
    with pytest.raises(ValueError, match=r"weight: expected shape \(4, 4\)"):
        neurosim.functional.rlif(x, weight=torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"x: recurrent layers take \[T, B, n\]"):
        neurosim.functional.rlif(torch.randn(5, 2, 2, 2), v=1.0)
    with pytest.raises(ValueError, match="cell"):
        neurosim.functional.recurrent("lstm", x, v=1.0)


def test_weights_copy_across_from_snntorch_naming():
    """``.recurrent`` is an nn.Linear as in snnTorch; one-to-one weights are ``.V``."""
    layer = neurosim.RLIF(5)
    assert isinstance(layer.recurrent, torch.nn.Linear) and layer.recurrent.weight.shape == (5, 5)
    one = neurosim.RLIF(5, all_to_all=False, V=0.5)
    assert torch.equal(one.V.detach(), torch.full((5,), 0.5)) and one.V.requires_grad
    frozen = neurosim.RLIF(5, learn_recurrent=False)
    assert not any(p.requires_grad for p in frozen.recurrent.parameters())
