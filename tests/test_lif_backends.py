"""Every native backend against the pure-PyTorch reference: spikes identical, membrane within
1e-6 relative in float32, gradients for x, state, beta and threshold."""

import pytest
import torch
from conftest import NATIVE, loss_weights, needs_native, run_lif
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neurosim

SURROGATES = ["fast_sigmoid", "atan", "sigmoid", "triangle", "triangular", "straight_through"]
RESETS = ["subtract", "zero", "none"]


def assert_grads_close(got, want, rtol):
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if g is None:
            continue
        assert g.shape == w.shape and g.dtype == w.dtype
        scale = w.abs().max().clamp_min(1e-6)
        err = (g - w).abs().max() / scale
        assert err <= rtol, f"relative gradient error {err:.3g} > {rtol}"


@st.composite
def lif_cases(draw):
    steps = draw(st.integers(1, 70))  # crosses the 32-step checkpoint boundary
    batch = draw(st.integers(1, 3))
    features = tuple(draw(st.lists(st.integers(1, 5), min_size=0, max_size=2)))
    return dict(
        shape=(steps, batch, *features),
        reset=draw(st.sampled_from(RESETS)),
        surrogate=draw(st.sampled_from(SURROGATES)),
        detach_reset=draw(st.booleans()),
        per_neuron=draw(st.booleans()) and len(features) > 0,
        layout=draw(st.sampled_from(["contiguous", "transposed", "sliced"])),
        dtype=draw(st.sampled_from([torch.float32, torch.float64])),
        scale=draw(st.floats(0.3, 3.0)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def make_input(shape, layout, dtype, scale, gen, device):
    if layout == "transposed" and len(shape) >= 2:
        base = torch.randn((shape[1], shape[0], *shape[2:]), generator=gen, dtype=dtype) * scale
        x = base.transpose(0, 1)
    elif layout == "sliced":
        base = torch.randn((shape[0], shape[1], *shape[2:], 2), generator=gen, dtype=dtype) * scale
        x = base[..., 0]
    else:
        x = torch.randn(shape, generator=gen, dtype=dtype) * scale
    return x.to(device).requires_grad_()


@needs_native
@pytest.mark.parametrize("backend,device", NATIVE)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=lif_cases())
def test_native_matches_reference(backend, device, case):
    gen = torch.Generator().manual_seed(case["seed"])
    dtype = case["dtype"]
    x = make_input(case["shape"], case["layout"], dtype, case["scale"], gen, device)
    feat = case["shape"][2:]
    state = (torch.randn(case["shape"][1:], generator=gen, dtype=dtype) * 0.5).to(device).requires_grad_()
    if case["per_neuron"]:
        beta = (torch.rand(feat, generator=gen, dtype=dtype) * 0.98 + 0.01).to(device).requires_grad_()
        threshold = (torch.rand(feat, generator=gen, dtype=dtype) + 0.5).to(device).requires_grad_()
    else:
        beta = torch.tensor(0.85, dtype=dtype, device=device, requires_grad=True)
        threshold = torch.tensor(0.9, dtype=dtype, device=device, requires_grad=True)
    kwargs = dict(beta=beta, threshold=threshold, reset=case["reset"], surrogate=case["surrogate"],
                  detach_reset=case["detach_reset"])
    weights = loss_weights(x, acc=dtype, seed=case["seed"])
    out_ref, g_ref = run_lif(x, state, "torch", weights=weights, **kwargs)
    out_nat, g_nat = run_lif(x, state, backend, weights=weights, **kwargs)

    assert torch.equal(out_nat.spikes, out_ref.spikes)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out_nat.membrane, out_ref.membrane, rtol=tol, atol=tol)
    torch.testing.assert_close(out_nat.state, out_ref.state, rtol=tol, atol=tol)
    # Without a detached reset the backward recurrence can grow geometrically; compare relative
    # to the largest gradient, with float32 rounding accumulated over T steps.
    assert_grads_close(g_nat, g_ref, rtol=2e-4 if dtype == torch.float32 else 1e-9)


@needs_native
@pytest.mark.parametrize("backend,device", NATIVE)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_io_uses_float32_math(backend, device, dtype):
    gen = torch.Generator().manual_seed(3)
    x32 = torch.randn(40, 3, 16, generator=gen) * 1.5
    x = x32.to(dtype).to(device).requires_grad_()
    weights = loss_weights(x, acc=torch.float32)
    out_ref, g_ref = run_lif(x, None, "torch", weights=weights)
    out_nat, g_nat = run_lif(x, None, backend, weights=weights)
    assert out_nat.spikes.dtype == dtype and out_nat.state.dtype == torch.float32
    assert torch.equal(out_nat.spikes, out_ref.spikes)
    torch.testing.assert_close(out_nat.state, out_ref.state, rtol=1e-6, atol=1e-6)
    # dx is rounded to the input dtype at every step on both sides; compare at that precision.
    torch.testing.assert_close(g_nat[0].float(), g_ref[0].float(), rtol=2e-2, atol=2e-2)


@needs_native
def test_only_state_used_gives_gradients():
    x = (torch.randn(33, 2, 4) * 2).requires_grad_()
    grads = []
    for backend in ("torch", "cpp"):
        x.grad = None
        out = neurosim.functional.lif(x, backend=backend)
        out.state.sum().backward()
        grads.append(x.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=1e-6)


@needs_native
def test_expanded_upstream_gradient_is_not_materialised_but_correct():
    x = (torch.randn(50, 4, 8) * 2).requires_grad_()
    out = neurosim.functional.lif(x, backend="cpp").spikes
    g = torch.full((), 0.5).expand_as(out)
    (gx,) = torch.autograd.grad(out, x, g)
    (gx_ref,) = torch.autograd.grad(neurosim.functional.lif(x, backend="torch").spikes, x, g.contiguous())
    torch.testing.assert_close(gx, gx_ref, rtol=1e-6, atol=1e-6)


@needs_native
def test_training_saves_no_extra_sequence_tensor():
    """The backward keeps x (an input it needs) and O(T/32) checkpoints, not a [T, B, N] trace."""
    T, B, N = 256, 4, 64
    x = torch.randn(T, B, N).requires_grad_()
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        neurosim.functional.lif(x, backend="cpp").spikes.sum()
    big = [t for t in saved if t.numel() >= T * B * N // 4]
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr()
    extra = sum(t.numel() for t in saved if t.data_ptr() != x.data_ptr())
    assert extra <= (T // 32 + 1) * B * N + 2 * N
