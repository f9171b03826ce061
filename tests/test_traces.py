"""The exponential-trace op: native backends vs the pure-PyTorch reference (values and gradients),
gradcheck in float64, opcheck of the native ops, streaming state, bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim
from neurosim.core.event_op import event_matmul_reference
from neurosim.functional import exp_trace

NATIVE = [b for b in neurosim.backends() if b != "torch"]
needs_native = pytest.mark.skipif(not NATIVE, reason="neurosim native extension not built")
DEVICE = {"cpp": "cpu", "cuda": "cuda"}


def _inputs(T, B, F, dtype, seed, per_feature):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, F, generator=g) < 0.3).to(dtype) + 0.1 * torch.randn(T, B, F, generator=g).to(dtype)
    state = torch.randn(B, F, generator=g, dtype=torch.float64)
    decay = torch.rand(F, generator=g, dtype=torch.float64) if per_feature else 0.83
    return x, state, decay


@needs_native
@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("reverse", [False, True])
@settings(max_examples=15, deadline=None)
@given(T=st.integers(1, 40), B=st.integers(1, 3), F=st.integers(1, 1100), per_feature=st.booleans(),
       seed=st.integers(0, 2**16))
def test_backend_matches_reference(backend, reverse, T, B, F, per_feature, seed):
    # F up to 1100 crosses the CPU twin's 1024-lane blocks, its 16-lane blocks and single columns.
    device = DEVICE[backend]
    x, state, decay = _inputs(T, B, F, torch.float32, seed, per_feature)
    x, state = x.to(device), state.float().to(device)
    if per_feature:
        decay = decay.float().to(device)
    got = exp_trace(x, state, decay=decay, reverse=reverse, backend=backend)
    want = exp_trace(x, state, decay=decay, reverse=reverse, backend="torch")
    torch.testing.assert_close(got.trace, want.trace, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.state, want.state, rtol=1e-5, atol=1e-5)


@needs_native
@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("per_feature", [False, True])
def test_gradients_match_reference(backend, reverse, per_feature):
    device = DEVICE[backend]
    x, state, decay = _inputs(23, 2, 5, torch.float64, 3, per_feature)
    decay = torch.as_tensor(decay, dtype=torch.float64)
    weights = torch.randn(23, 2, 5, dtype=torch.float64)
    results = []
    for name in (backend, "torch"):
        leaves = [t.clone().to(device).requires_grad_() for t in (x, state, decay)]
        out = exp_trace(leaves[0], leaves[1], decay=leaves[2], reverse=reverse, backend=name)
        ((out.trace * weights.to(device)).sum() + out.state.square().sum()).backward()
        results.append([t.grad for t in leaves])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want)


@needs_native
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_native_op(reverse):
    x = torch.randn(9, 2, 4, dtype=torch.float64, requires_grad=True)
    z0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    for decay in (torch.full((4,), 0.7, dtype=torch.float64), torch.tensor([0.6], dtype=torch.float64)):
        decay.requires_grad_()
        assert torch.autograd.gradcheck(lambda a, b, c: torch.ops.neurosim.exp_trace(a, b, c, reverse), (x, z0, decay))


@needs_native
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_exp_trace(reverse, dtype):
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    x = torch.randn(11, 3, 6, dtype=dtype, requires_grad=True)
    z0 = torch.randn(3, 6, dtype=acc, requires_grad=True)
    decay = torch.full((6,), 0.9, dtype=acc, requires_grad=True)
    torch.library.opcheck(torch.ops.neurosim.exp_trace.default, (x, z0, decay, reverse))


@needs_native
def test_opcheck_and_values_event_matmul():
    g = torch.Generator().manual_seed(1)
    events = (torch.rand(37, 9, generator=g) < 0.2).double() * torch.randn(37, 9, generator=g, dtype=torch.float64)
    dense = torch.randn(37, 300, generator=g, dtype=torch.float64)
    torch.library.opcheck(torch.ops.neurosim.event_matmul.default, (events, dense, 0.5))
    got = torch.ops.neurosim.event_matmul(events, dense, 0.5)
    torch.testing.assert_close(got, event_matmul_reference(events, dense, 0.5))
    assert got.abs().sum() > 0


@needs_native
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_storage(dtype):
    x, state, _ = _inputs(30, 2, 40, torch.float32, 5, False)
    got = exp_trace(x.to(dtype), decay=0.9, backend="cpp")
    want = exp_trace(x.to(dtype), decay=0.9, backend="torch")  # same rounded input, float32 state
    assert got.trace.dtype == dtype and got.state.dtype == torch.float32
    torch.testing.assert_close(got.trace, want.trace, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(got.state, want.state, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", neurosim.backends())
def test_known_answer_single_spike(backend):
    x = torch.zeros(6, 1, 1)
    x[2] = 1.0
    fwd = exp_trace(x, decay=0.5, backend=backend).trace.flatten()
    torch.testing.assert_close(fwd, torch.tensor([0, 0, 1, 0.5, 0.25, 0.125]))
    rev = exp_trace(x, decay=0.5, reverse=True, backend=backend).trace.flatten()
    torch.testing.assert_close(rev, torch.tensor([0.25, 0.5, 1, 0, 0, 0]))


@pytest.mark.parametrize("backend", neurosim.backends())
def test_streaming_in_pieces_equals_one_call(backend):
    x, _, _ = _inputs(40, 2, 7, torch.float32, 9, False)
    whole = exp_trace(x, decay=0.8, backend=backend)
    first = exp_trace(x[:17], decay=0.8, backend=backend)
    second = exp_trace(x[17:], first.state, decay=0.8, backend=backend)
    torch.testing.assert_close(torch.cat([first.trace, second.trace]), whole.trace)
    torch.testing.assert_close(second.state, whole.state)


def test_bad_input_errors():
    x = torch.rand(5, 2, 3)
    with pytest.raises(ValueError, match="decay"):
        exp_trace(x, decay=1.5)
    with pytest.raises(ValueError, match="decay"):
        exp_trace(x, decay=torch.tensor([0.5, float("nan"), 0.5]))
    with pytest.raises(ValueError, match="decay"):
        exp_trace(x, decay=torch.full((4,), 0.5))
    with pytest.raises(ValueError, match="state"):
        exp_trace(x, torch.zeros(3, 2), decay=0.5)
    with pytest.raises(TypeError, match="x"):
        exp_trace(x.long(), decay=0.5)
    with pytest.raises(TypeError, match="reverse"):
        exp_trace(x, decay=0.5, reverse=1)
    with pytest.raises(ValueError, match="backend"):
        exp_trace(x, decay=0.5, backend="gpu")


@needs_native
@pytest.mark.parametrize("reverse", [False, True])
def test_wide_layers_match_reference(reverse):
    # 9001 columns: more than one 4096-column run per CPU thread, plus an odd tail.
    x, state, decay = _inputs(6, 3, 3001, torch.float32, 11, True)
    got = exp_trace(x, state.float(), decay=decay.float(), reverse=reverse, backend="cpp")
    want = exp_trace(x, state.float(), decay=decay.float(), reverse=reverse, backend="torch")
    torch.testing.assert_close(got.trace, want.trace)
    torch.testing.assert_close(got.state, want.state)


@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stdp_rows_op_matches_reference_and_opcheck(dtype):
    from neurosim.core.trace_reference import stdp_rows_reference

    post, _, _ = _inputs(33, 2, 1500, dtype, 12, False)  # 3000 columns: several runs per thread
    got = torch.ops.neurosim.stdp_rows(post, 0.9, 0.7, 0.4)
    want = stdp_rows_reference(post, 0.9, 0.7, 0.4)
    torch.testing.assert_close(got, want)
    torch.library.opcheck(torch.ops.neurosim.stdp_rows.default, (post[:, :, :20].contiguous(), 0.9, 0.7, 0.4))
