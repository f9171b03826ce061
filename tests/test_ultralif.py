"""UltraLIF / UltraPLIF / UltraDLIF / UltraDPLIF: the soft max-plus operator, every backend
against the PyTorch reference (values and gradients), gradcheck, opcheck, numerics at extreme
eps and input, the tropical limit, the authors' formulas transcribed as scalars, and the modules."""

import math

import pytest
import torch
from conftest import NATIVE, needs_native
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim
from neurosim.core.ultra_reference import soft_max_plus
from neurosim.functional import energy_proxy, mean_spike_rate, sparsity_penalty, ultradlif, ultralif

BACKENDS = [b for b, _ in NATIVE] + ["torch"]
FORMS = [("ultralif", None), ("ultradlif", "library"), ("ultradlif", "ablation")]


def call(kind, form, x, state=None, **kwargs):
    if kind == "ultralif":
        return ultralif(x, state, **kwargs)
    return ultradlif(x, state, form=form, **kwargs)


# ---- the soft max-plus operator ---------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=3),
    eps=st.floats(1e-3, 20.0),
)
def test_soft_max_plus_bounds_gradient_and_entropy(values, eps):
    a = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    e = torch.tensor(eps, dtype=torch.float64, requires_grad=True)
    lse = soft_max_plus(list(a.unbind(0)), e)
    top = max(values)
    assert top - 1e-9 <= lse.item() <= top + eps * math.log(len(values)) + 1e-9
    lse.backward()
    softmax = torch.softmax(a.detach() / eps, dim=0)
    torch.testing.assert_close(a.grad, softmax, rtol=1e-9, atol=1e-12)
    entropy = -(softmax * torch.log(softmax.clamp_min(1e-300))).sum()
    torch.testing.assert_close(e.grad, entropy, rtol=1e-7, atol=1e-9)


@needs_native
@settings(max_examples=40, deadline=None)
@given(
    v=st.floats(-50, 50), current=st.floats(-50, 50), eps=st.floats(1e-3, 20.0), tau=st.floats(0.05, 0.95),
)
def test_native_step_is_the_two_term_soft_max(v, current, eps, tau):
    # One UltraLIF step from state v: the recorded membrane is LSE_eps(v + log tau, I).
    x = torch.tensor([[[current]]], dtype=torch.float64)
    v0 = torch.tensor([[v]], dtype=torch.float64)
    out = ultralif(x, v0, tau=tau, eps=eps, record_membrane=True, backend="cpp")
    a, b = v + math.log(tau), current
    top = max(a, b)
    membrane = out.membrane.item()
    assert top - 1e-12 <= membrane <= top + eps * math.log(2) + 1e-12
    exact = top + eps * math.log1p(math.exp(-abs(a - b) / eps))
    assert membrane == pytest.approx(exact, rel=1e-12, abs=1e-12)


# ---- backends against the reference -----------------------------------------------------------

def run(kind, form, backend, dtype=torch.float64, per_neuron=False, T=37, B=3, N=7, seed=0):
    """Outputs and the gradients of a random loss w.r.t. x, state and the three parameters."""
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(seed)
    shape = (N,) if per_neuron else ()
    leaves = [
        (torch.randn(T, B, N, generator=gen, dtype=torch.float64) * 2).to(device, dtype),
        (torch.randn(B, N, generator=gen, dtype=torch.float64) * 0.5).to(device),
        (torch.rand(shape, generator=gen, dtype=torch.float64) * 0.5 + 0.4).to(device),
        (torch.rand(shape, generator=gen, dtype=torch.float64) * 1.5 + 0.2).to(device),
        (torch.randn(shape, generator=gen, dtype=torch.float64) * 0.3).to(device),
    ]
    weights = [torch.randn(T, B, N, generator=gen, dtype=torch.float64).to(device),
               torch.randn(B, N, generator=gen, dtype=torch.float64).to(device),
               torch.randn(T, B, N, generator=gen, dtype=torch.float64).to(device) * 0.1]
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    leaves = [leaves[0]] + [t.to(acc) for t in leaves[1:]]
    for t in leaves:
        t.requires_grad_()
    x, v0, tau, eps, theta = leaves
    out = call(kind, form, x, v0, tau=tau, eps=eps, theta=theta, record_membrane=True, backend=backend)
    loss = ((out.spikes.double() * weights[0]).sum() + (out.state.double() * weights[1]).sum()
            + (out.membrane.double() * weights[2]).sum())
    loss.backward()
    return [out.spikes, out.state, out.membrane], [t.grad for t in leaves]


@needs_native
@pytest.mark.parametrize("backend", [b for b, _ in NATIVE])
@pytest.mark.parametrize("kind,form", FORMS)
@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_backend_matches_reference(backend, kind, form, per_neuron, dtype):
    tol = dict(rtol=1e-10, atol=1e-11) if dtype == torch.float64 else dict(rtol=2e-4, atol=2e-4)
    outs, grads = run(kind, form, backend, dtype, per_neuron)
    ref_outs, ref_grads = run(kind, form, "torch", dtype, per_neuron)
    for name, got, want in zip(("spikes", "state", "membrane"), outs, ref_outs):
        torch.testing.assert_close(got.cpu().double(), want.double(), **tol, msg=lambda m: f"{name}: {m}")
    for name, got, want in zip(("x", "state", "tau", "eps", "theta"), grads, ref_grads):
        scale = want.abs().max().item() + 1.0
        assert (got.cpu().double() - want.double()).abs().max().item() <= tol["rtol"] * 10 * scale, name


@needs_native
@pytest.mark.parametrize("backend", [b for b, _ in NATIVE])
@pytest.mark.parametrize("form", ["library", "ablation"])
def test_ring_of_three_matches_reference(backend, form):
    # With 3 features every neuron's two neighbours are the other two: the smallest ring.
    outs, grads = run("ultradlif", form, backend, N=3, T=40)
    ref_outs, ref_grads = run("ultradlif", form, "torch", N=3, T=40)
    for got, want in zip(outs + grads, ref_outs + ref_grads):
        torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-11)


@needs_native
@pytest.mark.parametrize("form", ["library", "ablation"])
def test_ring_gradient_stays_accurate_for_huge_membrane_over_eps(form):
    # |W| / eps ~ 1e8: the soft max's value loses its eps log 3 part to float32 rounding, so the
    # softmax weights must be normalised by their sum, not read off the rounded value (which
    # gave up to 3x the reference's gradient). float32 itself limits the spike here, so the
    # oracle is the float32 reference, which normalises with a sum.
    gen = torch.Generator().manual_seed(4)
    x = torch.full((3, 2, 6), 1e4) + torch.randn(3, 2, 6, generator=gen) * 1e-4
    kw = dict(tau=0.5, eps=1e-4, theta=1e4, form=form)
    grads = []
    for backend in ("cpp", "torch"):
        leaf = x.clone().requires_grad_()
        ultradlif(leaf, backend=backend, **kw).spikes.sum().backward()
        grads.append(leaf.grad)
    scale = grads[1].abs().max().item()
    assert scale > 0
    assert (grads[0] - grads[1]).abs().max().item() <= 1e-3 * scale


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["library", "ablation"])
def test_ring_tropical_limit(backend, form):
    # As eps -> 0 the ring's soft max is within [0, eps log 3] of the max of its three terms.
    eps, tau = 1e-3, 0.8
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(30, 3, 7, generator=gen, dtype=torch.float64)
    out = ultradlif(x, tau=tau, eps=eps, form=form, record_membrane=True, backend=backend)
    w, spikes = out.membrane, out.spikes
    if form == "library":
        hard = torch.maximum(torch.maximum(w.roll(1, -1), w), w.roll(-1, -1))
        soft = (torch.logit(spikes.clamp(1e-300, 1 - 1e-16)) * eps)  # the spike reads LSE(W)
        near = spikes.sub(0.5).abs() < 0.49  # where the logit is well conditioned
        gap = (soft - hard)[near]
        assert near.any() and gap.min() >= -1e-6 and gap.max() <= eps * math.log(3) + 1e-6
    else:
        state = torch.cat([torch.zeros(1, 3, 7, dtype=torch.float64), w[:-1] * (1 - spikes[:-1])])
        hard = torch.maximum(torch.maximum(state.roll(1, -1), tau * state), state.roll(-1, -1)) + x
        gap = w - hard
        assert gap.min() >= -1e-12 and gap.max() <= eps * math.log(3) + 1e-12


@needs_native
@pytest.mark.parametrize("kind,form", FORMS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_storage_computes_in_float32(kind, form, dtype):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(20, 2, 6, generator=gen).to(dtype)
    got = call(kind, form, x, backend="cpp")
    want = call(kind, form, x.float(), backend="torch")
    assert got.spikes.dtype == dtype
    torch.testing.assert_close(got.spikes.float(), want.spikes, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind,form", FORMS)
def test_gradcheck(backend, kind, form):
    # The soft spike is smooth, so finite differences apply to every output, spikes included.
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(5)
    # T > 32 crosses a checkpoint boundary of the native temporal kernel; the reference has none.
    T, B, N = (8 if backend == "torch" else 34), 2, 4
    x = (torch.randn(T, B, N, generator=gen, dtype=torch.float64) * 1.5).to(device).requires_grad_()
    v0 = (torch.randn(B, N, generator=gen, dtype=torch.float64) * 0.3).to(device).requires_grad_()
    tau = torch.tensor([0.6, 0.7, 0.8, 0.9], dtype=torch.float64, device=device).requires_grad_()
    eps = torch.tensor(0.7, dtype=torch.float64, device=device).requires_grad_()
    theta = torch.tensor([0.1, -0.2, 0.0, 0.3], dtype=torch.float64, device=device).requires_grad_()

    def fn(x, v0, tau, eps, theta):
        out = call(kind, form, x, v0, tau=tau, eps=eps, theta=theta, record_membrane=True, backend=backend)
        return out.spikes, out.state, out.membrane

    assert torch.autograd.gradcheck(fn, (x, v0, tau, eps, theta), eps=1e-6, atol=1e-6, rtol=1e-5)


@needs_native
@pytest.mark.parametrize("kind,form", FORMS)
def test_state_continues_the_sequence(kind, form):
    x = torch.randn(50, 2, 5, dtype=torch.float64)
    whole = call(kind, form, x, backend="cpp")
    first = call(kind, form, x[:20], backend="cpp")
    second = call(kind, form, x[20:], first.state, backend="cpp")
    torch.testing.assert_close(torch.cat([first.spikes, second.spikes]), whole.spikes, rtol=0, atol=0)
    torch.testing.assert_close(second.state, whole.state, rtol=0, atol=0)


# ---- opcheck ----------------------------------------------------------------------------------

DEVICES = [d for _, d in NATIVE]


def ultra_params(device, acc, per_neuron, N):
    n = N if per_neuron else 1
    return (torch.full((n,), math.log(0.9), device=device, dtype=acc).requires_grad_(),
            torch.full((n,), 0.8, device=device, dtype=acc).requires_grad_(),
            torch.full((n,), 0.1, device=device, dtype=acc).requires_grad_())


@needs_native
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("record", [False, True])
def test_opcheck_ultralif(device, dtype, record):
    from neurosim.core.models import ULTRALIF

    acc = dtype
    x = torch.randn(37, 2, 5, device=device, dtype=dtype).requires_grad_()
    v0 = torch.zeros(1, 2, 5, device=device, dtype=acc).requires_grad_()
    params = list(ultra_params(device, acc, record, 5))
    args = (x, v0, params, ULTRALIF.code, 0, 0, 0.0, True, record)
    torch.library.opcheck(torch.ops.neurosim.scan_forward.default, args)
    _, _, checkpoints, _ = torch.ops.neurosim.scan_forward(*args)
    grads = (torch.randn_like(x), torch.randn_like(v0) if record else None,
             torch.randn(1, *x.shape, device=device, dtype=dtype) if record else None)
    torch.library.opcheck(torch.ops.neurosim.scan_backward.default,
                          (*grads, x.detach(), checkpoints.detach(), [p.detach() for p in params], [True] * 5,
                           ULTRALIF.code, 0, 0, 0.0, True))


@needs_native
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("form", [0, 1])
def test_opcheck_ultradlif(device, dtype, form):
    x = torch.randn(9, 2, 5, device=device, dtype=dtype).requires_grad_()
    v0 = torch.zeros(2, 5, device=device, dtype=dtype).requires_grad_()
    _, eps, theta = ultra_params(device, dtype, form == 1, 5)
    tau = torch.full((1,), 0.9, device=device, dtype=dtype).requires_grad_()
    torch.library.opcheck(torch.ops.neurosim.ultradlif_forward.default, (x, v0, tau, eps, theta, form))
    _, _, membrane = torch.ops.neurosim.ultradlif_forward(x, v0, tau, eps, theta, form)
    torch.library.opcheck(torch.ops.neurosim.ultradlif_backward.default,
                          (torch.randn_like(x), torch.randn_like(v0), None, x.detach(), v0.detach(), membrane.detach(),
                           tau.detach(), eps.detach(), theta.detach(), form))


# ---- numerics ---------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind,form", FORMS)
@pytest.mark.parametrize("eps", [1e-4, 1e-2, 20.0])
def test_finite_at_tiny_eps_and_huge_input(backend, kind, form, eps):
    gen = torch.Generator().manual_seed(7)
    x = (torch.randn(12, 3, 6, generator=gen) * 1e4).requires_grad_()
    e = torch.tensor(eps, requires_grad=True)
    tau = torch.tensor(0.9, requires_grad=True)
    out = call(kind, form, x, tau=tau, eps=e, record_membrane=True, backend=backend)
    (out.spikes.sum() + out.state.sum() + out.membrane.sum()).backward()
    for name, t in (("spikes", out.spikes), ("state", out.state), ("membrane", out.membrane),
                    ("grad x", x.grad), ("grad eps", e.grad), ("grad tau", tau.grad)):
        assert torch.isfinite(t).all(), name
    assert ((out.spikes >= 0) & (out.spikes <= 1)).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_tropical_limit(backend):
    # As eps -> 0 each step tends to the max-plus LIF: V' = max(V + log tau, I) with a hard
    # threshold, within eps log 2 per step (float64).
    eps, tau, theta = 1e-3, 0.9, 0.0
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(60, 4, 8, generator=gen, dtype=torch.float64)
    out = ultralif(x, tau=tau, eps=eps, theta=theta, record_membrane=True, backend=backend)
    membrane, spikes = out.membrane, out.spikes
    state_before = torch.cat([torch.zeros(1, 4, 8, dtype=torch.float64), membrane[:-1] * (1 - spikes[:-1])])
    tropical = torch.maximum(state_before + math.log(tau), x)
    gap = membrane - tropical
    assert gap.min() >= -1e-12 and gap.max() <= eps * math.log(2) + 1e-12
    margin = (membrane - theta).abs()
    far = margin > 50 * eps  # away from the threshold the soft spike is the Heaviside spike
    assert far.float().mean() > 0.9
    hard = (membrane > theta).double()
    assert (spikes[far] - hard[far]).abs().max() <= 1 / (1 + math.exp(50))


# ---- the authors' formulas as scalars ---------------------------------------------------------

def scalar_ultralif(x, tau, eps, theta):
    """UltraLIF of the authors' library, one neuron at a time with Python floats."""
    T, B, N = len(x), len(x[0]), len(x[0][0])
    out = [[[0.0] * N for _ in range(B)] for _ in range(T)]
    for b in range(B):
        for i in range(N):
            v = 0.0
            for t in range(T):
                a, c = v + math.log(tau), x[t][b][i]
                m = max(a, c)
                v = m + eps * math.log(math.exp((a - m) / eps) + math.exp((c - m) / eps))
                s = 1 / (1 + math.exp(-(v - theta) / eps))
                v = v * (1 - s)
                out[t][b][i] = s
    return out


def scalar_ultradlif(x, tau, eps, theta, form):
    """UltraDLIF: library form (W = tau V + I, ring soft max read by the spike) or the ablation
    form (W = LSE(V_{i-1}, tau V_i, V_{i+1}) + I), one element at a time with Python floats."""
    def lse(values):
        m = max(values)
        return m + eps * math.log(sum(math.exp((a - m) / eps) for a in values))

    T, B, N = len(x), len(x[0]), len(x[0][0])
    out = [[[0.0] * N for _ in range(B)] for _ in range(T)]
    for b in range(B):
        v = [0.0] * N
        for t in range(T):
            if form == "library":
                w = [tau * v[i] + x[t][b][i] for i in range(N)]
                read = [lse([w[i - 1], w[i], w[(i + 1) % N]]) for i in range(N)]
            else:
                w = [lse([v[i - 1], tau * v[i], v[(i + 1) % N]]) + x[t][b][i] for i in range(N)]
                read = w
            s = [1 / (1 + math.exp(-(read[i] - theta) / eps)) for i in range(N)]
            v = [w[i] * (1 - s[i]) for i in range(N)]
            out[t][b] = s
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind,form", FORMS)
def test_matches_scalar_transcription_of_the_authors_formulas(backend, kind, form):
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(15, 2, 5, generator=gen, dtype=torch.float64) * 2
    tau, eps, theta = 0.85, 0.6, (1.0 if form == "ablation" else 0.0)
    if kind == "ultralif":
        want = scalar_ultralif(x.tolist(), tau, eps, theta)
    else:
        want = scalar_ultradlif(x.tolist(), tau, eps, theta, form)
    got = call(kind, form, x, tau=tau, eps=eps, theta=theta, backend=backend).spikes
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64), rtol=1e-12, atol=1e-12)


# ---- modules ----------------------------------------------------------------------------------

def test_ultradlif_and_ultradplif_agree_at_t1_from_rest():
    # In the library form tau multiplies V = 0 at the first step, so the leak cannot matter.
    torch.manual_seed(0)
    x = torch.randn(1, 8, 16)
    a = neurosim.UltraDLIF(tau=0.9)(x)
    b = neurosim.UltraDPLIF(tau=0.3)(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    later = torch.randn(3, 8, 16)
    assert not torch.equal(neurosim.UltraDLIF(tau=0.9)(later), neurosim.UltraDPLIF(tau=0.3)(later))


def test_module_learns_eps_and_tau_and_clamps_them():
    layer = neurosim.UltraPLIF(tau=0.9, eps=1.0)
    names = {n for n, _ in layer.named_parameters()}
    assert names == {"log_eps", "tau_param"}
    x = torch.randn(10, 4, 6)
    layer(x).sum().backward()
    assert layer.log_eps.grad is not None and layer.log_eps.grad.abs() > 0
    assert layer.tau_param.grad is not None and layer.tau_param.grad.abs() > 0
    with torch.no_grad():
        layer.log_eps.fill_(math.log(1e-3))
        layer.tau_param.fill_(5.0)
    assert layer.eps.item() == pytest.approx(0.1)
    assert layer.tau.item() == pytest.approx(0.99)
    fixed = neurosim.UltraLIF(eps=1e-3, learn_eps=False)
    assert list(fixed.parameters()) == [] and fixed.eps.item() == pytest.approx(1e-3)


def test_module_matches_functional_and_per_neuron_eps():
    x = torch.randn(12, 3, 5)
    eps = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0])
    layer = neurosim.UltraLIF(tau=0.8, eps=eps, theta=0.2, return_state=True)
    assert layer.log_eps.shape == (5,)
    got = layer(x)
    want = ultralif(x, tau=0.8, eps=eps, theta=0.2, backend="torch")
    torch.testing.assert_close(got.spikes, want.spikes, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.state, want.state, rtol=1e-5, atol=1e-6)
    ring = neurosim.UltraDLIF(form="ablation", theta=1.0, record_membrane=True)
    assert ring.tau is None
    out = ring(x)
    want = ultradlif(x, tau=None, form="ablation", theta=1.0, record_membrane=True, backend="torch")
    torch.testing.assert_close(out.membrane, want.membrane, rtol=1e-5, atol=1e-5)


def test_sparsity_penalty_and_energy_proxy():
    layers = [torch.full((4, 2, 3), 0.2), torch.full((4, 2, 7), 0.6)]
    assert mean_spike_rate(layers).item() == pytest.approx(0.4)
    assert sparsity_penalty(layers, lam=0.1).item() == pytest.approx(0.04)
    assert energy_proxy(layers) == pytest.approx(0.8)
    s = torch.rand(5, 2, 3, requires_grad=True)
    sparsity_penalty(s, lam=0.5).backward()
    torch.testing.assert_close(s.grad, torch.full_like(s, 0.5 / s.numel()))


# ---- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(eps=0.0), "eps"),
    (dict(eps=-1.0), "eps"),
    (dict(eps=torch.tensor([1.0, float("nan"), 1.0, 1.0, 1.0])), "eps"),
    (dict(tau=1.0), "tau"),
    (dict(tau=0.0), "tau"),
    (dict(tau=1.5), "tau"),
    (dict(tau=float("nan")), "tau"),
    (dict(theta=float("inf")), "theta"),
    (dict(eps=1e-39), "eps"),  # 1/eps would overflow float32
    (dict(backend="gpu"), "backend"),
])
@pytest.mark.parametrize("kind,form", FORMS)
def test_bad_parameters_name_the_argument(kind, form, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(kind, form, torch.randn(3, 2, 5), **kwargs)


def test_bad_shapes_and_options():
    with pytest.raises(ValueError, match="at least 3 features"):
        ultradlif(torch.randn(3, 2, 2))
    with pytest.raises(ValueError, match="form"):
        ultradlif(torch.randn(3, 2, 5), form="spatial")
    with pytest.raises(ValueError, match="tau"):
        ultradlif(torch.randn(3, 2, 5), tau=None)
    with pytest.raises(TypeError, match="x"):
        ultralif(torch.ones(3, 2, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="state"):
        ultralif(torch.randn(3, 2, 5), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="eps_range"):
        neurosim.UltraLIF(eps_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="eps"):
        neurosim.UltraLIF(eps=50.0)  # a learned eps starts inside eps_range
    with pytest.raises(ValueError, match="tau"):
        neurosim.UltraPLIF(tau=1.0)
    with pytest.raises(ValueError, match="form"):
        neurosim.UltraDLIF(form="b")
    with pytest.raises(ValueError, match="tau"):
        neurosim.UltraDLIF(form="ablation", tau=0.5)  # that form has no leak


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_element_parameters_keep_the_shape_of_x(backend):
    x = torch.randn(3, 2, 5)
    for kind, form in FORMS:
        out = call(kind, form, x, eps=torch.ones(1, 1, 1), theta=torch.zeros(1, 1), backend=backend)
        assert out.spikes.shape == x.shape and out.state.shape == x.shape[1:]


INF = float("inf")


@needs_native
@pytest.mark.parametrize("backend", [b for b, _ in NATIVE])
@pytest.mark.parametrize("values", [[1.0, INF, 0.5, 2.0], [1.0, -INF, 0.5, 2.0], [INF, INF, 1.0, -INF],
                                    [-INF, -INF, 1.0, 0.5], [INF, 1.0, INF, -INF], [float("nan"), INF, 1.0, 2.0]])
def test_infinite_input_agrees_with_the_reference(backend, values):
    """LSE with an infinite term is that term (+inf spikes 1; the reference's shift by its own peak
    made it inf - inf = NaN while the kernels gave 1), in the two-term soft max of UltraLIF and the
    three-term one of UltraDLIF, both forms; what follows (NaN from inf * 0) agrees too, and a NaN
    term (a NaN state meeting an infinite input) keeps the value NaN."""
    device = "cuda" if backend == "cuda" else "cpu"
    x = torch.tensor(values)
    over_time = x.reshape(4, 1, 1).to(device)
    mine, ref = ultralif(over_time, backend=backend), ultralif(over_time.cpu(), backend="torch")
    torch.testing.assert_close(mine.spikes.cpu(), ref.spikes, equal_nan=True)
    torch.testing.assert_close(mine.state.cpu(), ref.state, equal_nan=True)
    on_ring = x.reshape(1, 1, 4).to(device)
    for form in ("library", "ablation"):
        mine, ref = ultradlif(on_ring, form=form, backend=backend), ultradlif(on_ring.cpu(), form=form, backend="torch")
        torch.testing.assert_close(mine.spikes.cpu(), ref.spikes, equal_nan=True, msg=form)
