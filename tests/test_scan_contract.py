"""The op contract of every neuron of the generic scan, parametrised over the neuron registry.

Each model on each native backend against its pure-PyTorch reference (outputs, every state
variable and trace, gradients w.r.t. input, state and every parameter, per-layer and per-neuron
parameters in every broadcastable shape), gradcheck in float64, opcheck, torch.compile(fullgraph),
streaming == one call, 16-bit storage, non-contiguous input, bad input, and the CUDA kernel's
code path run on the CPU. A new neuron gets all of it by adding its row to ROWS.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, NamedTuple

import pytest
import torch
from conftest import NATIVE, assert_compile_matches_eager, needs_native, take_gpu_path
from torch.utils._python_dispatch import TorchDispatchMode

import neurosim
from neurosim.core import SCAN_MODELS
from neurosim.neurons.registry import NEURONS


class Row(NamedTuple):
    """How to call one neuron uniformly: ``split(result) -> (out, state tuple, traces or None)``."""

    params: Dict[str, float]           # example value of every parameter
    split: Callable
    exact: bool = True                  # outputs bit-identical to the reference (no transcendental math)
    recordable: bool = True
    smooth_output: bool = False         # gradcheck may use the output itself (no Heaviside)
    options: Dict = {}


ROWS = {
    "lif": Row({"beta": 0.85, "threshold": 0.9}, lambda r: (r.spikes, (r.state,), (r.membrane,))),
    "synaptic": Row({"alpha": 0.7, "beta": 0.85, "threshold": 0.9},
                    lambda r: (r.spikes, tuple(r.state), (r.syn, r.membrane))),
    "alif": Row({"beta": 0.85, "rho": 0.9, "gamma": 0.6, "threshold": 0.9},
                lambda r: (r.spikes, tuple(r.state), (r.membrane, r.adaptation))),
    "li": Row({"beta": 0.85}, lambda r: (r.output, (r.state,), None), recordable=False, smooth_output=True),
    "ultralif": Row({"tau": 0.85, "eps": 0.7, "theta": 0.3}, lambda r: (r.spikes, (r.state,), (r.membrane,)),
                    exact=False, smooth_output=True),
}
SCAN_NEURONS = sorted(name for name, spec in NEURONS.items() if spec.scan_model is not None and name in ROWS)
BACKENDS = [b for b, _ in NATIVE]


def test_every_scan_model_has_a_row():
    models = {NEURONS[n].scan_model for n in SCAN_NEURONS}
    untimed = {name for name, model in SCAN_MODELS.items() if not model.timed}
    assert models == untimed, "add a row to ROWS for every model of the generic scan"
    # the timed (phased) models have their own contract suite, tests/test_phased_scan.py
    assert {name for name, model in SCAN_MODELS.items() if model.timed} == {
        f"phased_{n}" for n in ("lif", "synaptic", "alif", "li")}


def _call(name, x, state=None, params=None, backend="auto", record=True, **options):
    row = ROWS[name]
    kwargs = dict(row.params if params is None else params)
    if row.recordable:
        kwargs["record_membrane"] = record
    kwargs.update(options)
    return row.split(NEURONS[name].functional(x, state, backend=backend, **kwargs))


def _state_tuple(name, state):
    return state if len(SCAN_MODELS[NEURONS[name].scan_model].state) > 1 else state[0]


def _loss(out, state, traces, gen):
    """A fixed random linear loss of every output (so that every gradient path is exercised)."""
    total = 0
    for t in (out, *state, *(traces or ())):
        w = torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.device, t.dtype)
        total = total + (t * w).sum()
    return total


def _param_tensors(name, shape, dtype, device):
    return {k: torch.full(shape, v, dtype=dtype, device=device).requires_grad_()
            for k, v in ROWS[name].params.items()}


PARAM_SHAPES = {"layer": (), "neuron": (3, 4, 5), "channel": (3, 1, 1), "row": (4, 1), "last": (5,)}


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SCAN_NEURONS)
@pytest.mark.parametrize("shape", sorted(PARAM_SHAPES))
@pytest.mark.parametrize("gpu_path", [False, True])
def test_native_matches_reference(name, backend, shape, gpu_path, monkeypatch):
    take_gpu_path(monkeypatch, backend, gpu_path)
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(3)
    T, B = 70, 2  # three checkpoint chunks, the last one partial
    x = (torch.randn(T, B, 3, 4, 5, generator=gen) * 1.2).to(device)
    n_state = len(SCAN_MODELS[NEURONS[name].scan_model].state)
    state0 = tuple((torch.randn(B, 3, 4, 5, generator=gen) * 0.3).to(device) for _ in range(n_state))
    results = {}
    for b in (backend, "torch"):
        xs = x.clone().requires_grad_()
        ss = tuple(s.clone().requires_grad_() for s in state0)
        params = _param_tensors(name, PARAM_SHAPES[shape], torch.float32, device)
        out, state, traces = _call(name, xs, _state_tuple(name, ss), params, backend=b)
        _loss(out, state, traces, torch.Generator().manual_seed(5)).backward()
        grads = [xs.grad, *(s.grad for s in ss), *(p.grad for p in params.values())]
        results[b] = (out, state, traces, grads)
    got, want = results[backend], results["torch"]
    if ROWS[name].exact:
        torch.testing.assert_close(got[0], want[0], rtol=0, atol=0)
        for g, w in zip(got[1] + (got[2] or ()), want[1] + (want[2] or ())):
            torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)
    else:
        torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-6)
        for g, w in zip(got[1] + (got[2] or ()), want[1] + (want[2] or ())):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
    for g, w in zip(got[3], want[3]):
        assert g is not None and g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS + ["torch"])
@pytest.mark.parametrize("name", SCAN_NEURONS)
@pytest.mark.parametrize("per_neuron", [False, True])
def test_gradcheck_float64(name, backend, per_neuron):
    """Finite differences on what is piecewise smooth: traces and final state (and the output of
    models without a Heaviside), w.r.t. x, state and every parameter."""
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(11)
    T, B, N = 34, 2, 2  # T > 32 crosses a checkpoint
    x = (torch.randn(T, B, N, generator=gen, dtype=torch.float64) * 1.3).to(device).requires_grad_()
    n_state = len(SCAN_MODELS[NEURONS[name].scan_model].state)
    states = [(torch.randn(B, N, generator=gen, dtype=torch.float64) * 0.3).to(device).requires_grad_()
              for _ in range(n_state)]
    params = _param_tensors(name, (N,) if per_neuron else (), torch.float64, device)
    keys = list(params)

    def fn(x, *rest):
        ss, ps = rest[:n_state], dict(zip(keys, rest[n_state:]))
        out, state, traces = _call(name, x, _state_tuple(name, tuple(ss)), ps, backend=backend)
        smooth = (out,) if ROWS[name].smooth_output else ()
        return (*smooth, *state, *(traces or ()))

    assert torch.autograd.gradcheck(fn, (x, *states, *params.values()), eps=1e-7, atol=1e-6, rtol=1e-5,
                                    fast_mode=True)


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SCAN_NEURONS)
def test_opcheck(name, backend):
    device = "cuda" if backend == "cuda" else "cpu"
    model = SCAN_MODELS[NEURONS[name].scan_model]
    x = torch.randn(37, 2, 5, device=device).requires_grad_()
    state0 = torch.zeros(len(model.state), 2, 5, device=device).requires_grad_()
    params = [torch.full((5 if i % 2 else 1,), 0.8, device=device).requires_grad_() for i in range(len(model.params))]
    for record in (False, True):
        args = (x, state0, params, model.code, 0, 1, 2.0, False, record)
        torch.library.opcheck(torch.ops.neurosim.scan_forward.default, args)
    _, _, checkpoints, _ = torch.ops.neurosim.scan_forward(x.detach(), state0.detach(), [p.detach() for p in params],
                                                           model.code, 0, 1, 2.0, False, True)
    grad_trace = torch.randn(len(model.recorded), *x.shape, device=device) if model.recorded else None
    for needs in ([True] * (2 + len(params)), [False, True] + [i % 2 == 0 for i in range(len(params))]):
        torch.library.opcheck(torch.ops.neurosim.scan_backward.default,
                              (torch.randn_like(x), torch.randn_like(state0), grad_trace, x.detach(), checkpoints,
                               [p.detach() for p in params], needs, model.code, 0, 1, 2.0, False))


@needs_native
@pytest.mark.parametrize("name", SCAN_NEURONS)
def test_compile_fullgraph(name):
    torch._dynamo.reset()
    module = NEURONS[name].module(return_state=True)
    x = torch.randn(20, 2, 6, requires_grad=True)

    def step(x):
        result = module(x)
        out = result[0]
        return out.sum() + sum(s.sum() for s in (result.state if isinstance(result.state, tuple) else (result.state,)))

    assert_compile_matches_eager(step, x)


@needs_native
@pytest.mark.parametrize("name", SCAN_NEURONS)
def test_compile_dynamic_functional_with_number_parameters(name):
    """The functional form with its parameters as Python numbers (the defaults) under
    torch.compile(fullgraph=True, dynamic=True), where numbers may be traced symbolically: the
    argument checks must trace (math.isfinite did not) and the result is eager's."""
    torch._dynamo.reset()
    functional = NEURONS[name].functional
    x = torch.randn(20, 2, 6, requires_grad=True)

    def step(x):
        return functional(x)[0].sum()

    eager = step(x)
    got = torch.compile(step, fullgraph=True, backend="aot_eager", dynamic=True)(x)
    torch.testing.assert_close(got, eager)


@pytest.mark.parametrize("backend", BACKENDS + ["torch"])
@pytest.mark.parametrize("name", SCAN_NEURONS)
def test_streaming_equals_one_call(name, backend):
    device = "cuda" if backend == "cuda" else "cpu"
    x = torch.randn(75, 3, 7, generator=torch.Generator().manual_seed(2)).to(device) * 1.5
    whole = _call(name, x, backend=backend)
    first = _call(name, x[:40], backend=backend)
    second = _call(name, x[40:], _state_tuple(name, first[1]), backend=backend)
    torch.testing.assert_close(torch.cat([first[0], second[0]]), whole[0], rtol=0, atol=0)
    for a, b in zip(second[1], whole[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SCAN_NEURONS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_storage_computes_in_float32(name, backend, dtype):
    device = "cuda" if backend == "cuda" else "cpu"
    x = (torch.randn(40, 2, 9, generator=torch.Generator().manual_seed(4)) * 1.5).to(dtype).to(device)
    got = _call(name, x.requires_grad_(), backend=backend)
    want = _call(name, x.detach().float(), backend="torch")
    assert got[0].dtype == dtype and all(s.dtype == torch.float32 for s in got[1])
    torch.testing.assert_close(got[0].float(), want[0].to(dtype).float(), rtol=1e-2, atol=1e-2)
    for a, b in zip(got[1], want[1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    _loss(*got, torch.Generator().manual_seed(1)).backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()


LAYOUTS = {"even": (2, False), "odd": (3, False), "unaligned": (2, True)}  # batch size, rows off by one element


def _thread_body_run(name, dtype, layout, grad, gpu_path, monkeypatch):
    """One forward and backward on the CPU twin: its column blocks, or the CUDA kernel's thread
    body (one column per thread, two for 16-bit storage)."""
    monkeypatch.delenv("NEUROSIM_SCAN_GPU_PATH", raising=False)
    take_gpu_path(monkeypatch, "cpp", gpu_path)
    gen = torch.Generator().manual_seed(21)
    (B, shifted), T, F = LAYOUTS[layout], 70, 5
    flat = (torch.randn(T * B * F + 1, generator=gen) * 1.5).to(dtype)
    x = flat[1:] if shifted else flat[:-1]
    x = x.view(T, B, F).detach().requires_grad_()  # shifted: every row starts off a 4-byte boundary
    n_state = len(SCAN_MODELS[NEURONS[name].scan_model].state)
    states = tuple((torch.randn(B, F, generator=gen) * 0.3).requires_grad_() for _ in range(n_state))
    params = {k: (v.detach() * (1 + 0.05 * torch.randn(F, generator=gen))).clamp(0, 1).requires_grad_()
              for k, v in _param_tensors(name, (F,), torch.float32, "cpu").items()}
    out, state, traces = _call(name, x, _state_tuple(name, states), params, backend="cpp")
    if grad == "sum":  # the upstream gradient arrives expanded (strides 0)
        out.sum().backward()
    else:
        _loss(out, state, traces, torch.Generator().manual_seed(6)).backward()
    leaves = [x, *states, *params.values()]
    assert all(t.is_leaf and t.grad is not None for t in leaves)
    return [out, *state, *(traces or ())], [t.grad for t in leaves]


@needs_native
@pytest.mark.parametrize("name", SCAN_NEURONS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("grad", ["random", "sum"])
def test_gpu_thread_body_equals_the_cpu_blocks(name, dtype, layout, grad, monkeypatch):
    """The CUDA kernel's thread body (run on the CPU) gives the CPU blocks' results: with two
    columns per thread (16-bit storage) over an odd column count (a thread with one column),
    rows off a 4-byte boundary (lane-by-lane loads), per-neuron parameters whose pairs straddle
    two batch elements, and expanded upstream gradients."""
    blocks = _thread_body_run(name, dtype, layout, grad, False, monkeypatch)
    thread = _thread_body_run(name, dtype, layout, grad, True, monkeypatch)
    tol = {} if ROWS[name].exact else {"rtol": 1e-6, "atol": 1e-6}
    for group_blocks, group_thread in zip(blocks, thread):
        assert len(group_blocks) == len(group_thread)
        for a, b in zip(group_blocks, group_thread):
            assert a.dtype == b.dtype and a.shape == b.shape
            if tol:
                torch.testing.assert_close(b, a, **tol)
            else:
                assert torch.equal(a, b)
    assert 0 < float(blocks[0][0].detach().float().abs().sum())


@needs_native
@pytest.mark.parametrize("name", ["lif", "synaptic"])
def test_large_outputs_equal_the_reference(name):
    """Outputs, traces and input gradients of several MB (fresh pages from the system, more
    than one 1024-lane block per row) equal the reference's."""
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(40, 4, 7000, generator=gen) * 1.5  # 4.5 MB per [T, B, F] tensor
    results = []
    for backend in ("cpp", "torch"):
        xs = x.clone().requires_grad_()
        out, state, traces = _call(name, xs, backend=backend)
        _loss(out, state, traces, torch.Generator().manual_seed(2)).backward()
        results.append((out, state, traces, xs.grad))
    (out, state, traces, gx), (out_r, state_r, traces_r, gx_r) = results
    assert torch.equal(out, out_r) and 0 < float(out.detach().sum()) < out.numel()
    for a, b in zip(state + (traces or ()), state_r + (traces_r or ())):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gx, gx_r, rtol=1e-4, atol=1e-5)


@needs_native
@pytest.mark.parametrize("name", SCAN_NEURONS)
def test_non_contiguous_input_and_expanded_gradient(name):
    base = torch.randn(7, 30, 2, generator=torch.Generator().manual_seed(8)) * 1.5
    x = base.transpose(0, 1)  # [30, 7, 2], not contiguous
    got = _call(name, x.requires_grad_(), backend="cpp")
    want = _call(name, x.detach().contiguous(), backend="torch")
    torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-6)
    got[0].sum().backward()  # the gradient arrives expanded (all strides 0)
    xr = x.detach().contiguous().requires_grad_()
    _call(name, xr, backend="torch")[0].sum().backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-5, atol=1e-6)


class _OpSpy(TorchDispatchMode):
    """Records the arguments of every call of one neurosim op, from Python or C++."""

    def __init__(self, op_name):
        super().__init__()
        self.op_name, self.calls = op_name, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace == "neurosim" and func._opname == self.op_name:
            self.calls.append(args)
        return func(*args, **(kwargs or {}))


@needs_native
@pytest.mark.parametrize("name", SCAN_NEURONS)
def test_unneeded_gradients_are_not_computed(name):
    """Only the parameter asks for a gradient: x's and the state's are never materialised, and
    the parameter's gradient is still the reference's."""
    x = torch.randn(33, 2, 4, generator=torch.Generator().manual_seed(4)) * 1.5
    grads = {}
    for backend in ("cpp", "torch"):
        params = _param_tensors(name, (), torch.float32, "cpu")
        first = next(iter(params))
        for k, p in params.items():
            p.requires_grad_(k == first)
        out, state, traces = _call(name, x, None, params, backend=backend)
        # the autograd formula calls scan_backward from C++: a dispatch mode sees that call
        with _OpSpy("scan_backward") as spy:
            (out.float().sum() + state[0].sum()).backward()
        seen = [list(args[6]) for args in spy.calls]
        grads[backend] = params[first].grad
        if backend == "cpp":
            assert seen == [[False, False] + [k == first for k in params]]
    assert grads["cpp"] is not None and torch.isfinite(grads["cpp"]).all()
    torch.testing.assert_close(grads["cpp"], grads["torch"], rtol=1e-4, atol=1e-5)


def test_torch_backend_supports_double_backward():
    x = torch.randn(10, 2, 3, dtype=torch.float64, requires_grad=True)
    out = _call("li", x, backend="torch")[0]
    (g,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    assert torch.isfinite(gg).all() and gg.abs().sum() > 0


@needs_native
@pytest.mark.parametrize("name", SCAN_NEURONS)
def test_native_double_backward_raises_naming_torch(name):
    x = torch.randn(10, 2, 3, dtype=torch.float64, requires_grad=True)
    out, state, traces = _call(name, x, backend="cpp")
    with pytest.raises(RuntimeError, match="backend='torch'"):
        torch.autograd.grad((state[0] ** 2).sum(), x, create_graph=True)


# ---- bad input -------------------------------------------------------------------------------------

def _bad_calls(name):
    row = ROWS[name]
    first = next(iter(row.params))
    x = torch.rand(5, 2, 3)
    yield "no time axis", lambda: _call(name, torch.rand(3)), ValueError, "x"
    yield "T=0", lambda: _call(name, torch.rand(0, 2, 3)), ValueError, "x"
    yield "integer x", lambda: _call(name, torch.ones(5, 2, 3, dtype=torch.int64)), TypeError, "x"
    n_state = len(SCAN_MODELS[NEURONS[name].scan_model].state)
    bad_state = tuple(torch.zeros(2, 4) for _ in range(n_state))
    yield "state shape", lambda: _call(name, x, _state_tuple(name, bad_state)), ValueError, "state"
    nan_state = tuple(torch.full((2, 3), float("nan")) for _ in range(n_state))
    yield "state NaN", lambda: _call(name, x, _state_tuple(name, nan_state)), ValueError, "state"
    if n_state > 1:
        yield "one tensor for a tuple state", lambda: _call(name, x, torch.zeros(2, 3)), TypeError, "state"
    yield "param NaN", lambda: _call(name, x, params={**row.params, first: float("nan")}), ValueError, first
    yield "param inf tensor", lambda: _call(name, x, params={**row.params, first: torch.full((3,), math.inf)}), \
        ValueError, first
    yield "param bad shape", lambda: _call(name, x, params={**row.params, first: torch.full((4,), 0.5)}), \
        ValueError, first
    decays = [p.name for p in SCAN_MODELS[NEURONS[name].scan_model].params if p.high == 1.0]
    for d in decays:
        yield f"{d} > 1", lambda d=d: _call(name, x, params={**row.params, d: 1.5}), ValueError, d
        yield f"{d} < 0", lambda d=d: _call(name, x, params={**row.params, d: -0.1}), ValueError, d
    if "reset" in NEURONS[name].functional.__code__.co_varnames:
        yield "reset name", lambda: _call(name, x, reset="soft"), ValueError, "reset"
        yield "surrogate name", lambda: _call(name, x, surrogate="nope"), ValueError, "surrogate"
    yield "backend name", lambda: _call(name, x, backend="gpu"), ValueError, "backend"
    # NIR's terms (neurosim.functional.drive): the options are checked like the parameters
    varnames = NEURONS[name].functional.__code__.co_varnames
    for option in ("input_scale", "v_leak"):
        if option in varnames:
            kw = {"reset": "zero", "reset_delay": False} if "reset_delay" in varnames else {}
            yield f"{option} NaN", lambda o=option, kw=kw: _call(name, x, **kw, **{o: float("nan")}), ValueError, option
            yield f"{option} bad shape", lambda o=option, kw=kw: _call(name, x, **kw, **{o: torch.ones(4)}), \
                ValueError, option
    if "reset_delay" in varnames:
        yield "reset_delay not a bool", lambda: _call(name, x, reset="zero", reset_delay=0), TypeError, "reset_delay"
        yield "undelayed subtract", lambda: _call(name, x, reset="subtract", reset_delay=False), ValueError, \
            "reset_delay"
        yield "v_reset without the zero reset", lambda: _call(name, x, reset="subtract", v_reset=0.1), ValueError, \
            "v_reset"


@pytest.mark.parametrize("name", SCAN_NEURONS)
def test_bad_input_is_named(name):
    for label, call, exc, words in _bad_calls(name):
        with pytest.raises(exc, match=words):
            call()


@pytest.mark.parametrize("name", SCAN_NEURONS)
def test_module_shell(name):
    spec = NEURONS[name]
    module = spec.module(**ROWS[name].params, return_state=True)
    x = torch.rand(12, 2, 3)
    result = module(x)
    direct = _call(name, x, record=False)
    torch.testing.assert_close(result[0], direct[0])
    torch.testing.assert_close(tuple(result.state) if isinstance(result.state, tuple) else (result.state,), direct[1])
    assert spec.params and all(hasattr(module, p) or hasattr(type(module), p) for p in spec.params)
    plain = spec.module()
    assert plain(x).shape == x.shape
    assert name in neurosim.models.available_neurons()


@needs_native
def test_native_sizes_match_the_python_descriptions():
    from neurosim import _C

    assert _C.CHECKPOINT_EVERY == neurosim.core.temporal.CHECKPOINT_EVERY
    for name, model in SCAN_MODELS.items():
        code, n_params, n_state, n_recorded, timed = _C.SCAN_MODELS[name]
        assert (n_params, n_state, n_recorded, timed) == (len(model.params), len(model.state), len(model.recorded),
                                                          model.timed)
        assert model.code == code
