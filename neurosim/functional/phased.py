"""Oscillation-gated units: the time gate of Phased LSTM (Neil, Pfeiffer & Liu, NIPS 2016).

Each unit has a period ``tau``, a phase shift ``s`` and an open ratio ``r_on``. At timestamp ``t``
its phase is ``phi = ((t - s) mod tau) / tau`` (floor modulus: in [0, 1) also for ``t < s``) and
its gate is the triangle

* ``k = 2 phi / r_on``       while ``phi < r_on / 2``           (opening)
* ``k = 2 - 2 phi / r_on``   while ``r_on / 2 <= phi < r_on``   (closing)
* ``k = alpha * phi``        otherwise                          (closed; the leak alpha is used in training only)

A gated unit moves its state only by the fraction ``k`` of an ordinary update:
``state_t = k_t * update(state_{t-1}, x_t) + (1 - k_t) * state_{t-1}``, so while closed it keeps its
state perfectly and costs nothing at inference.

* :func:`time_gate` / :func:`time_gate_phase`: the gate and the phase, ``times[...] -> [..., units]``.
* :func:`phased_lstm`: the Phased LSTM cell over a whole sequence, given the gate.
* :func:`phased_scan`: a neuron of the generic scan (LIF, Synaptic, ALIF, LI) gated, in one native
  scan that computes the gate from the timestamps as it goes (no [T, B, N] gate tensor, no Python loop).
* :func:`phased_neuron`: any neuron with a pure step function, gated (``NeuronStep``; :func:`lif_step` for LIF).

The gate is an ordinary differentiable function of ``tau``, ``shift`` and ``r_on`` (piecewise
linear in the phase), so their gradients are exact except on the kinks.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import torch

from neurosim import surrogate as surrogates
from neurosim._numbers import finite_number
from neurosim.core.models import PHASED_MODELS
from neurosim.core.phased_gate_op import gate_from_phase, phase_of, time_gate_fused
from neurosim.core.phased_lstm_op import phased_lstm_fused
from neurosim.core.phased_reference import phased_lstm_reference, phased_scan_reference
from neurosim.core.temporal import ScanOptions, initial_state, run_scan, scan_parameters
from neurosim.core.validation import (
    RESETS,
    accumulation_dtype,
    check_choice,
    check_flag,
    check_sequence,
    parameter_tensor,
    values_checkable,
)

_PHASED_BACKENDS = ("auto", "torch")


# --------------------------------------------------------------------------------------------
# Argument checks. Values are only inspected on CPU tensors (no host-device sync on CUDA).
# --------------------------------------------------------------------------------------------
def _values_checkable(t: torch.Tensor) -> bool:
    return t.numel() > 0 and values_checkable(t)


def _gate_parameter(value, name: str, units: int, like: torch.Tensor) -> torch.Tensor:
    """A number, a 0-d tensor or a [units] floating tensor, as a tensor on ``like``'s device."""
    if isinstance(value, bool) or not isinstance(value, (int, float, torch.Tensor)):
        raise TypeError(f"{name}: expected a number or a floating tensor, got {type(value).__name__}")
    if not isinstance(value, torch.Tensor):
        if not finite_number(value):
            raise ValueError(f"{name}: must be finite, got {value}")
        return torch.tensor(float(value), dtype=like.dtype, device=like.device)
    if not value.is_floating_point():
        raise TypeError(f"{name}: expected a floating tensor, got {value.dtype}")
    if value.dim() != 0 and tuple(value.shape) != (units,):
        raise ValueError(f"{name}: expected a number, a 0-d tensor or shape ({units},) like tau, "
                         f"got shape {tuple(value.shape)}")
    if value.device != like.device:
        raise ValueError(f"{name}: is on {value.device} but tau is on {like.device}")
    return value


def _check_range(value: torch.Tensor, name: str, low: float, high: float, low_open: bool, high_open: bool,
                 expected: str) -> None:
    if not _values_checkable(value):
        return
    v = value.detach()
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name}: contains NaN or inf")
    vmin, vmax = (x.item() for x in torch.aminmax(v.reshape(-1)))
    bad_low = vmin <= low if low_open else vmin < low
    bad_high = vmax >= high if high_open else vmax > high
    if bad_low or bad_high:
        raise ValueError(f"{name}: {expected}, got min {vmin:.6g} max {vmax:.6g}")


def check_gate_parameters(tau, shift, r_on, alpha):
    """Checks the gate parameters and returns them as tensors (numbers become 0-d tensors)."""
    if not isinstance(tau, torch.Tensor):
        raise TypeError(f"tau: expected a 1-D floating tensor [units], got {type(tau).__name__}")
    if not tau.is_floating_point():
        raise TypeError(f"tau: expected a floating tensor, got {tau.dtype}")
    if tau.dim() != 1 or tau.numel() == 0:
        raise ValueError(f"tau: expected a non-empty 1-D tensor [units], got shape {tuple(tau.shape)}")
    units = tau.shape[0]
    shift = _gate_parameter(shift, "shift", units, tau)
    r_on = _gate_parameter(r_on, "r_on", units, tau)
    alpha = _gate_parameter(alpha, "alpha", units, tau)
    _check_range(tau, "tau", 0.0, math.inf, True, False, "every period must be > 0")
    _check_range(shift, "shift", -math.inf, math.inf, False, False, "must be finite")
    _check_range(r_on, "r_on", 0.0, 1.0, True, False, "the open ratio must lie in (0, 1]")
    _check_range(alpha, "alpha", 0.0, math.inf, False, False, "the leak must be >= 0")
    return tau, shift, r_on, alpha


def check_times(times, name: str = "times") -> None:
    """Timestamps: a real (floating or integer) tensor without NaN or inf."""
    if not isinstance(times, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor of timestamps, got {type(times).__name__}")
    if times.dtype == torch.bool or times.is_complex():
        raise TypeError(f"{name}: expected a floating or integer tensor, got {times.dtype}")
    if times.is_floating_point() and _values_checkable(times) and not bool(torch.isfinite(times).all()):
        raise ValueError(f"{name}: contains NaN or inf")


def check_sequence_times(times, steps: int, batch: int, name: str = "times") -> None:
    """Timestamps of a time-major sequence: shape (T,) or (T, B), non-decreasing in time."""
    check_times(times, name)
    if tuple(times.shape) not in ((steps,), (steps, batch), (steps, 1)):
        raise ValueError(f"{name}: expected shape ({steps},) or ({steps}, {batch}) to match the input "
                         f"(T={steps}, B={batch}), got {tuple(times.shape)}")
    if steps > 1 and _values_checkable(times) and not bool((times[1:] >= times[:-1]).all()):
        raise ValueError(f"{name}: timestamps must not decrease along the time axis")



def sequence_clock(times: torch.Tensor, x: torch.Tensor, x_name: str = "x") -> torch.Tensor:
    """Timestamps for the time-major ``x`` [T, B, ...], checked (shape, order, device); a clock
    shared by the whole batch ([T, 1] or stride 0 over B) comes back as [T], so that the gate is
    computed once per step."""
    check_sequence_times(times, x.shape[0], x.shape[1])
    if times.device != x.device:
        raise ValueError(f"times: is on {times.device} but {x_name} is on {x.device}")
    if times.dim() == 2 and (times.shape[1] == 1 or (times.shape[1] > 1 and times.stride(1) == 0)):
        times = times[:, 0]  # (an empty batch, B = 0, keeps its [T, 0]: there is no column to take)
    return times

def check_lengths(lengths, steps: int, batch: int, device: torch.device) -> Optional[torch.Tensor]:
    if lengths is None:
        return None
    if not isinstance(lengths, torch.Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(f"lengths: expected an integer tensor [B], got {lengths.dtype}")
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"lengths: expected shape ({batch},), got {tuple(lengths.shape)}")
    if _values_checkable(lengths):
        lmin, lmax = (v.item() for v in torch.aminmax(lengths))
        if lmin < 1 or lmax > steps:
            raise ValueError(f"lengths: every length must lie in [1, T={steps}], got min {lmin} max {lmax}")
    return lengths.to(device)


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[T, B] boolean: True where step t lies inside sequence b (t < lengths[b])."""
    return torch.arange(steps, device=lengths.device).unsqueeze(1) < lengths.unsqueeze(0)


# --------------------------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------------------------
def gate_and_phase(times, tau, shift, r_on, alpha):
    """``(k, phi)`` for checked parameters (tensors, see :func:`check_gate_parameters`): the fused
    gate with its hand-written backward when all parameters share tau's dtype, else the formula
    of :func:`gate_from_phase` differentiated by autograd. Both give the same ``k``."""
    if shift.dtype == r_on.dtype == alpha.dtype == tau.dtype:
        return time_gate_fused(times, tau, shift, r_on, alpha)
    phi = phase_of(times, tau, shift)
    return gate_from_phase(phi, r_on, alpha), phi


def time_gate_phase(times: torch.Tensor, tau: torch.Tensor, shift) -> torch.Tensor:
    """The phase ``((t - shift) mod tau) / tau`` in [0, 1) of every unit at every timestamp.

    Args:
        times: timestamps of any shape ``[...]`` (floating or integer; the phase is computed in
            the wider of their dtype and tau's, so float64 timestamps keep their precision, and
            integer ones in float64).
        tau: per-unit period [units], > 0.
        shift: per-unit phase shift, a number or [units].

    Returns:
        ``phi`` of shape ``[..., units]`` in tau's dtype.
    """
    check_times(times)
    tau, shift, _, _ = check_gate_parameters(tau, shift, 1.0, 0.0)
    return phase_of(times, tau, shift)


def time_gate(times: torch.Tensor, tau: torch.Tensor, shift, r_on, alpha=0.0) -> torch.Tensor:
    """The Phased LSTM time gate ``k`` (eq. 2 of Neil et al. 2016) of every unit at every timestamp.

    Args:
        times: timestamps of any shape ``[...]`` (e.g. [T, B]); floating or integer.
        tau: per-unit period [units], > 0, same unit as the timestamps.
        shift: per-unit phase shift ``s``: a number or [units]. The phase is
            ``((t - shift) mod tau) / tau`` (the paper's sign; the authors' code adds the shift).
        r_on: open ratio in (0, 1]: a number or [units].
        alpha: leak of the closed phase (``k = alpha * phi``), >= 0; the paper uses 1e-3 while
            training and 0 at test time.

    Returns:
        ``k`` of shape ``[..., units]`` in tau's dtype, differentiable with respect to tau, shift
        and r_on (exact gradients, piecewise linear in the phase).
    """
    check_times(times)
    tau, shift, r_on, alpha = check_gate_parameters(tau, shift, r_on, alpha)
    return gate_and_phase(times, tau, shift, r_on, alpha)[0]


# --------------------------------------------------------------------------------------------
# Phased LSTM
# --------------------------------------------------------------------------------------------
def _check_matrix(w, name: str, shape: tuple, x: torch.Tensor) -> None:
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor, got {type(w).__name__}")
    if tuple(w.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(w.shape)}")
    if w.dtype != x.dtype or w.device != x.device:
        raise ValueError(f"{name}: expected dtype {x.dtype} on {x.device} like x, got {w.dtype} on {w.device}")


def phased_lstm(
    x: torch.Tensor,
    k: torch.Tensor,
    state=None,
    *,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: Optional[torch.Tensor] = None,
    bias_hh: Optional[torch.Tensor] = None,
    backend: str = "auto",
):
    """The Phased LSTM cell over a whole sequence, given its time gate.

    ``c~_t = f*c_{t-1} + i*g``, ``h~_t = o*tanh(c~_t)`` (torch.nn.LSTM's cell and weight layout:
    gate order i, f, g, o), then ``c_t = k_t*c~_t + (1 - k_t)*c_{t-1}``, ``h_t = k_t*h~_t + (1 - k_t)*h_{t-1}``.
    With ``k = 1`` everywhere this is torch.nn.LSTM.

    Args:
        x: input [T, B, input_size].
        k: gate, broadcastable to [T, B, hidden] (e.g. from :func:`time_gate` of times [T, B]).
        state: ``(h0, c0)``, each [B, hidden], or None for zeros.
        weight_ih, weight_hh, bias_ih, bias_hh: as in torch.nn.LSTM ([4H, I], [4H, H], [4H], [4H]).
        backend: "auto" (one fused loop with a hand-written backward; any device) or "torch" (the
            step-by-step reference differentiated by autograd).

    Returns:
        ``(output [T, B, H], (h_T, c_T))``.
    """
    check_sequence(x)
    if x.dim() != 3:
        raise ValueError(f"x: expected [T, B, input_size], got shape {tuple(x.shape)}")
    check_choice(backend, _PHASED_BACKENDS, "backend")
    steps, batch, n_in = x.shape
    if not isinstance(weight_hh, torch.Tensor) or weight_hh.dim() != 2 or weight_hh.shape[0] % 4:
        raise ValueError("weight_hh: expected a [4*hidden, hidden] tensor")
    hidden = weight_hh.shape[1]
    _check_matrix(weight_hh, "weight_hh", (4 * hidden, hidden), x)
    _check_matrix(weight_ih, "weight_ih", (4 * hidden, n_in), x)
    if (bias_ih is None) != (bias_hh is None):
        raise ValueError("bias_ih, bias_hh: give both or neither")
    if bias_ih is not None:
        _check_matrix(bias_ih, "bias_ih", (4 * hidden,), x)
        _check_matrix(bias_hh, "bias_hh", (4 * hidden,), x)
    if not isinstance(k, torch.Tensor) or not k.is_floating_point():
        raise TypeError("k: expected a floating tensor (the time gate)")
    try:
        k = k.to(x.dtype).expand(steps, batch, hidden)
    except RuntimeError:
        raise ValueError(f"k: shape {tuple(k.shape)} does not broadcast to (T, B, hidden) = "
                         f"{(steps, batch, hidden)}") from None
    if state is None:
        h0 = c0 = x.new_zeros(batch, hidden)
    else:
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError("state: expected a tuple (h0, c0) or None")
        h0, c0 = state
        for name, s in (("state h0", h0), ("state c0", c0)):
            _check_matrix(s, name, (batch, hidden), x)
    if backend == "torch":
        out, h, c = phased_lstm_reference(x, k, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh)
        return out, (h, c)
    bias = None if bias_ih is None else bias_ih + bias_hh
    out, h, c = phased_lstm_fused(x, k, h0, c0, weight_ih, weight_hh, bias)
    return out, (h, c)


# --------------------------------------------------------------------------------------------
# Phased neurons
# --------------------------------------------------------------------------------------------
class NeuronStep(NamedTuple):
    """A neuron as pure functions, the form a time gate can wrap.

    ``update(state, x_t) -> state`` is one ungated step (the state is a tensor or a tuple of
    tensors, [B, *features] each); ``emit(state) -> output`` reads the output of a state (spikes
    with their surrogate gradient); ``initial_state(x) -> state`` is the resting state for an
    input x [T, B, *features]. ``spiking`` says whether outputs are events (masked to zero
    outside the open phase) or a readout of the state (left as is).
    """

    update: Callable
    emit: Callable
    initial_state: Callable
    spiking: bool = True


def lif_step(beta=0.9, threshold=1.0, reset: str = "subtract", surrogate="fast_sigmoid",
             detach_reset: bool = True) -> NeuronStep:
    """neurosim.LIF's step (snnTorch ``Leaky``, ``reset_delay=True``) as a :class:`NeuronStep`:
    with ``r = H(u_{t-1} - thr)``, ``u_t = beta*u_{t-1} + x_t - thr*r`` (subtract),
    ``beta*(1 - r)*u_{t-1} + x_t`` (zero) or ``beta*u_{t-1} + x_t`` (none); ``s_t = H(u_t - thr)``.
    The operation order is the reference's, so an always-open gate reproduces neurosim.LIF exactly.
    ``beta`` and ``threshold`` are numbers or tensors broadcastable to [B, *features]."""
    check_choice(reset, RESETS, "reset")
    sg = surrogates.get(surrogate)

    def update(u, x_t):
        shifted = u - threshold
        r = (shifted.detach() > 0).to(u.dtype) if detach_reset else sg(shifted)
        x_t = x_t.to(u.dtype)
        if reset == "subtract":
            return (beta * u + x_t) - r * threshold
        if reset == "zero":
            return beta * ((1 - r) * u) + x_t
        return beta * u + x_t

    def emit(u):
        return sg(u - threshold)

    def initial_state(x):
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        return x.new_zeros(x.shape[1:], dtype=acc)

    return NeuronStep(update, emit, initial_state, True)


def phased_neuron(neuron: NeuronStep, x: torch.Tensor, k: torch.Tensor, is_open: torch.Tensor, state=None,
                  *, backend: str = "auto"):
    """A time-gated neuron over x [T, B, *features]:
    ``u_t = k_t*update(u_{t-1}, x_t) + (1 - k_t)*u_{t-1}`` for every state tensor, output
    ``emit(u_t)``; a spiking neuron emits only inside its open phase (``is_open``).

    Args:
        neuron: a :class:`NeuronStep` (e.g. :func:`lif_step`).
        x: input [T, B, *features].
        k: the gate, broadcastable to x's shape, one factor per step and neuron (from :func:`time_gate`).
        is_open: boolean, broadcastable to x's shape: the open phase (``phi < r_on``).
        state: the state before the first step, or None for ``neuron.initial_state(x)``.
        backend: "auto" (state blended with one ``lerp`` per tensor and step) or "torch" (the
            literal reference ``k*new + (1 - k)*old``).

    Returns:
        ``(outputs [T, B, *features] in x's dtype, final state)``.
    """
    if not isinstance(neuron, NeuronStep):
        raise TypeError(f"neuron: expected a NeuronStep, got {type(neuron).__name__}")
    check_sequence(x)
    check_choice(backend, _PHASED_BACKENDS, "backend")
    if not isinstance(k, torch.Tensor) or not k.is_floating_point():
        raise TypeError("k: expected a floating tensor (the time gate)")
    if not isinstance(is_open, torch.Tensor) or is_open.dtype != torch.bool:
        raise TypeError("is_open: expected a boolean tensor (the open phase)")
    for name, t in (("k", k), ("is_open", is_open)):
        try:
            torch.broadcast_shapes(tuple(t.shape), tuple(x.shape))
        except RuntimeError:
            raise ValueError(f"{name}: shape {tuple(t.shape)} does not broadcast to x's {tuple(x.shape)}") from None
    if state is None:
        state = neuron.initial_state(x)
    first = state if isinstance(state, torch.Tensor) else state[0]
    k = k.to(first.dtype).expand(x.shape)
    is_open = is_open.expand(x.shape)
    if backend == "torch":
        out, state = phased_scan_reference(neuron.update, neuron.emit, x, k, is_open, state, neuron.spiking)
        return out.to(x.dtype), state
    single = isinstance(state, torch.Tensor)
    outputs = []
    for x_t, k_t, open_t in zip(x.unbind(0), k.unbind(0), is_open.unbind(0)):
        candidate = neuron.update(state, x_t)
        if single:
            state = torch.lerp(state, candidate, k_t)  # exact at k = 0 and k = 1
        else:
            state = tuple(torch.lerp(old, new, k_t) for old, new in zip(state, candidate))
        out = neuron.emit(state)
        outputs.append(out * open_t if neuron.spiking else out)
    return torch.stack(outputs).to(x.dtype), state


# --------------------------------------------------------------------------------------------
# Phased neurons fused into the generic scan
# --------------------------------------------------------------------------------------------
class PhasedScanResult(NamedTuple):
    output: torch.Tensor
    """[T, B, *features] in x's dtype: spikes (zero outside the open phase), or LI's membrane."""
    state: Tuple[torch.Tensor, ...]
    """The neuron's state variables after the last step, [B, *features] each (accumulation dtype)."""
    recorded: Optional[Tuple[torch.Tensor, ...]]
    """With ``record=True``: the neuron's recorded variables (the blended state) at every step."""


def _positive(value, name: str) -> None:
    """tau > 0 and r_on > 0 (the scan's parameter ranges are closed; these are open at 0)."""
    v = value if isinstance(value, torch.Tensor) else torch.tensor(float(value))
    if _values_checkable(v) and bool((v.detach() <= 0).any()):
        what = "every period must be > 0" if name == "tau" else "the open ratio must lie in (0, 1]"
        raise ValueError(f"{name}: {what}, got min {v.detach().min().item():.6g}")


def rebased_clock(times: torch.Tensor, tau, shift, x: torch.Tensor):
    """``(times, shift)`` for a scan that computes the phase in ``acc``: timestamps wider than
    ``acc`` (float64 or integer ones for a float32 scan) are counted from the batch's first
    timestamp ``t0`` before they are narrowed, and ``t0`` goes into the shift, reduced modulo tau
    in float64: ``(t - shift) mod tau = ((t - t0) - ((shift - t0) mod tau)) mod tau``, gradients
    w.r.t. tau and shift included. Narrowed as they were, microsecond timestamps past 2^24 (17
    seconds) lost their last bits and phases came out wrong (at 1e9 us float32 steps by 64 us).
    One ``t0`` serves the batch, so batch elements far apart from one another (not a shared
    clock) still round as far as they lie from the batch's earliest one."""
    acc = accumulation_dtype(x.dtype)
    if acc == torch.float64 or (times.is_floating_point() and torch.finfo(times.dtype).bits <= torch.finfo(acc).bits):
        return times.to(acc), shift
    wide = times if times.is_floating_point() else times.to(torch.int64)
    t0 = wide.detach()[0].min()  # timestamps do not decrease: the batch's earliest
    # tau as the scan will read it (rounded to acc): the identity needs the same period on both sides
    tau_w = parameter_tensor(tau, x, "tau").to(acc).to(torch.float64)
    shift_w = parameter_tensor(shift, x, "shift")
    shift_w = shift_w.to(torch.float64) if isinstance(shift, torch.Tensor) else torch.tensor(
        float(shift), dtype=torch.float64, device=x.device)
    return (wide - t0).to(acc), torch.remainder(shift_w - t0.to(torch.float64), tau_w)


def phased_scan(
    x: torch.Tensor,
    times: Optional[torch.Tensor] = None,
    state=None,
    *,
    neuron: str = "lif",
    tau,
    shift=0.0,
    r_on=0.05,
    leak=0.0,
    neuron_params: Optional[Dict[str, object]] = None,
    reset: str = "subtract",
    surrogate="fast_sigmoid",
    detach_reset: bool = True,
    record: bool = False,
    backend: str = "auto",
    lengths=None,
) -> PhasedScanResult:
    """A neuron of the generic scan inside the Phased LSTM time gate, over x [T, B, *features]:
    ``state_t = k_t*step(state_{t-1}, x_t) + (1 - k_t)*state_{t-1}`` for every state variable,
    output ``emit(state_t)`` (spikes only in the open phase ``phi < r_on``; LI's membrane as is),
    with ``k_t`` the gate of :func:`time_gate` at the step's timestamp.

    On the native backends the gate is computed inside the neuron's own scan from the timestamps
    (one pass over time, the neuron's backward with the gate's gradients folded in); on
    ``backend="torch"`` the reference runs the plain neuron's reference one step at a time. With
    the gate always open (k = 1) this is the plain neuron bit for bit.

    Args:
        x: input [T, B, *features].
        times: timestamps [T] (one clock for the batch) or [T, B], non-decreasing; None = the step
            index 0 .. T-1. The phase is computed in the accumulation dtype (float32 for float32
            and 16-bit x: as :func:`time_gate` computes it for float32 timestamps); integer and
            float64 timestamps of a float32 layer are first counted from the batch's earliest
            one, that offset going into the shift in float64 (:func:`rebased_clock`), so that
            large absolute timestamps (microseconds past 2^24) keep their precision. Timestamps
            that require a gradient run the reference (the native op gives no gradient w.r.t.
            times).
        state: the neuron's state before the first step (a tensor for one-variable neurons, else a
            tuple as returned in ``.state``), or None for zeros.
        neuron: "lif", "synaptic", "alif" or "li".
        tau, shift, r_on, leak: the gate's period (> 0), phase shift, open ratio in (0, 1] and
            closed-phase leak (the paper's alpha: 1e-3 in training, 0 in evaluation); numbers or
            tensors broadcastable to the feature shape; gradients flow to those that require them.
        neuron_params: the neuron's parameters by name (``{"beta": 0.9, "threshold": 1.0}`` for
            LIF; Synaptic: alpha, beta, threshold; ALIF: beta, rho, gamma, threshold; LI: beta).
        reset, surrogate, detach_reset: as in :func:`neurosim.functional.lif` (spiking neurons).
        record: also return the recorded state variables at every step.
        backend: "auto", "cuda", "cpp" or "torch".
        lengths: [B] integer lengths of padded sequences, or None: steps at or past a sequence's
            length keep its state exactly and emit nothing (their gate is shut, k = 0), as the
            step-by-step path of :class:`neurosim.Phased` does; the fused scan marks them with a
            NaN timestamp internally.

    Returns:
        ``PhasedScanResult(output, state, recorded)``.
    """
    check_sequence(x)
    if neuron == "ultralif":
        raise ValueError("neuron: UltraLIF has no phased form here: its output is a soft max-plus of the "
                         "update, not a function of a blended state; use 'lif', 'synaptic', 'alif' or 'li'")
    check_choice(neuron, tuple(PHASED_MODELS), "neuron")
    model = PHASED_MODELS[neuron]
    check_choice(reset, RESETS, "reset")
    sg = surrogates.get(surrogate)
    check_flag(detach_reset, "detach_reset")
    check_flag(record, "record")
    steps = x.shape[0]
    acc = accumulation_dtype(x.dtype)
    inner = [p.name for p in model.params[:-4]]
    given = dict(neuron_params or {})
    unknown = sorted(set(given) - set(inner))
    missing = [name for name in inner if name not in given]
    if unknown or missing:
        raise ValueError(f"neuron_params: the {neuron} neuron takes {inner}"
                         + (f"; unknown {unknown}" if unknown else "") + (f"; missing {missing}" if missing else ""))
    _positive(tau, "tau")
    _positive(r_on, "r_on")
    if times is None:
        times = torch.arange(steps, device=x.device, dtype=acc)
    else:
        times = sequence_clock(times, x)
        if times.requires_grad:
            backend = "torch"
        times, shift = rebased_clock(times, tau, shift, x)
    lengths = check_lengths(lengths, steps, x.shape[1], x.device)
    if lengths is not None:  # padding steps: NaN timestamps, the gate shut there (phased.h)
        per_sample = times if times.dim() == 2 else times.unsqueeze(1).expand(steps, x.shape[1])
        times = per_sample.masked_fill(~length_mask(lengths, steps), float("nan"))
    params = scan_parameters(model, x, {**given, "tau": tau, "shift": shift, "r_on": r_on, "leak": leak})
    state0 = initial_state(model, x, state)
    out, final, recorded = run_scan(model, x, state0, params, ScanOptions(reset, sg, detach_reset), record, backend,
                                    times=times)
    return PhasedScanResult(out, final, recorded)
