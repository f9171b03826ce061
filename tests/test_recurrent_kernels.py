"""The CPU twin's dense recurrent backward at sizes that reach every code path of its two products:
dL/ds_{t-1} = g_t W (tiles of 16/8/4/2/1 batch rows over packed column blocks, then single
columns) and the weight gradient dW = sum_t g_t^T s_{t-1} (built from the nonzero spikes in chunks
of 128 rows, column blocks, vector-wide and single columns). Sizes are odd on purpose: n = 83 and
B = 21 are multiples of no vector width or tile, and T * B = 231 rows make a full and a partial chunk.

Checked on every CPU instruction-set level the build holds: against a dense float64 reference, and
level against level (both products sum in a fixed order without FMA, so every level gives the same
bits)."""

import pytest
import torch
from conftest import needs_native

import neurosim
from neurosim.core.recurrent_op import CELLS

pytestmark = [needs_native, pytest.mark.usefixtures("one_thread")]

T, B, N = 11, 21, 83
FAST_SIGMOID, SUBTRACT = 0, 0


def _levels():
    if "cpp" not in neurosim.backends():
        return []
    info = neurosim.build_info()
    order = ["baseline", "avx2", "avx512"]
    supported = order.index(info["cpu_isa_supported"]) if info.get("cpu_isa_supported") in order else 0
    return [lvl for lvl in order if lvl in (info.get("cpu_isas") or [info["cpu_isa"]]) and order.index(lvl) <= supported]


LEVELS = _levels()


@pytest.fixture
def restore_isa():
    level = neurosim.build_info()["cpu_isa"]
    yield
    neurosim.core.set_cpu_isa(level)


def _sparse(shape, rate, gen, dtype):
    """Mostly zeros; the rest are not 0/1 (graded values, some negative), so a kernel that keeps
    only the positions of the nonzeros, or assumes they are 1, fails."""
    mask = torch.rand(shape, generator=gen) < rate
    values = torch.randn(shape, generator=gen) * 1.5
    return torch.where(mask, values, torch.zeros(())).to(dtype)


def _inputs(dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    spikes = _sparse((T, B, N), 0.12, gen, dtype)
    spikes[3] = 0  # a whole step without spikes
    spikes[:, :, 7] = 0  # a neuron that never fires
    spikes[5, 2] = torch.randn(N, generator=gen).to(dtype)  # a row without zeros
    state0 = torch.stack([_sparse((B, N), 0.3, gen, dtype), torch.randn(B, N, generator=gen).to(dtype) * 0.5])
    trace = (torch.randn(1, T, B, N, generator=gen) * 0.6 + 0.8).to(dtype)  # membranes near the threshold
    params = torch.stack([torch.full((N,), 0.9), torch.full((N,), 1.0)]).to(dtype)
    weight = (torch.randn(N, N, generator=gen) / N**0.5).to(dtype)
    grad_spikes = torch.randn(T, B, N, generator=gen).to(dtype)
    return grad_spikes, spikes, trace, state0, params, weight


def _backward(grad_spikes, spikes, trace, state0, params, weight):
    return torch.ops.neurosim.recurrent_backward(grad_spikes, None, None, spikes, trace, state0, params, weight,
                                                 None, CELLS["lif"], SUBTRACT, FAST_SIGMOID, 25.0, True, True)


def _dense_weight_grad(grad_x, spikes, s0):
    """dL/dW[o, j] = sum over t, b of g_t[b, o] s_{t-1}[b, j], in float64."""
    g = grad_x.double()
    s_prev = torch.cat([s0.double().unsqueeze(0), spikes[:-1].double()])
    return torch.einsum("tbo,tbj->oj", g, s_prev)


def _dense_grad_x(grad_spikes, spikes, trace, state0, params, weight):
    """The same backward written densely in float64: per step back, the surrogate-weighted drive
    gradient g_t, then dL/ds_{t-1} = g_t W. LIF with a subtractive, detached reset:
    mem_t = beta mem_{t-1} + x_t + rec_t - s_{t-1} thr, s_t = H(mem_t - thr)."""
    gs, mem = grad_spikes.double(), trace[0].double()  # detached reset: the spikes carry no gradient
    beta, thr, w = params[0].double(), params[1].double(), weight.double()
    grad_x = torch.empty_like(gs)
    grad_rec = torch.zeros(B, N, dtype=torch.float64)
    carry = torch.zeros(B, N, dtype=torch.float64)  # dL/dmem_t from step t + 1
    for t in range(T - 1, -1, -1):
        u = mem[t] - thr
        surrogate = 1.0 / (1.0 + 25.0 * u.abs()) ** 2
        g = (gs[t] + grad_rec) * surrogate + carry
        grad_x[t] = g
        grad_rec = g @ w
        carry = g * beta
    return grad_x


def test_weight_gradient_matches_dense_float64_on_every_level(restore_isa):
    results = {}
    for level in LEVELS:
        neurosim.core.set_cpu_isa(level)
        for dtype in (torch.float32, torch.float64):
            grad_spikes, spikes, trace, state0, params, weight = _inputs(dtype)
            grad_x, _, _, _, grad_weight = _backward(grad_spikes, spikes, trace, state0, params, weight)
            expected = _dense_weight_grad(grad_x, spikes, state0[0])
            tol = dict(rtol=1e-5, atol=1e-5 * expected.abs().max().item()) if dtype == torch.float32 else \
                dict(rtol=1e-12, atol=1e-12 * expected.abs().max().item())
            torch.testing.assert_close(grad_weight.double(), expected, **tol, msg=lambda m: f"{level} {dtype}: {m}")
            results[level, dtype] = grad_x, grad_weight
    for dtype in (torch.float32, torch.float64):
        first = results[LEVELS[0], dtype]
        for level in LEVELS[1:]:
            for a, b in zip(results[level, dtype], first):
                assert torch.equal(a, b), f"{level} differs from {LEVELS[0]} in {dtype}"


def test_gradient_through_the_recurrence_matches_dense_float64_on_every_level(restore_isa):
    grad_spikes, spikes, trace, state0, params, weight = _inputs(torch.float64, seed=1)
    expected = _dense_grad_x(grad_spikes, spikes, trace, state0, params, weight)
    for level in LEVELS:
        neurosim.core.set_cpu_isa(level)
        for dtype in (torch.float32, torch.float64):
            args = [a.to(dtype) for a in (grad_spikes, spikes, trace, state0, params, weight)]
            grad_x = _backward(*args)[0]
            tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-11, atol=1e-12)
            torch.testing.assert_close(grad_x.double(), expected, **tol, msg=lambda m: f"{level} {dtype}: {m}")


def test_layer_at_odd_sizes_matches_the_reference_backend():
    """End to end through RLIF's autograd (float64): the native layer's gradients in x, the
    weights, the bias and the initial state equal the PyTorch reference's."""
    gen = torch.Generator().manual_seed(2)
    x = (torch.randn(T, B, N, generator=gen, dtype=torch.float64) * 0.6 + 0.3).requires_grad_()
    weight = (torch.randn(N, N, generator=gen, dtype=torch.float64) / N**0.5).requires_grad_()
    bias = (torch.randn(N, generator=gen, dtype=torch.float64) * 0.1).requires_grad_()
    spk0 = (torch.rand(B, N, generator=gen) < 0.2).double().requires_grad_()
    mem0 = (torch.randn(B, N, generator=gen, dtype=torch.float64) * 0.4).requires_grad_()
    w_out = torch.randn(T, B, N, generator=gen, dtype=torch.float64)
    grads = []
    for backend in ("torch", "cpp"):
        out = neurosim.functional.rlif(x, neurosim.functional.RLIFState(spk0, mem0), weight=weight, bias=bias,
                                       beta=0.9, threshold=1.0, surrogate="fast_sigmoid", record_membrane=True,
                                       backend=backend)
        loss = (out.spikes * w_out).sum() + 0.1 * (out.membrane * w_out.flip(0)).sum()
        assert 0.05 < out.spikes.mean().item() < 0.5
        grads.append(torch.autograd.grad(loss, [x, weight, bias, spk0, mem0]))
    for name, a, b in zip(["x", "weight", "bias", "spk0", "mem0"], *grads):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10, msg=lambda m: f"{name}: {m}")


def test_outputs_large_enough_to_be_prefaulted_are_right():
    """Outputs of 4 MB and more (spikes, trace, grad_x) are mapped in one madvise call before the
    kernels write them: the values must be those of the PyTorch reference all the same, in a fresh
    call and in a second one that may reuse freed memory."""
    gen = torch.Generator().manual_seed(3)
    steps, batch, n = 260, 8, 512  # 260 * 8 * 512 float32 = 4.3 MB per [T, B, n] tensor
    x = (torch.randn(steps, batch, n, generator=gen) * 0.5 + 0.2).requires_grad_()
    weight = torch.randn(n, n, generator=gen) / n**0.5
    results = []
    for backend in ("torch", "cpp", "cpp"):
        out = neurosim.functional.rlif(x, weight=weight, beta=0.9, surrogate="fast_sigmoid", record_membrane=True,
                                       backend=backend)
        (grad,) = torch.autograd.grad(out.spikes.sum() + out.membrane.sum(), x)
        results.append((out.spikes, out.membrane, grad))
    ref = results[0]
    assert 0.02 < ref[0].mean().item() < 0.5
    for spikes, membrane, grad in results[1:]:
        assert torch.equal(spikes, ref[0]) and torch.equal(membrane, ref[1])
        torch.testing.assert_close(grad, ref[2], rtol=1e-4, atol=1e-5)
