"""The op contract of the phased neurons fused into the generic scan (phased_lif, phased_synaptic,
phased_alif, phased_li; cuda_kernels/include/neurosim/phased.h): native against the reference
(outputs, states, traces, gradients w.r.t. x, state, the neuron's parameters and the gate's tau,
shift, r_on and leak), gradcheck in float64, opcheck, torch.compile(fullgraph), streaming with
absolute timestamps, the gate always open equals the plain neuron bit for bit, the module's fused
path equals its step-by-step reference path, and bad input."""

from __future__ import annotations

import pytest
import torch
from conftest import NATIVE, assert_compile_matches_eager, needs_native, take_gpu_path

import neurosim
from neurosim.core.models import PHASED_MODELS
from neurosim.functional import phased_scan

BACKENDS = [b for b, _ in NATIVE]
NEURON_PARAMS = {
    "lif": {"beta": 0.85, "threshold": 0.9},
    "synaptic": {"alpha": 0.7, "beta": 0.85, "threshold": 0.9},
    "alif": {"beta": 0.85, "rho": 0.9, "gamma": 0.6, "threshold": 0.9},
    "li": {"beta": 0.85},
}
PLAIN = {"lif": neurosim.functional.lif, "synaptic": neurosim.functional.synaptic,
         "alif": neurosim.functional.alif, "li": neurosim.functional.li}
NAMES = sorted(NEURON_PARAMS)


def _gate(features, dtype, device, gen, requires_grad=True):
    tau = torch.exp(torch.empty(features, dtype=torch.float64).uniform_(0.7, 2.5, generator=gen))
    shift = torch.rand(features, generator=gen, dtype=torch.float64) * tau
    r_on = torch.empty(features, dtype=torch.float64).uniform_(0.2, 0.9, generator=gen)
    leak = torch.full((), 1e-3, dtype=torch.float64)
    return {k: v.to(device, dtype).requires_grad_(requires_grad)
            for k, v in (("tau", tau), ("shift", shift), ("r_on", r_on), ("leak", leak))}


def _times(steps, batch, gen, dtype=torch.float32, per_sample=True):
    dt = torch.rand(steps, batch if per_sample else 1, generator=gen, dtype=torch.float64) * 1.5
    t = torch.cumsum(dt, 0) - 3.0  # negative timestamps too: the floor modulus
    return (t if per_sample else t[:, 0]).to(dtype)


def _run(name, x, times, state, gate, neuron_params, backend, record=True, **options):
    return phased_scan(x, times, state, neuron=name, neuron_params=neuron_params, record=record, backend=backend,
                       **gate, **options)


def _loss(result, gen):
    total = 0
    for t in (result.output, *result.state, *(result.recorded or ())):
        w = torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.device, t.dtype)
        total = total + (t * w).sum()
    return total


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("per_sample", [True, False])
@pytest.mark.parametrize("gpu_path", [False, True])
def test_native_matches_reference(name, backend, per_sample, gpu_path, monkeypatch):
    take_gpu_path(monkeypatch, backend, gpu_path)
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(3)
    T, B, F = 70, 2, (3, 4)  # three checkpoint chunks, the last one partial
    x = (torch.randn(T, B, *F, generator=gen) * 1.2 + 0.3).to(device)
    times = _times(T, B, gen, per_sample=per_sample).to(device)
    n_state = len(PHASED_MODELS[name].state)
    state0 = tuple((torch.randn(B, *F, generator=gen) * 0.3).to(device) for _ in range(n_state))
    gate0 = _gate(F, torch.float32, device, gen)
    results = {}
    for b in (backend, "torch"):
        xs = x.clone().requires_grad_()
        ss = tuple(s.clone().requires_grad_() for s in state0)
        gate = {k: v.detach().clone().requires_grad_() for k, v in gate0.items()}
        params = {k: torch.tensor(v, device=device).requires_grad_() for k, v in NEURON_PARAMS[name].items()}
        result = _run(name, xs, times, ss if n_state > 1 else ss[0], gate, params, b)
        _loss(result, torch.Generator().manual_seed(5)).backward()
        grads = [xs.grad, *(s.grad for s in ss), *(p.grad for p in params.values()), *(g.grad for g in gate.values())]
        results[b] = (result, grads)
    (got, g_got), (want, g_want) = results[backend], results["torch"]
    if name != "li":
        assert 0 < float(got.output.detach().sum()) < got.output.numel()
    torch.testing.assert_close(got.output, want.output, rtol=0, atol=0)
    for a, b in zip(got.state + (got.recorded or ()), want.state + (want.recorded or ())):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    for a, b in zip(g_got, g_want):
        assert a is not None and a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@needs_native
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_gpu_thread_body_equals_the_cpu_blocks(name, dtype, monkeypatch):
    """The CUDA kernel's thread body run on the CPU (two columns per thread for 16-bit storage)
    gives the CPU blocks' results bit for bit, with per-sample timestamps and an odd feature count,
    so that a thread's two columns often belong to two batch elements, and an odd column count."""
    T, B, F = 70, 3, (3, 5)
    runs = []
    for gpu_path in (False, True):
        monkeypatch.delenv("NEUROSIM_SCAN_GPU_PATH", raising=False)
        take_gpu_path(monkeypatch, "cpp", gpu_path)
        gen = torch.Generator().manual_seed(9)
        x = (torch.randn(T, B, *F, generator=gen) * 1.2 + 0.3).to(dtype).requires_grad_()
        times = _times(T, B, gen)
        n_state = len(PHASED_MODELS[name].state)
        states = tuple((torch.randn(B, *F, generator=gen) * 0.3).requires_grad_() for _ in range(n_state))
        gate = _gate(F, torch.float32, "cpu", gen)
        params = {k: torch.tensor(v).requires_grad_() for k, v in NEURON_PARAMS[name].items()}
        result = _run(name, x, times, states if n_state > 1 else states[0], gate, params, "cpp")
        _loss(result, torch.Generator().manual_seed(5)).backward()
        outputs = [result.output, *result.state, *(result.recorded or ())]
        runs.append((outputs, [t.grad for t in (x, *states, *params.values(), *gate.values())]))
    (blocks, g_blocks), (thread, g_thread) = runs
    assert 0 < float(blocks[0].detach().float().abs().sum())
    for a, b in zip(blocks + g_blocks, thread + g_thread):
        assert a is not None and a.dtype == b.dtype
        assert torch.equal(a, b)


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gpu_path", [False, True])
def test_native_gate_is_time_gate_bit_for_bit_at_near_multiples(backend, gpu_path, monkeypatch):
    """One step of a phased LI from rest with x = 1 and beta = 0 leaves exactly k in the state
    (k*1 + (1 - k)*0), so the scan's own gate can be read out and compared with time_gate's
    (torch.remainder) bitwise: timestamps at, just above and just below multiples of tau after
    the shift (negative ones included), and far-out ones. Enough columns for wide, narrow and
    single-column blocks, with per-sample timestamps changing inside the blocks."""
    take_gpu_path(monkeypatch, backend, gpu_path)
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(11)
    B, F = 24, 300  # 7200 columns: seven 1024-lane blocks, then narrow blocks and single columns
    tau = torch.exp(torch.empty(F).uniform_(-3, 5, generator=gen))
    shift = (torch.rand(F, generator=gen) * 2 - 1) * tau * 3
    r_on = torch.empty(F).uniform_(0.05, 1.0, generator=gen)
    for trial in range(4):
        # per sample: a multiple of one unit's tau after that unit's shift
        unit = torch.randint(0, F, (B,), generator=gen)
        t = torch.randint(-400, 400, (B,), generator=gen).float() * tau[unit] + shift[unit]
        if trial == 1:
            t = torch.nextafter(t, torch.full_like(t, float("inf")))
        elif trial == 2:
            t = torch.nextafter(t, torch.full_like(t, float("-inf")))
        elif trial == 3:
            t = (torch.rand(B, generator=gen) * 2 - 1) * 1e4
        want = neurosim.functional.time_gate(t, tau, shift, r_on, alpha=1e-3)  # [B, F]
        result = phased_scan(torch.ones(1, B, F, device=device), t.unsqueeze(0).to(device),
                             torch.zeros(B, F, device=device), neuron="li", neuron_params={"beta": 0.0},
                             tau=tau.to(device), shift=shift.to(device), r_on=r_on.to(device), leak=1e-3,
                             backend=backend)
        got = result.state[0] if isinstance(result.state, tuple) else result.state
        assert torch.equal(got.cpu(), want), f"trial {trial}: {int((got.cpu() != want).sum())} gates differ"


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gpu_path", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("scale", [2e9, 1e20])
def test_native_gate_far_from_the_shift_is_time_gate(backend, gpu_path, dtype, scale, monkeypatch):
    """Timestamps far from the shift (|t - shift| / tau up to about 1e10 for epoch seconds, 1e22
    beyond): the phase is still torch.remainder's bit for bit and the gate stays in [0, 1]. (The
    float quotient lost integers past 2^24 and the native gate reached -1e6.) float16 storage runs
    the baseline CPU copy, which has no FMA instruction."""
    take_gpu_path(monkeypatch, backend, gpu_path)
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(5)
    B, F = 8, 130
    tau = torch.exp(torch.empty(F).uniform_(-3, 3, generator=gen))
    shift = torch.rand(F, generator=gen) * tau
    r_on = torch.empty(F).uniform_(0.05, 1.0, generator=gen)
    t = (torch.rand(B, generator=gen) * 2 - 1) * scale
    want = neurosim.functional.time_gate(t, tau, shift, r_on, alpha=1e-3)
    assert bool(((want >= 0) & (want <= 1)).all())
    result = phased_scan(torch.ones(1, B, F, device=device, dtype=dtype), t.unsqueeze(0).to(device),
                         torch.zeros(B, F, device=device), neuron="li", neuron_params={"beta": 0.0},
                         tau=tau.to(device), shift=shift.to(device), r_on=r_on.to(device), leak=1e-3,
                         backend=backend)
    got = (result.state[0] if isinstance(result.state, tuple) else result.state).cpu()
    assert torch.equal(got, want), f"{int((got != want).sum())} gates differ, min {got.min()}, max {got.max()}"


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gpu_path", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_native_gate_with_near_and_far_timestamps_in_one_call(backend, gpu_path, dtype, monkeypatch):
    """The CPU blocks take float's floor modulus while every lane's quotient |t - shift| / tau is
    below 2^22 and double's for a block where one is not: batch elements near the shift, around
    the switch (quotients 2^14 .. 2^23) and far from it (epoch seconds) in one call, in blocks of
    their own and sharing blocks, over enough steps for the time tiles. Every step's state is the
    reference's bit for bit, and so are the gradients of the gate's parameters."""
    take_gpu_path(monkeypatch, backend, gpu_path)
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(9)
    T, F = 11, 700
    starts = torch.tensor([0.0, 4e5, -2e9, 3.5, 1.7e9, -4e5])  # 6 batch elements: blocks of 1024 columns mix them
    B = starts.numel()
    times = starts + torch.cumsum(torch.rand(T, B, generator=gen) * 2, 0)
    tau = torch.exp(torch.empty(F).uniform_(-3, 3, generator=gen))
    shift = torch.rand(F, generator=gen) * tau
    r_on = torch.empty(F).uniform_(0.05, 1.0, generator=gen)
    x = (torch.randn(T, B, F, generator=gen) * 0.6 + 0.4).to(dtype)
    results = []
    for run_backend in (backend, "torch"):
        gate = [v.clone().to(device).requires_grad_() for v in (tau, shift, r_on)]
        result = phased_scan(x.to(device), times.to(device), neuron="lif", neuron_params={"beta": 0.9, "threshold": 1.0},
                             tau=gate[0], shift=gate[1], r_on=gate[2], leak=1e-3, record=True, backend=run_backend)
        (result.recorded[0].float() * torch.linspace(-1, 1, F, device=device)).sum().backward()
        results.append((result.recorded[0].cpu(), [g.grad.cpu() for g in gate]))
    (got, got_grads), (want, want_grads) = results
    assert torch.equal(got, want), f"{int((got != want).sum())} states differ"
    for name, g, w in zip(("tau", "shift", "r_on"), got_grads, want_grads):
        # tau's gradient sums terms of size |t - shift| / tau^2 (1e10 here) in another order: relative
        torch.testing.assert_close(g, w, rtol=1e-3, atol=1e-3, msg=lambda m, name=name: f"{name}: {m}")


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_storage_computes_in_float32(name, backend, dtype):
    """16-bit input and output, float32 state and gate: the same states as the float32 reference
    on the same (rounded) input, outputs within the storage's rounding, finite 16-bit gradients."""
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(6)
    T, B, F = 45, 3, 5
    x = (torch.randn(T, B, F, generator=gen) * 1.2 + 0.3).to(dtype).to(device)
    times = _times(T, B, gen).to(device)
    gate = _gate((F,), torch.float32, device, gen, requires_grad=False)
    params = {k: torch.tensor(v, device=device) for k, v in NEURON_PARAMS[name].items()}
    got = _run(name, x.clone().requires_grad_(), times, None, gate, params, backend, record=False)
    want = _run(name, x.float(), times, None, gate, params, "torch", record=False)
    assert got.output.dtype == dtype and all(s.dtype == torch.float32 for s in got.state)
    torch.testing.assert_close(got.output.float(), want.output.to(dtype).float(), rtol=1e-2, atol=1e-2)
    for a, b in zip(got.state, want.state):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    xg = x.clone().requires_grad_()
    out = _run(name, xg, times, None, gate, params, backend, record=False)
    (out.output.float() * torch.linspace(-1, 1, F, device=device)).sum().backward()
    assert xg.grad.dtype == dtype and torch.isfinite(xg.grad.float()).all() and xg.grad.float().abs().sum() > 0


@pytest.mark.parametrize("backend", BACKENDS + ["torch"])
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name, backend):
    """Finite differences w.r.t. x, state, the neuron's parameters and tau, shift, r_on, leak on the
    traces and final state (piecewise smooth; spikes are Heaviside)."""
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(11)
    T, B, N = 34, 2, 3
    x = (torch.randn(T, B, N, generator=gen, dtype=torch.float64) * 1.3).to(device).requires_grad_()
    times = _times(T, B, gen, torch.float64).to(device)
    n_state = len(PHASED_MODELS[name].state)
    states = [(torch.randn(B, N, generator=gen, dtype=torch.float64) * 0.3).to(device).requires_grad_()
              for _ in range(n_state)]
    gate = _gate((N,), torch.float64, device, gen)
    gate["leak"] = torch.full((), 0.05, dtype=torch.float64, device=device, requires_grad=True)
    params = {k: torch.full((N,), v, dtype=torch.float64, device=device, requires_grad=True)
              for k, v in NEURON_PARAMS[name].items()}
    keys, gkeys = list(params), list(gate)

    def fn(x, *rest):
        ss = rest[:n_state]
        ps = dict(zip(keys, rest[n_state:n_state + len(keys)]))
        gs = dict(zip(gkeys, rest[n_state + len(keys):]))
        r = _run(name, x, times, tuple(ss) if n_state > 1 else ss[0], gs, ps, backend)
        return (*r.state, *(r.recorded or ()), *((r.output,) if name == "li" else ()))

    assert torch.autograd.gradcheck(fn, (x, *states, *params.values(), *gate.values()), eps=1e-7, atol=1e-6,
                                    rtol=1e-5, fast_mode=True)


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_opcheck(name, backend):
    device = "cuda" if backend == "cuda" else "cpu"
    model = PHASED_MODELS[name]
    x = torch.randn(37, 2, 5, device=device).requires_grad_()
    state0 = torch.zeros(len(model.state), 2, 5, device=device).requires_grad_()
    values = {"tau": 2.5, "shift": 0.3, "r_on": 0.4, "leak": 0.01}
    params = [torch.full((5 if i % 2 else 1,), values.get(p.name, 0.8), device=device).requires_grad_()
              for i, p in enumerate(model.params)]
    for times in (torch.arange(37.0, device=device), torch.rand(37, 2, device=device).cumsum(0)):
        for record in (False, True):
            args = (x, state0, params, model.code, 0, 1, 2.0, False, record, times)
            torch.library.opcheck(torch.ops.neurosim.scan_forward.default, args)
        _, _, checkpoints, _ = torch.ops.neurosim.scan_forward(
            x.detach(), state0.detach(), [p.detach() for p in params], model.code, 0, 1, 2.0, False, True, times)
        grad_trace = torch.randn(len(model.recorded), *x.shape, device=device) if model.recorded else None
        for needs in ([True] * (2 + len(params)), [False, True] + [i % 2 == 0 for i in range(len(params))]):
            torch.library.opcheck(torch.ops.neurosim.scan_backward.default,
                                  (torch.randn_like(x), torch.randn_like(state0), grad_trace, x.detach(), checkpoints,
                                   [p.detach() for p in params], needs, model.code, 0, 1, 2.0, False, times))


@needs_native
def test_native_op_refuses_missing_or_unwanted_timestamps():
    x = torch.randn(5, 2, 3)
    state0 = torch.zeros(1, 2, 3)
    lif_params = [torch.full((1,), 0.9), torch.full((1,), 1.0)]
    phased = PHASED_MODELS["lif"]
    with pytest.raises(RuntimeError, match="timestamps"):
        torch.ops.neurosim.scan_forward(x, state0, lif_params + [torch.ones(1)] * 4, phased.code, 0, 1, 2.0, True,
                                        False)
    with pytest.raises(RuntimeError, match="timestamps"):
        torch.ops.neurosim.scan_forward(x, state0, lif_params, neurosim.core.SCAN_MODELS["lif"].code, 0, 1, 2.0,
                                        True, False, torch.arange(5.0))


@needs_native
@pytest.mark.parametrize("name", ["lif", "alif"])
def test_compile_fullgraph(name):
    torch._dynamo.reset()
    neuron = {"lif": neurosim.LIF(), "alif": neurosim.ALIF()}[name]
    module = neurosim.Phased(neuron, 6, r_on=0.5, return_state=True)
    x = torch.randn(20, 2, 6, requires_grad=True)
    times = torch.rand(20, 2).cumsum(0)

    def step(x):
        out, state = module(x, times)
        return out.sum() + sum(s.sum() for s in (state if isinstance(state, tuple) else (state,)))

    assert_compile_matches_eager(step, x)


@pytest.mark.parametrize("backend", BACKENDS + ["torch"])
@pytest.mark.parametrize("name", NAMES)
def test_streaming_with_absolute_timestamps_equals_one_call(name, backend):
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(2)
    x = (torch.randn(75, 3, 7, generator=gen) * 1.5).to(device)
    times = _times(75, 3, gen).to(device)
    gate = _gate((7,), torch.float32, device, gen, requires_grad=False)
    params = NEURON_PARAMS[name]
    whole = _run(name, x, times, None, gate, params, backend)
    first = _run(name, x[:40], times[:40], None, gate, params, backend)
    state = first.state if len(first.state) > 1 else first.state[0]
    second = _run(name, x[40:], times[40:], state, gate, params, backend)
    torch.testing.assert_close(torch.cat([first.output, second.output]), whole.output, rtol=0, atol=0)
    for a, b in zip(second.state, whole.state):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS + ["torch"])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_gate_always_open_equals_the_plain_neuron_bit_for_bit(name, backend, reset):
    """Integer timestamps, tau = 1, shift = 0.5, r_on = 1: phi = 0.5 and k = 1 at every step."""
    if name == "li" and reset != "subtract":
        pytest.skip("LI has no reset")
    gen = torch.Generator().manual_seed(4)
    x = (torch.randn(50, 3, 16, generator=gen) * 0.8 + 0.3).requires_grad_()
    params = dict(NEURON_PARAMS[name])
    params["beta"] = torch.rand(16, generator=gen) * 0.5 + 0.45
    options = {} if name == "li" else {"reset": reset}
    plain = PLAIN[name](x, backend=backend, **params, **options)
    gate = {"tau": 1.0, "shift": 0.5, "r_on": 1.0, "leak": 0.3}
    phased = _run(name, x, torch.arange(50.0), None, gate, params, backend, record=False, **options)
    out = plain[0]
    state = tuple(plain.state) if isinstance(plain.state, tuple) else (plain.state,)
    if name != "li":
        assert float(out.detach().sum()) > 10
    assert torch.equal(phased.output, out)
    assert all(torch.equal(a, b) for a, b in zip(phased.state, state))
    w = torch.randn(out.shape, generator=gen)
    (g_plain,) = torch.autograd.grad((out * w).sum(), x)
    (g_phased,) = torch.autograd.grad((phased.output * w).sum(), x)
    torch.testing.assert_close(g_phased, g_plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lif", "synaptic"])
def test_module_fused_path_equals_its_step_by_step_reference_path(name):
    torch.manual_seed(7)
    neuron = {"lif": lambda: neurosim.LIF(beta=0.85, threshold=0.6),
              "synaptic": lambda: neurosim.Synaptic(alpha=0.7, beta=0.85, threshold=0.6)}[name]
    fused = neurosim.Phased(neuron(), 10, r_on=0.4, period_range=(2.0, 9.0), return_state=True)
    reference = neurosim.Phased(neuron(), 10, r_on=0.4, return_state=True, backend="torch")
    reference.load_state_dict(fused.state_dict())
    x = torch.rand(60, 3, 10) * 0.8
    times = torch.rand(60, 3).mul(1.3).cumsum(0)
    outs = {}
    for label, module in (("fused", fused), ("reference", reference)):
        xs = x.clone().requires_grad_()
        spikes, state = module(xs, times)
        state = state if isinstance(state, tuple) else (state,)
        (spikes.sum() + sum(s.sum() for s in state)).backward()
        outs[label] = (spikes, state, xs.grad, [p.grad.clone() for p in module.gate.parameters()])
        module.zero_grad()
    (s_f, st_f, gx_f, gp_f), (s_r, st_r, gx_r, gp_r) = outs["fused"], outs["reference"]
    assert float(s_f.sum()) > 0
    assert torch.equal(s_f, s_r)
    for a, b in zip(st_f + (gx_f, *gp_f), st_r + (gx_r, *gp_r)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@needs_native
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("gpu_path", [False, True])
def test_lengths_fused_equal_the_step_by_step_path(name, gpu_path, monkeypatch):
    """Padded batches on the fused scan (padding steps carry NaN timestamps inside, the gate shut):
    the same spikes and states as the module's step-by-step path, which masks the gate (k*0,
    closed), gradients equal for x, the state and the gate; past its length a sequence keeps its
    state exactly and emits nothing, and a sequence cut at its length gives the same final state."""
    take_gpu_path(monkeypatch, gpu_path=gpu_path)
    torch.manual_seed(8)
    neuron = {"lif": lambda: neurosim.LIF(beta=0.9, threshold=0.5),
              "synaptic": lambda: neurosim.Synaptic(alpha=0.7, beta=0.85, threshold=0.5),
              "alif": lambda: neurosim.ALIF(beta=0.9, threshold=0.5),
              "li": lambda: neurosim.LI(beta=0.9)}[name]
    fused = neurosim.Phased(neuron(), 5, r_on=0.5, period_range=(1.5, 6.0), return_state=True)
    reference = neurosim.Phased(neuron(), 5, r_on=0.5, return_state=True, backend="torch")
    reference.load_state_dict(fused.state_dict())
    x = torch.rand(45, 3, 5) * 1.2
    lengths = torch.tensor([45, 12, 33])
    for times in (torch.rand(45, 3).cumsum(0), torch.rand(45).cumsum(0)):  # per sample, shared
        outs = {}
        for label, module in (("fused", fused), ("reference", reference)):
            xs = x.clone().requires_grad_()
            out, state = module(xs, times, lengths=lengths)
            state = state if isinstance(state, tuple) else (state,)
            (out.sum() + sum(s.sum() for s in state)).backward()
            outs[label] = (out, state, xs.grad, [p.grad.clone() for p in module.gate.parameters()])
            module.zero_grad()
        (o_f, st_f, gx_f, gp_f), (o_r, st_r, gx_r, gp_r) = outs["fused"], outs["reference"]
        assert torch.equal(o_f, o_r)
        if name != "li":
            assert float(o_f.sum()) > 0 and float(o_f[12:, 1].abs().sum()) == 0
        assert float(gx_f[12:, 1].abs().sum()) == 0  # padding input reaches nothing
        for a, b in zip(st_f + (gx_f, *gp_f), st_r + (gx_r, *gp_r)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        t_short = times[:12, 1:2] if times.dim() == 2 else times[:12]
        _, short = fused(x[:12, 1:2], t_short)
        short = short if isinstance(short, tuple) else (short,)
        for a, b in zip(st_f, short):
            assert torch.equal(a[1:2], b)


@needs_native
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_functional_lengths_native_matches_reference(name, backend):
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(9)
    T, B, F = 40, 3, (2, 3)
    x = (torch.randn(T, B, *F, generator=gen) * 1.2 + 0.3).to(device)
    times = _times(T, B, gen).to(device)
    lengths = torch.tensor([40, 7, 33], device=device)
    gate0 = _gate(F, torch.float32, device, gen)
    results = {}
    for b in (backend, "torch"):
        xs = x.clone().requires_grad_()
        gate = {k: v.detach().clone().requires_grad_() for k, v in gate0.items()}
        params = {k: torch.tensor(v, device=device) for k, v in NEURON_PARAMS[name].items()}
        result = phased_scan(xs, times, None, neuron=name, neuron_params=params, record=True, backend=b,
                             lengths=lengths, **gate)
        _loss(result, torch.Generator().manual_seed(5)).backward()
        results[b] = (result, [xs.grad, *(g.grad for g in gate.values())])
    (got, g_got), (want, g_want) = results[backend], results["torch"]
    torch.testing.assert_close(got.output, want.output, rtol=0, atol=0)
    for a, b in zip(got.state + (got.recorded or ()), want.state + (want.recorded or ())):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    for a, b in zip(g_got, g_want):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_module_timestamp_gradients_take_the_step_by_step_path():
    torch.manual_seed(8)
    layer = neurosim.Phased(neurosim.ALIF(beta=0.9, threshold=0.5), 5, r_on=0.5, return_state=True)
    x = torch.rand(20, 2, 5)
    t = torch.rand(20, 2).cumsum(0).requires_grad_()
    out, _ = layer(x, t)
    out.sum().backward()  # reaches the timestamps through the gate (the reference path)
    assert t.grad is not None and torch.isfinite(t.grad).all()


# ---- bad input -------------------------------------------------------------------------------------

def test_bad_input_is_named():
    x = torch.rand(5, 2, 3)
    ok = {"tau": 2.0, "shift": 0.0, "r_on": 0.5, "leak": 0.0}
    lif = NEURON_PARAMS["lif"]
    cases = [
        (lambda: _run("ultralif", x, None, None, ok, lif, "auto"), ValueError, "neuron"),
        (lambda: _run("lif", x, None, None, {**ok, "tau": 0.0}, lif, "auto"), ValueError, "tau"),
        (lambda: _run("lif", x, None, None, {**ok, "tau": torch.tensor([1.0, -1.0, 2.0])}, lif, "auto"),
         ValueError, "tau"),
        (lambda: _run("lif", x, None, None, {**ok, "r_on": 0.0}, lif, "auto"), ValueError, "r_on"),
        (lambda: _run("lif", x, None, None, {**ok, "r_on": 1.5}, lif, "auto"), ValueError, "r_on"),
        (lambda: _run("lif", x, None, None, {**ok, "leak": -1.0}, lif, "auto"), ValueError, "leak"),
        (lambda: _run("lif", x, None, None, {**ok, "shift": float("nan")}, lif, "auto"), ValueError, "shift"),
        (lambda: _run("lif", x, None, None, {**ok, "tau": torch.ones(4)}, lif, "auto"), ValueError, "tau"),
        (lambda: _run("lif", x, torch.arange(4.0), None, ok, lif, "auto"), ValueError, "times"),
        (lambda: _run("lif", x, torch.tensor([0.0, 2, 1, 3, 4]), None, ok, lif, "auto"), ValueError, "times"),
        (lambda: _run("lif", x, torch.tensor([0.0, 1, float("nan"), 3, 4]), None, ok, lif, "auto"),
         ValueError, "times"),
        (lambda: _run("lif", x, [0, 1, 2, 3, 4], None, ok, lif, "auto"), TypeError, "times"),
        (lambda: _run("lif", x, None, None, ok, {"beta": 0.9}, "auto"), ValueError, "neuron_params"),
        (lambda: _run("lif", x, None, None, ok, {**lif, "rho": 0.9}, "auto"), ValueError, "neuron_params"),
        (lambda: _run("lif", x, None, None, ok, {**lif, "beta": 1.5}, "auto"), ValueError, "beta"),
        (lambda: _run("lif", x, None, None, ok, lif, "auto", reset="soft"), ValueError, "reset"),
        (lambda: _run("lif", x, None, torch.zeros(2, 4), ok, lif, "auto"), ValueError, "state"),
        (lambda: _run("lif", torch.rand(3), None, None, ok, lif, "auto"), ValueError, "x"),
    ]
    for call, exc, words in cases:
        with pytest.raises(exc, match=words):
            call()


@pytest.mark.parametrize("backend", BACKENDS + ["torch"])
@pytest.mark.parametrize("clock", ["int64", "float64", "float64_per_sample"])
def test_wide_timestamps_keep_their_precision(backend, clock):
    """Integer and float64 timestamps of a float32 layer far from zero (microseconds past 2^24,
    here about 1e9 us, where float32 steps by 64 us): the phase is computed from timestamps
    counted from the batch's first one, with that offset folded into the shift in float64, so the
    spikes are those of the whole computation in float64 and the gradients of x, tau and shift
    agree with it. (Narrowing the timestamps to float32 first changed 9 to 15 of these spikes.)"""
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(12)
    T, B, F = 60, 2, 24
    tau = torch.empty(F, dtype=torch.float64).uniform_(5e3, 5e4, generator=gen).float()
    shift = (torch.rand(F, generator=gen, dtype=torch.float64) * 5e4).float()
    steps = torch.cumsum(torch.randint(200, 2000, (T, B), generator=gen), 0) + 1_000_000_007
    times = steps if clock != "float64_per_sample" else steps + torch.tensor([0, 300])
    times = times[:, 0] if clock == "int64" else times.double()
    x = torch.randn(T, B, F, generator=gen, dtype=torch.float64) * 1.5 + 0.5
    results = []
    for dtype, run_backend in ((torch.float32, backend), (torch.float64, "torch")):
        xs = x.to(device, dtype).clone().requires_grad_()
        gate = [v.to(device).clone().requires_grad_() for v in (tau, shift)]
        result = phased_scan(xs, times.to(device), neuron="lif", neuron_params={"beta": 0.9, "threshold": 0.6},
                             tau=gate[0], shift=gate[1], r_on=0.3, leak=1e-3, record=True, backend=run_backend)
        w = torch.linspace(-1, 1, F, device=device, dtype=dtype)
        ((result.output * w).sum() + (result.recorded[0] * w).sum()).backward()
        results.append([t.double().cpu() for t in (result.output, result.recorded[0], xs.grad, *(g.grad for g in gate))])
    got, want = results
    assert want[0].sum() > 20, "the test needs spikes"
    assert torch.equal(got[0], want[0]), f"{int((got[0] != want[0]).sum())} spikes differ"
    torch.testing.assert_close(got[1], want[1], rtol=1e-4, atol=1e-4)
    for name, g, w in zip(("x", "tau", "shift"), got[2:], want[2:]):
        torch.testing.assert_close(g, w, rtol=1e-3, atol=1e-3 * float(w.abs().max()), msg=lambda m, n=name: f"{n}: {m}")
