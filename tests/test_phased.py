"""The Phased LSTM time gate, PhasedLSTM and phased spiking neurons against the paper's equations,
torch.nn.LSTM, neurosim.LIF and gradcheck."""

import math

import pytest
import torch

import neurosim
from neurosim.core.phased_gate_op import TimeGateFunction, time_gate_fused
from neurosim.core.phased_lstm_op import phased_lstm_fused
from neurosim.core.phased_reference import phased_lstm_reference, time_gate_reference
from neurosim.functional import lif_step, phased_lstm, phased_neuron, time_gate, time_gate_phase
from neurosim.functional.phased import NeuronStep, gate_from_phase, phase_of


def gate_params(units, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    tau = torch.exp(torch.empty(units, dtype=dtype).uniform_(1, 4, generator=g))
    shift = torch.rand(units, generator=g, dtype=dtype) * tau
    r_on = torch.empty(units, dtype=dtype).uniform_(0.05, 0.9, generator=g)
    return tau, shift, r_on


def times_at_phases(phases, tau, shift, cycles):
    """Timestamps t [N, units] at which unit u has exactly phase phases[n, u] (in cycle cycles[n, u])."""
    return shift + tau * (cycles + phases)


# ------------------------------------------------------------------------------------------ gate
def test_time_gate_matches_the_papers_piecewise_formula():
    tau, shift, r_on = gate_params(7)
    times = torch.linspace(-300, 300, 2001, dtype=torch.float64).reshape(-1, 1).expand(-1, 3)
    for alpha in (0.0, 1e-3, 0.5):
        k = time_gate(times, tau, shift, r_on, alpha)
        ref = time_gate_reference(times, tau, shift, r_on, alpha)
        assert k.shape == (2001, 3, 7)
        torch.testing.assert_close(k, ref, rtol=1e-12, atol=1e-12)
    assert float(k.min()) >= 0 and float(k.max()) <= 1


def test_phase_uses_the_floor_modulus_for_times_before_the_shift():
    tau = torch.tensor([5.0, 4.0], dtype=torch.float64)
    shift = torch.tensor([0.0, 3.0], dtype=torch.float64)
    times = torch.tensor([-1.0, 1.0, -13.0], dtype=torch.float64)
    phi = time_gate_phase(times, tau, shift)
    # (t - s) mod tau in [0, tau): -1 mod 5 = 4, 1 mod 5 = 1, -13 mod 5 = 2; -4 mod 4 = 0, -2 mod 4 = 2, -16 mod 4 = 0
    expected = torch.tensor([[4 / 5, 0.0], [1 / 5, 2 / 4], [2 / 5, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(phi, expected)
    assert bool(((phi >= 0) & (phi < 1)).all())


def test_integer_timestamps_beyond_float32_keep_their_precision():
    """Integer timestamps (e.g. event cameras' microseconds) pass float32's exact integers (2^24)
    within 17 s: the phase is computed from them in float64, as from the same float64 timestamps,
    in time_gate, time_gate_phase and PhasedLSTM (float32 lost them: every phase came out 0)."""
    t = torch.arange(100_000_000, 100_000_050, 3)
    tau = torch.tensor([10.0, 7.0, 3.5])
    shift = torch.tensor([0.0, 1.5, 2.0])
    exact = torch.tensor([[((v - s) % p) / p for s, p in zip(shift.tolist(), tau.tolist())] for v in t.tolist()])
    phi = time_gate_phase(t, tau, shift)
    assert len(set(phi[:, 0].tolist())) > 3
    torch.testing.assert_close(phi, exact.float(), rtol=0, atol=1e-6)
    assert torch.equal(time_gate(t, tau, shift, 0.5), time_gate(t.double(), tau, shift, 0.5))
    lstm = neurosim.PhasedLSTM(2, 3, r_on=0.5).eval()
    x = torch.randn(t.numel(), 2, 2)
    assert torch.equal(lstm(x, t)[0], lstm(x, t.double())[0])


def test_gate_values_in_each_phase_and_leak():
    tau, shift, r_on = gate_params(5)
    phases = torch.stack([r_on / 4, r_on / 2, 3 * r_on / 4, (1 + r_on) / 2])  # rising, peak, falling, closed
    times = times_at_phases(phases, tau, shift, torch.tensor(3.0, dtype=torch.float64))
    k = time_gate(times, tau, shift, r_on, 0.01)  # [4, units, units]: unit u's own timestamps on the diagonal
    k = torch.stack([torch.diagonal(k[n]) for n in range(4)])
    torch.testing.assert_close(k[0], torch.full_like(r_on, 0.5))
    torch.testing.assert_close(k[1], torch.ones_like(r_on))
    torch.testing.assert_close(k[2], torch.full_like(r_on, 0.5))
    torch.testing.assert_close(k[3], 0.01 * phases[3])


def test_time_gate_gradcheck_away_from_kinks():
    units = 4
    tau, shift, r_on = gate_params(units)
    g = torch.Generator().manual_seed(1)
    # phases kept away from 0, r_on/2, r_on and 1 by at least 5 % of r_on / of the closed span
    fr = torch.rand(6, units, generator=g, dtype=torch.float64)
    rising = r_on * (0.05 + 0.4 * fr[:2])
    falling = r_on * (0.55 + 0.4 * fr[2:4])
    closed = r_on + (1 - r_on) * (0.05 + 0.9 * fr[4:])
    phases = torch.cat([rising, falling, closed])
    cycles = torch.randint(-3, 4, (6, units), generator=g).to(torch.float64)
    times = times_at_phases(phases, tau, shift, cycles)  # [6, units]

    def per_unit_gate(tau_, shift_, r_on_):
        k = time_gate(times.detach(), tau_, shift_, r_on_, 1e-3)  # [6, units, units]
        return torch.diagonal(k, dim1=1, dim2=2)

    params = [p.clone().requires_grad_() for p in (tau, shift, r_on)]
    assert torch.autograd.gradcheck(per_unit_gate, params)
    # and the same gradients as the literal transcription of the paper
    out = per_unit_gate(*params)
    w = torch.randn(out.shape, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((out * w).sum(), params)
    ref = torch.diagonal(time_gate_reference(times, *params, 1e-3), dim1=1, dim2=2)
    ref_grads = torch.autograd.grad((ref * w).sum(), params)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("case", ["float32 [T, B]", "float64 [T]", "float64 times, float32 gate",
                                  "integer times", "number shift and r_on"])
def test_fused_gate_equals_the_formula_bitwise_and_autograd_in_gradients(case):
    """TimeGateFunction (blocked forward, hand-written backward) against gate_from_phase(phase_of(...))
    differentiated by autograd: the same k and phi bit for bit, the same gradients of every input.
    2100 rows of 40 units make two blocks, the second one partial."""
    g = torch.Generator().manual_seed(4)
    units, dtype = 40, torch.float64 if case == "float64 [T]" else torch.float32
    tau, shift, r_on = (p.to(dtype) for p in gate_params(units, seed=3))
    if case == "number shift and r_on":
        shift, r_on = torch.tensor(1.5, dtype=dtype), torch.tensor(0.3, dtype=dtype)
    shape = (700,) if case == "float64 [T]" else (700, 3)
    times = torch.rand(shape, generator=g, dtype=torch.float64).mul(3).cumsum(0) - 50
    if case == "integer times":
        times = times.round().to(torch.int64)
    elif case != "float64 times, float32 gate" and case != "float64 [T]":
        times = times.float()
    alpha = torch.tensor(0.2, dtype=dtype)
    leaves = [p.clone().requires_grad_() for p in (tau, shift, r_on, alpha)]
    if times.is_floating_point():
        times.requires_grad_()
    k, phi = time_gate_fused(times, *leaves)
    phi_ref = phase_of(times, leaves[0], leaves[1])
    k_ref = gate_from_phase(phi_ref, leaves[2], leaves[3])
    assert k.shape == k_ref.shape == (*shape, units) and k.dtype == k_ref.dtype
    assert torch.equal(k, k_ref) and torch.equal(phi, phi_ref)
    assert k.requires_grad and not phi.requires_grad  # phi (for the open mask) carries no gradient
    inputs = ([times] if times.requires_grad else []) + leaves
    w = torch.randn(k.shape, generator=g, dtype=torch.float64).to(dtype)
    grads = torch.autograd.grad((k * w).sum(), inputs)
    ref_grads = torch.autograd.grad((k_ref * w).sum(), inputs)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=2e-4, atol=1e-4)
    for a, b in zip(grads, ref_grads):
        assert a.shape == b.shape and a.dtype == b.dtype
        torch.testing.assert_close(a, b, **tol)


def test_fused_gate_gradcheck_of_every_input():
    g = torch.Generator().manual_seed(5)
    tau, shift, r_on = gate_params(6, seed=6)
    times = torch.rand(9, 2, generator=g, dtype=torch.float64).mul(7).cumsum(0)
    alpha = torch.tensor(0.3, dtype=torch.float64)
    leaves = [p.clone().requires_grad_() for p in (times, tau, shift, r_on, alpha)]
    assert torch.autograd.gradcheck(lambda *a: TimeGateFunction.apply(*a)[0], leaves)


def test_fused_gate_second_derivatives_equal_autograd_of_the_formula():
    """create_graph=True through the fused gate: its hand-written backward is not differentiable, and
    under once_differentiable torch.autograd.grad(..., inputs) skipped the error node, so every
    second derivative came back as exactly 0. The double backward now differentiates the formula."""
    g = torch.Generator().manual_seed(11)
    tau, shift, r_on = gate_params(5, seed=11)
    times = torch.rand(8, 2, generator=g, dtype=torch.float64).mul(5).cumsum(0).requires_grad_()
    alpha = torch.tensor(0.2, dtype=torch.float64)
    fused_leaves = [p.clone().requires_grad_() for p in (tau, shift, r_on, alpha)]
    formula_leaves = [p.clone().requires_grad_() for p in (tau, shift, r_on, alpha)]
    hessians = []
    for leaves, gate in ((fused_leaves, lambda t, *p: time_gate_fused(t, *p)[0]),
                         (formula_leaves, lambda t, tau, s, r, a: gate_from_phase(phase_of(t, tau, s), r, a))):
        k = gate(times, *leaves)
        grads = torch.autograd.grad((k ** 2).sum(), [times, *leaves], create_graph=True)
        hessians.append(torch.autograd.grad(sum((q ** 2).sum() for q in grads), [times, *leaves]))
    for got, want in zip(*hessians):
        assert bool(want.any())
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    # the module's gate (|tau|, clamped r_on) on top of it
    gate = neurosim.TimeGate(5, r_on=0.5).double()
    params = [gate.tau, gate.shift, gate.r_on]
    grads = torch.autograd.grad((gate(times.detach()) ** 2).sum(), params, create_graph=True)
    assert all(bool(h.any()) for h in torch.autograd.grad(sum((q ** 2).sum() for q in grads), params))


def test_fused_phased_lstm_refuses_double_backward_and_torch_backend_gives_it():
    torch.manual_seed(3)
    x = torch.randn(8, 2, 5, dtype=torch.float64, requires_grad=True)
    times = torch.rand(8, 2, dtype=torch.float64).mul(5).cumsum(0)
    model = neurosim.PhasedLSTM(5, 4).double()
    with pytest.raises(RuntimeError, match="no double backward.*backend='torch'"):
        torch.autograd.grad((model(x, times)[0] ** 2).sum(), x, create_graph=True)
    model.backend = "torch"
    params = list(model.parameters())
    grads = torch.autograd.grad((model(x, times)[0] ** 2).sum(), params, create_graph=True)
    hess = torch.autograd.grad(sum((q ** 2).sum() for q in grads), params)
    assert all(bool(h.any()) for h in hess)  # the gate's tau, shift and r_on included


def test_time_gate_module_alpha_in_training_only_and_init_ranges():
    torch.manual_seed(0)
    gate = neurosim.TimeGate(64, period_range=(2.0, 50.0), r_on=0.1)
    assert bool(((gate.tau >= 2.0) & (gate.tau <= 50.0)).all())
    assert bool(((gate.shift >= 0) & (gate.shift < gate.tau)).all())
    times = torch.arange(200.0)
    phi = gate.phase(times)
    closed = phi >= 0.1
    k_train = gate(times)
    gate.eval()
    k_eval = gate(times)
    assert bool((k_eval[closed] == 0).all())
    torch.testing.assert_close(k_train[closed], 1e-3 * phi[closed])
    torch.testing.assert_close(k_train[~closed], k_eval[~closed])
    assert bool((gate.is_open(times) == ~closed).all())
    assert k_eval.shape == (200, 64)
    assert gate(5).shape == (5, 64)  # step indices
    assert neurosim.TimeGate((2, 3))(torch.zeros(4, 2)).shape == (4, 2, 2, 3)
    fixed = neurosim.TimeGate(3, learn=False)
    assert not list(fixed.parameters()) and set(dict(fixed.named_buffers())) == {"tau", "shift", "r_on"}


# ------------------------------------------------------------------------------------ Phased LSTM
def lstm_args(lstm, layer=0):
    return dict(weight_ih=getattr(lstm, f"weight_ih_l{layer}"), weight_hh=getattr(lstm, f"weight_hh_l{layer}"),
                bias_ih=getattr(lstm, f"bias_ih_l{layer}"), bias_hh=getattr(lstm, f"bias_hh_l{layer}"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gate_always_open_equals_torch_lstm(dtype):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 12).to(dtype)
    x = torch.randn(40, 3, 5, dtype=dtype, requires_grad=True)
    h0, c0 = torch.randn(1, 3, 12, dtype=dtype), torch.randn(1, 3, 12, dtype=dtype)
    ref, (h_ref, c_ref) = lstm(x, (h0, c0))
    w = torch.randn_like(ref)
    grads_ref = torch.autograd.grad((ref * w).sum() + h_ref.sum() + 2 * c_ref.sum(), [x, *lstm.parameters()])
    ones = torch.ones(40, 3, 12, dtype=dtype)
    for backend in ("auto", "torch"):
        out, (h, c) = phased_lstm(x, ones, (h0[0], c0[0]), backend=backend, **lstm_args(lstm))
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(out, ref, **tol)
        torch.testing.assert_close(h, h_ref[0], **tol)
        torch.testing.assert_close(c, c_ref[0], **tol)
        grads = torch.autograd.grad((out * w).sum() + h.sum() + 2 * c.sum(), [x, *lstm.parameters()])
        for a, b in zip(grads, grads_ref):
            torch.testing.assert_close(a, b, rtol=1e-4 if dtype == torch.float32 else 1e-9,
                                       atol=1e-4 if dtype == torch.float32 else 1e-10)


def test_open_gate_module_without_bias_equals_torch_lstm_without_bias():
    torch.manual_seed(8)
    lstm = torch.nn.LSTM(4, 6, bias=False, batch_first=True)
    model = neurosim.PhasedLSTM.from_lstm(lstm)
    x = torch.randn(2, 15, 4)
    ref, (h_ref, c_ref) = lstm(x)
    out, (h, c) = phased_lstm(x.transpose(0, 1), torch.ones(1), weight_ih=model.weight_ih_l0,
                              weight_hh=model.weight_hh_l0)
    torch.testing.assert_close(out.transpose(0, 1), ref)
    torch.testing.assert_close(c, c_ref[0])


def test_fused_loop_matches_reference_and_gradcheck():
    torch.manual_seed(1)
    T, B, I, H = 6, 2, 3, 4
    dt = torch.float64
    x = torch.randn(T, B, I, dtype=dt, requires_grad=True)
    k = torch.rand(T, B, H, dtype=dt, requires_grad=True)
    h0 = torch.randn(B, H, dtype=dt, requires_grad=True)
    c0 = torch.randn(B, H, dtype=dt, requires_grad=True)
    w_ih = (0.5 * torch.randn(4 * H, I, dtype=dt)).requires_grad_()
    w_hh = (0.5 * torch.randn(4 * H, H, dtype=dt)).requires_grad_()
    b = (0.1 * torch.randn(4 * H, dtype=dt)).requires_grad_()
    b2 = (0.1 * torch.randn(4 * H, dtype=dt)).requires_grad_()
    leaves = [x, k, h0, c0, w_ih, w_hh, b, b2]

    def run(backend):
        out, (h, c) = phased_lstm(x, k, (h0, c0), weight_ih=w_ih, weight_hh=w_hh, bias_ih=b, bias_hh=b2,
                                  backend=backend)
        return out, h, c

    outs = run("auto")
    refs = run("torch")
    g = torch.Generator().manual_seed(2)
    ws = [torch.randn(o.shape, generator=g, dtype=dt) for o in outs]
    for o, r in zip(outs, refs):
        torch.testing.assert_close(o, r, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad(sum((o * w).sum() for o, w in zip(outs, ws)), leaves)
    ref_grads = torch.autograd.grad(sum((o * w).sum() for o, w in zip(refs, ws)), leaves)
    for a, r in zip(grads, ref_grads):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)
    bias = (b + b2).detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: phased_lstm_fused(*a), (x, k, h0, c0, w_ih, w_hh, bias))
    assert torch.autograd.gradcheck(lambda *a: phased_lstm_fused(*a), (x, k, h0, c0, w_ih, w_hh))  # no bias


def test_fused_loop_float32_long_sequence_matches_reference():
    torch.manual_seed(11)
    T, B, I, H = 60, 5, 7, 24
    lstm = torch.nn.LSTM(I, H)
    x = torch.randn(T, B, I, requires_grad=True)
    k = torch.rand(T, B, H, requires_grad=True)
    h0, c0 = torch.randn(B, H, requires_grad=True), torch.randn(B, H, requires_grad=True)
    leaves = [x, k, h0, c0, *lstm.parameters()]
    outs = phased_lstm(x, k, (h0, c0), **lstm_args(lstm))
    refs = phased_lstm(x, k, (h0, c0), backend="torch", **lstm_args(lstm))
    torch.testing.assert_close(outs[0], refs[0], rtol=1e-5, atol=1e-6)
    w = torch.randn(T, B, H)
    grads = torch.autograd.grad((outs[0] * w).sum() + outs[1][1].sum(), leaves)
    ref_grads = torch.autograd.grad((refs[0] * w).sum() + refs[1][1].sum(), leaves)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("frozen", ["weight_ih", "weight_hh", "input and gate"])
def test_fused_loop_gradients_when_only_some_inputs_need_them(frozen):
    """Each branch of the backward (both weights in one product, one weight alone, no x or k
    gradient), with only the final state used (no gradient for the outputs) and retain_graph."""
    torch.manual_seed(12)
    T, B, I, H = 8, 3, 4, 5
    dt = torch.float64
    x, k = torch.randn(T, B, I, dtype=dt), torch.rand(T, B, H, dtype=dt)
    h0, c0 = torch.randn(B, H, dtype=dt), torch.randn(B, H, dtype=dt)
    w_ih, w_hh, b = torch.randn(4 * H, I, dtype=dt), torch.randn(4 * H, H, dtype=dt), torch.randn(4 * H, dtype=dt)
    weights = {"weight_ih": w_ih, "weight_hh": w_hh, "bias": b}
    trainable = [name for name in weights if name != frozen]
    for name in trainable:
        weights[name].requires_grad_()
    if frozen != "input and gate":
        x.requires_grad_()
        k.requires_grad_()
    leaves = [t for t in (x, k) if t.requires_grad] + [weights[n] for n in trainable]
    out, h, c = phased_lstm_fused(x, k, h0, c0, w_ih, w_hh, b)
    loss = h.sum() + 3 * c.sum()
    first = torch.autograd.grad(loss, leaves, retain_graph=True)
    second = torch.autograd.grad(loss, leaves)
    ref_out, ref_h, ref_c = phased_lstm_reference(x, k, h0, c0, w_ih, w_hh, b, torch.zeros_like(b))
    ref = torch.autograd.grad(ref_h.sum() + 3 * ref_c.sum(), leaves)
    for a, a2, r in zip(first, second, ref):
        assert torch.equal(a, a2)
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)


def test_module_gates_time_batch_first_streaming_and_lengths():
    torch.manual_seed(3)
    model = neurosim.PhasedLSTM(4, 10, num_layers=2, period_range=(2.0, 20.0), r_on=0.2).double()
    T, B = 30, 3
    x = torch.randn(T, B, 4, dtype=torch.float64)
    times = torch.cumsum(torch.rand(T, B, dtype=torch.float64) * 2, 0)
    out, (h, c) = model(x, times)
    assert out.shape == (T, B, 10) and h.shape == c.shape == (2, B, 10)
    # the module is the functional cell with each layer's gate
    layer_in = x
    for layer in range(2):
        k = model.gates[layer](times)
        layer_in, (hl, cl) = phased_lstm(layer_in, k, backend="torch", **lstm_args(model, layer))
        torch.testing.assert_close(hl, h[layer])
    torch.testing.assert_close(layer_in, out)
    # batch_first
    model.batch_first = True
    out_bf, (h_bf, _) = model(x.transpose(0, 1), times.t())
    torch.testing.assert_close(out_bf, out.transpose(0, 1))
    torch.testing.assert_close(h_bf, h)
    model.batch_first = False
    # streaming: two chunks with the state passed on equal one call
    out1, state = model(x[:12], times[:12])
    out2, (h2, c2) = model(x[12:], times[12:], state)
    torch.testing.assert_close(torch.cat([out1, out2]), out)
    torch.testing.assert_close(h2, h)
    torch.testing.assert_close(c2, c)
    # lengths: a padded sequence ends where it ends
    lengths = torch.tensor([30, 17, 5])
    out_p, (h_p, c_p) = model(x, times, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        out_b, (h_b, c_b) = model(x[:n, b:b + 1], times[:n, b:b + 1])
        torch.testing.assert_close(out_p[:n, b:b + 1], out_b)
        torch.testing.assert_close(h_p[:, b:b + 1], h_b)
        torch.testing.assert_close(c_p[:, b:b + 1], c_b)
        torch.testing.assert_close(out_p[n:, b], out_b[-1, 0].expand(T - n, 10))


def test_from_lstm_copies_weights_and_times_default_to_step_index():
    lstm = torch.nn.LSTM(3, 6, num_layers=2, batch_first=True)
    model = neurosim.PhasedLSTM.from_lstm(lstm, r_on=0.3)
    assert model.batch_first and model.num_layers == 2
    for name, p in lstm.named_parameters():
        assert torch.equal(getattr(model, name), p)
    fixed = neurosim.PhasedLSTM(3, 6, learn_r_on=False)
    assert "gates.0.r_on" in dict(fixed.named_buffers()) and "gates.0.tau" in dict(fixed.named_parameters())
    x = torch.randn(2, 9, 3)
    out_default, _ = model(x)
    out_index, _ = model(x, torch.arange(9.0))
    torch.testing.assert_close(out_default, out_index)


def test_training_moves_gate_parameters():
    torch.manual_seed(0)
    model = neurosim.PhasedLSTM(2, 8, period_range=(3.0, 10.0), r_on=0.3)
    out, _ = model(torch.randn(20, 4, 2), torch.arange(20.0))
    out.pow(2).sum().backward()
    gate = model.gates[0]
    for p in (gate.tau, gate.shift, gate.r_on, model.weight_hh_l0):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0


# --------------------------------------------------------------------------------- phased neurons
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("backend", ["torch"] + (["cpp"] if "cpp" in neurosim.backends() else []))
def test_phased_lif_with_open_gate_equals_lif_exactly(reset, backend):
    torch.manual_seed(4)
    x = (torch.randn(50, 3, 16) * 0.8 + 0.3).requires_grad_()
    beta = torch.rand(16) * 0.5 + 0.45
    ref = neurosim.functional.lif(x, beta=beta, threshold=0.9, reset=reset, backend=backend)
    ones = torch.ones(50, 3, 16)
    is_open = torch.ones(50, 3, 16, dtype=torch.bool)
    spikes, state = phased_neuron(lif_step(beta, 0.9, reset), x, ones, is_open)
    assert float(ref.spikes.detach().sum()) > 10
    assert torch.equal(spikes, ref.spikes)
    assert torch.equal(state, ref.state)
    w = torch.randn_like(spikes)
    (g_ref,) = torch.autograd.grad((ref.spikes * w).sum(), x)
    (g,) = torch.autograd.grad((spikes * w).sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-6)


def test_phased_lif_module_with_open_gate_equals_lif_module():
    torch.manual_seed(5)
    lif = neurosim.LIF(beta=0.8, threshold=1.0, return_state=True)
    layer = neurosim.Phased(lif, 12, return_state=True)
    x = torch.randn(30, 2, 12) + 0.4
    with torch.no_grad():  # open gate everywhere: phase r_on / 2 at every step
        layer.gate.tau.fill_(1.0)
        layer.gate.r_on.fill_(1.0)
        layer.gate.shift.fill_(-0.5)
    spikes, state = layer(x, torch.arange(30.0))
    ref = lif(x)
    assert torch.equal(spikes, ref.spikes) and torch.equal(state, ref.state)


def test_phased_lif_keeps_state_and_is_silent_while_closed():
    torch.manual_seed(6)
    layer = neurosim.PhasedLIF(20, beta=0.9, threshold=0.5, period_range=(4.0, 12.0), r_on=0.3,
                               return_state=True).eval()
    T = 80
    x = torch.rand(T, 2, 20) * 0.6
    times = torch.arange(T, dtype=torch.float32)
    with torch.no_grad():
        k, is_open = layer.gate.gate_and_open(times)
        membrane = []
        state = None
        for t in range(T):  # one step at a time, reading the state
            s, state = layer(x[t:t + 1], times[t:t + 1], state)
            membrane.append(state)
            if t > 0:
                closed = ~is_open[t].expand(2, 20)
                assert torch.equal(state[closed], membrane[-2][closed])
                assert float(s[0][closed].abs().sum()) == 0
        spikes, final = layer(x, times)
    assert float(spikes.sum()) > 0
    torch.testing.assert_close(final, membrane[-1])
    # the fraction of unit updates is the mean open fraction, about r_on
    assert abs(float(is_open.float().mean()) - 0.3) < 0.1


def test_phased_neuron_matches_reference_and_gradcheck_through_the_gate():
    torch.manual_seed(7)
    units = 5
    dt = torch.float64
    tau, shift, r_on = gate_params(units, dt, seed=3)
    times = torch.sort(torch.rand(25, dtype=dt) * 60).values
    x = torch.randn(25, 2, units, dtype=dt)
    leaky = NeuronStep(lambda u, x_t: 0.8 * u + x_t, lambda u: u, lambda x_: x_.new_zeros(x_.shape[1:]), False)

    def membrane(tau_, shift_, r_on_):
        k = time_gate(times, tau_, shift_, r_on_, 1e-3).unsqueeze(1)
        phi = time_gate_phase(times, tau_, shift_).unsqueeze(1)
        out, _ = phased_neuron(leaky, x, k, phi < r_on_)
        return out

    params = [p.clone().requires_grad_() for p in (tau, shift, r_on)]
    assert torch.autograd.gradcheck(membrane, params)
    k = time_gate(times, tau, shift, r_on, 1e-3).unsqueeze(1)
    is_open = (time_gate_phase(times, tau, shift) < r_on).unsqueeze(1)
    step = lif_step(0.9, 0.7)
    a, sa = phased_neuron(step, x.float(), k, is_open)
    b, sb = phased_neuron(step, x.float(), k, is_open, backend="torch")
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(sa, sb)


# ------------------------------------------------------------------------------------- bad input
def test_bad_gate_parameters_raise_naming_the_argument():
    tau, shift, r_on = gate_params(3)
    t = torch.arange(5.0)
    with pytest.raises(ValueError, match="tau"):
        time_gate(t, torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64), shift, r_on)
    with pytest.raises(ValueError, match="tau"):
        time_gate(t, -tau, shift, r_on)
    with pytest.raises(ValueError, match="r_on"):
        time_gate(t, tau, shift, 0.0)
    with pytest.raises(ValueError, match="r_on"):
        time_gate(t, tau, shift, torch.tensor([0.5, 1.5, 0.2], dtype=torch.float64))
    with pytest.raises(ValueError, match="r_on"):
        time_gate(t, tau, shift, r_on[:2])
    with pytest.raises(ValueError, match="alpha"):
        time_gate(t, tau, shift, r_on, -0.1)
    with pytest.raises(ValueError, match="shift"):
        time_gate(t, tau, torch.full((3,), math.nan, dtype=torch.float64), r_on)
    with pytest.raises(ValueError, match="times"):
        time_gate(torch.tensor([0.0, math.nan]), tau, shift, r_on)
    with pytest.raises(TypeError, match="tau"):
        time_gate(t, 2.0, shift, r_on)
    with pytest.raises(ValueError, match="r_on"):
        neurosim.TimeGate(4, r_on=1.2)
    with pytest.raises(ValueError, match="period_range"):
        neurosim.TimeGate(4, period_range=(0.0, 3.0))


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_empty_batch_with_a_broadcast_clock(backend):
    """Timestamps [T, B] expanded from [T, 1] (stride 0 over the batch) with B = 0: the shared-clock
    shortcut took column 0 of an empty batch (IndexError)."""
    times = torch.arange(6.0)[:, None]
    x = torch.randn(6, 0, 4, requires_grad=True)
    for model in (neurosim.PhasedLIF(4, backend=backend, return_state=True),
                  neurosim.Phased(neurosim.ALIF(), 4, backend=backend, return_state=True)):
        out, _ = model(x, times.expand(6, 0))
        assert out.shape == (6, 0, 4)
        out.sum().backward()
    out, (h, c) = neurosim.PhasedLSTM(4, 3, backend=backend)(x, times.expand(6, 0))
    assert out.shape == (6, 0, 3) and h.shape == c.shape == (1, 0, 3)


def test_bad_timestamps_and_shapes_raise_naming_the_argument():
    model = neurosim.PhasedLSTM(2, 4)
    x = torch.randn(6, 3, 2)
    good = torch.arange(6.0)
    with pytest.raises(ValueError, match="times.*decrease"):
        model(x, torch.tensor([0.0, 1, 2, 1.5, 3, 4]))
    with pytest.raises(ValueError, match="times.*NaN"):
        model(x, torch.tensor([0.0, 1, math.nan, 3, 4, 5]))
    with pytest.raises(ValueError, match="times.*shape"):
        model(x, torch.arange(5.0))
    with pytest.raises(ValueError, match="times.*shape"):
        model(x, torch.zeros(6, 2))
    with pytest.raises(TypeError, match="times"):
        model(x, (torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)))
    with pytest.raises(ValueError, match="hx"):
        model(x, good, (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="lengths"):
        model(x, good, lengths=torch.tensor([6, 0, 3]))
    with pytest.raises(ValueError, match="input"):
        model(torch.randn(6, 3, 5), good)
    layer = neurosim.PhasedLIF(4)
    with pytest.raises(ValueError, match="times.*decrease"):
        layer(torch.randn(6, 3, 4), torch.tensor([[0.0, 1, 2], [1, 0.5, 3]]).repeat(3, 1))
    with pytest.raises(ValueError, match="x"):
        layer(torch.randn(6, 3, 5))
    with pytest.raises(TypeError, match="neuron"):
        neurosim.Phased(torch.nn.ReLU(), 4)
    with pytest.raises(ValueError, match="k"):
        phased_lstm(x, torch.ones(6, 3, 5), **lstm_args(model))


def test_values_of_non_cpu_tensors_are_not_read():
    # on a device other than the CPU the gate checks only shapes and dtypes (no host-device sync)
    tau = torch.empty(3, device="meta")
    k = time_gate(torch.empty(4, 2, device="meta"), tau, tau, tau, 1e-3)
    assert k.shape == (4, 2, 3) and k.device.type == "meta"


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


def test_forward_backward_read_no_values_off_cpu(value_reads):
    # the same code path as on CUDA, on the meta device, where any value read is counted
    model = neurosim.PhasedLSTM(3, 5, num_layers=2).to("meta")
    x = torch.empty(7, 2, 3, device="meta", requires_grad=True)
    times = torch.empty(7, 2, device="meta")
    out, (h, c) = model(x, times, lengths=torch.empty(2, dtype=torch.long, device="meta"))
    (out.sum() + h.sum() + c.sum()).backward()
    layer = neurosim.PhasedLIF(5, return_state=True).to("meta")
    current = torch.empty(7, 2, 5, device="meta", requires_grad=True)
    spikes, state = layer(current, times)
    (spikes.sum() + state.sum()).backward()
    assert x.grad.shape == x.shape and current.grad.shape == current.shape
    assert model.gates[0].tau.grad is not None and layer.gate.r_on.grad is not None
    assert value_reads == []
