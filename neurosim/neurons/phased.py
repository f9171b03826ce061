"""Oscillation-gated modules: ``TimeGate``, ``PhasedLSTM`` and phased spiking neurons
(``Phased(neuron)``, ``PhasedLIF``) — shells around :mod:`neurosim.functional.phased`."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from neurosim.core.models import PHASED_EMIT
from neurosim.core.temporal import SCAN_MODELS, ScanOptions
from neurosim.core.validation import check_sequence
from neurosim.functional.phased import (
    NeuronStep,
    check_gate_parameters,
    check_lengths,
    check_times,
    gate_and_phase,
    length_mask,
    lif_step,
    phase_of,
    phased_lstm,
    phased_neuron,
    phased_scan,
    sequence_clock,
    time_gate,
)
from neurosim.neurons.alif import ALIF
from neurosim.neurons.li import LI
from neurosim.neurons.lif import LIF
from neurosim.neurons.synaptic import Synaptic

# The authors' README: periods exp(U(1, 5)) time steps, i.e. log-uniform over (e, e^5) = (2.7, 148).
DEFAULT_PERIOD_RANGE = (math.e, math.e ** 5)


def _feature_shape(size) -> tuple:
    shape = (size,) if isinstance(size, int) and not isinstance(size, bool) else tuple(size) if isinstance(
        size, (tuple, list, torch.Size)) else None
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ValueError(f"size: expected a positive int or a tuple of them (the feature shape), got {size!r}")
    return shape


class TimeGate(nn.Module):
    """The Phased LSTM time gate of ``size`` units: per-unit period ``tau``, shift ``s`` and open
    ratio ``r_on`` (see :func:`neurosim.functional.time_gate`).

    ``gate(times)`` with timestamps ``times[...]`` returns ``k[..., *size]``; an int ``T`` instead
    of a tensor means the step indices ``0 .. T-1`` (the authors' choice for ordinary sequences).
    The leak ``alpha`` applies in training mode; in eval mode the closed phase is exactly 0.

    Args:
        size: number of units, or the feature shape of a layer.
        period_range: (low, high) of the initial periods, drawn log-uniformly (default the
            authors': exp(U(1, 5)), 2.7 to 148 time units).
        r_on: initial open ratio in (0, 1] (a number or a tensor of the feature shape).
        alpha: leak of the closed phase in training (the paper's 1e-3).
        learn: learn tau and shift (``nn.Parameter``); otherwise buffers.
        learn_r_on: learn r_on too (default: the same as ``learn``).
        shift_range: (low, high) of the initial shifts, uniform; default (0, tau) per unit, every phase.

    Learned values are used as ``|tau|`` and ``min(|r_on|, 1)``, as in the authors' code, so an
    optimiser step cannot make the gate invalid.
    """

    def __init__(self, size, period_range=DEFAULT_PERIOD_RANGE, r_on=0.05, alpha: float = 1e-3,
                 learn: bool = True, learn_r_on: Optional[bool] = None, shift_range=None):
        super().__init__()
        self.size = _feature_shape(size)
        units = math.prod(self.size)
        if (not isinstance(period_range, (tuple, list)) or len(period_range) != 2
                or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in period_range)
                or not 0 < period_range[0] <= period_range[1] or not math.isfinite(period_range[1])):
            raise ValueError(f"period_range: expected (low, high) with 0 < low <= high, got {period_range!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < math.inf:
            raise ValueError(f"alpha: expected a finite number >= 0, got {alpha!r}")
        low, high = math.log(period_range[0]), math.log(period_range[1])
        tau = torch.empty(units).uniform_(low, high).exp_()
        if shift_range is None:
            shift = torch.rand(units) * tau
        else:
            if (not isinstance(shift_range, (tuple, list)) or len(shift_range) != 2
                    or not all(isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
                               for p in shift_range)
                    or shift_range[0] > shift_range[1]):
                raise ValueError(f"shift_range: expected finite (low, high) with low <= high, got {shift_range!r}")
            shift = torch.empty(units).uniform_(float(shift_range[0]), float(shift_range[1]))
        if isinstance(r_on, torch.Tensor):
            try:
                fits = r_on.dim() <= len(self.size) and torch.broadcast_shapes(tuple(r_on.shape), self.size) == self.size
            except RuntimeError:
                fits = False
            if not fits:
                raise ValueError(f"r_on: shape {tuple(r_on.shape)} does not broadcast to the gate's shape "
                                 f"{self.size} (use a number or a tensor of the feature shape)")
            r_on_t = r_on.detach().to(torch.float32).expand(self.size).reshape(units).clone()
        elif isinstance(r_on, (int, float)) and not isinstance(r_on, bool):
            r_on_t = torch.full((units,), float(r_on))
        else:
            raise TypeError(f"r_on: expected a number or a tensor, got {type(r_on).__name__}")
        if not bool(((r_on_t > 0) & (r_on_t <= 1)).all()):
            raise ValueError(f"r_on: the open ratio must lie in (0, 1], got {r_on!r}")
        learn_r_on = learn if learn_r_on is None else learn_r_on
        for name, value, trainable in (("tau", tau, learn), ("shift", shift, learn), ("r_on", r_on_t, learn_r_on)):
            if trainable:
                setattr(self, name, nn.Parameter(value))
            else:
                self.register_buffer(name, value)
        self.alpha = float(alpha)

    def effective(self):
        """(tau, shift, r_on) as the gate uses them: ``|tau|``, ``shift``, ``min(|r_on|, 1)``."""
        return self.tau.abs(), self.shift, self.r_on.abs().clamp(max=1.0)

    def _times(self, times):
        if isinstance(times, int) and not isinstance(times, bool):
            if times < 1:
                raise ValueError(f"times: a number of steps must be >= 1, got {times}")
            return torch.arange(times, device=self.tau.device, dtype=self.tau.dtype)
        check_times(times)
        return times

    def _unflatten(self, y, times):
        return y.reshape(*times.shape, *self.size)

    def forward(self, times) -> torch.Tensor:
        times = self._times(times)
        tau, shift, r_on = self.effective()
        k = time_gate(times, tau, shift, r_on, self.alpha if self.training else 0.0)
        return self._unflatten(k, times)

    def phase(self, times) -> torch.Tensor:
        """``phi = ((t - shift) mod tau) / tau`` in [0, 1), shape [..., *size]."""
        times = self._times(times)
        tau, shift, _ = self.effective()
        return self._unflatten(phase_of(times, tau, shift), times)

    def gate_and_open(self, times):
        """The gate (leak in training mode) and the open phase ``phi < r_on`` (boolean) together."""
        times = self._times(times)
        tau, shift, r_on = self.effective()
        tau, shift, r_on, alpha = check_gate_parameters(tau, shift, r_on, self.alpha if self.training else 0.0)
        k, phi = gate_and_phase(times, tau, shift, r_on, alpha)
        return self._unflatten(k, times), self._unflatten(phi < r_on, times)

    def is_open(self, times) -> torch.Tensor:
        """Boolean [..., *size]: the unit is in its open phase (it updates; 0 < k outside the leak)."""
        return self.gate_and_open(times)[1]

    def extra_repr(self) -> str:
        learn = isinstance(self.tau, nn.Parameter)
        return f"size={self.size}, alpha={self.alpha:g}, learn={learn}"


class PhasedLSTM(nn.Module):
    """Phased LSTM (Neil, Pfeiffer & Liu, NIPS 2016): torch.nn.LSTM whose cell and hidden state
    move only by the time gate ``k_t`` of each unit,
    ``c_t = k_t*c~_t + (1 - k_t)*c_{t-1}``, ``h_t = k_t*h~_t + (1 - k_t)*h_{t-1}``.

    ``PhasedLSTM(input_size, hidden_size)(x, times)`` with x [T, B, input_size] (or [B, T, input]
    with ``batch_first=True``) and timestamps ``times`` [T, B] or [T] ([B, T] with batch_first;
    None = the step index) returns ``(output, (h_n, c_n))`` exactly like torch.nn.LSTM (h_n, c_n:
    [num_layers, B, hidden]). Pass ``hx=(h_n, c_n)`` and the next chunk's (absolute) timestamps
    to continue a stream. ``lengths`` [B] marks padded batches: steps at or after a sequence's
    length leave its state unchanged (its gate is held closed), so ``h_n``/``c_n`` are the states
    at each sequence's last real step, as with a packed sequence in torch.nn.LSTM, and the
    outputs past the end repeat the last one.

    The gate arguments (``period_range``, ``r_on``, ``alpha``, ``learn_gate``, ``learn_r_on``,
    ``shift_range``) are :class:`TimeGate`'s. The weights are torch.nn.LSTM's (same names, shapes,
    gate order i, f, g, o and initialisation),
    so ``PhasedLSTM.from_lstm(lstm)`` or ``load_state_dict(lstm.state_dict(), strict=False)`` copies
    them; each layer has its own :class:`TimeGate` in ``gates[l]``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, *, period_range=DEFAULT_PERIOD_RANGE,
                 r_on=0.05, alpha: float = 1e-3, learn_gate: bool = True, learn_r_on: Optional[bool] = None,
                 shift_range=None, backend: str = "auto"):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout: expected a number in [0, 1], got {dropout!r}")
        if backend not in ("auto", "torch"):
            raise ValueError(f"backend: expected one of ('auto', 'torch'), got {backend!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.backend = bias, batch_first, float(dropout), backend
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(4 * hidden_size, n_in)))
            self.register_parameter(f"weight_hh_l{layer}", nn.Parameter(torch.empty(4 * hidden_size, hidden_size)))
            if bias:
                self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(4 * hidden_size)))
                self.register_parameter(f"bias_hh_l{layer}", nn.Parameter(torch.empty(4 * hidden_size)))
        self.reset_parameters()
        self.gates = nn.ModuleList(
            TimeGate(hidden_size, period_range, r_on, alpha, learn_gate, learn_r_on, shift_range)
            for _ in range(num_layers))

    def reset_parameters(self) -> None:
        """torch.nn.LSTM's initialisation: every weight and bias U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name, p in self.named_parameters():
            if name.startswith(("weight_", "bias_")):
                nn.init.uniform_(p, -bound, bound)

    @classmethod
    def from_lstm(cls, lstm: nn.LSTM, **gate_kwargs) -> "PhasedLSTM":
        """A PhasedLSTM with the weights (copied) and layout of a torch.nn.LSTM."""
        if not isinstance(lstm, nn.LSTM):
            raise TypeError(f"lstm: expected a torch.nn.LSTM, got {type(lstm).__name__}")
        if lstm.bidirectional or lstm.proj_size:
            raise ValueError("lstm: bidirectional and projected LSTMs have no Phased LSTM counterpart here")
        model = cls(lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bias, lstm.batch_first,
                    lstm.dropout, **gate_kwargs)
        p = next(lstm.parameters())
        model.to(device=p.device, dtype=p.dtype)
        model.load_state_dict(lstm.state_dict(), strict=False)
        return model

    def _layer_weights(self, layer: int) -> dict:
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        return {name: getattr(self, f"{name}_l{layer}") for name in names}

    def forward(self, input: torch.Tensor, times: Optional[torch.Tensor] = None, hx=None, lengths=None):
        if times is not None and not isinstance(times, torch.Tensor):
            raise TypeError(f"times: expected a tensor of timestamps or None, got {type(times).__name__}; "
                            "pass the initial state as hx=(h0, c0)")
        check_sequence(input, "input")
        if input.dim() != 3:
            raise ValueError(f"input: expected a batched 3-D tensor, got shape {tuple(input.shape)}")
        x = input.transpose(0, 1) if self.batch_first else input
        if times is not None and self.batch_first and times.dim() == 2:
            times = times.transpose(0, 1)
        steps, batch, n_in = x.shape
        if n_in != self.input_size:
            raise ValueError(f"input: expected {self.input_size} features, got {n_in}")
        if times is None:
            times = torch.arange(steps, device=x.device, dtype=torch.float64 if x.dtype == torch.float64
                                 else torch.float32)
        else:
            times = sequence_clock(times, x, "input")
        lengths = check_lengths(lengths, steps, batch, x.device)
        h0 = c0 = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("hx: expected a tuple (h0, c0), each [num_layers, B, hidden]")
            h0, c0 = hx
            shape = (self.num_layers, batch, self.hidden_size)
            for name, s in (("hx h0", h0), ("hx c0", c0)):
                if not isinstance(s, torch.Tensor) or tuple(s.shape) != shape:
                    raise ValueError(f"{name}: expected shape {shape}, got "
                                     f"{tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__}")
        inside = None if lengths is None else length_mask(lengths, steps).unsqueeze(-1)
        h_n, c_n = [], []
        layer_in = x
        for layer in range(self.num_layers):
            k = self.gates[layer](times)  # [T, H] or [T, B, H]
            if k.dim() == 2:
                k = k.unsqueeze(1)
            if inside is not None:
                k = k * inside.to(k.dtype)
            k = k.to(x.dtype)
            state = None if h0 is None else (h0[layer], c0[layer])
            out, (h, c) = phased_lstm(layer_in, k, state, backend=self.backend, **self._layer_weights(layer))
            h_n.append(h)
            c_n.append(c)
            layer_in = out
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = nn.functional.dropout(layer_in, self.dropout, True)
        output = layer_in.transpose(0, 1) if self.batch_first else layer_in
        return output, (torch.stack(h_n), torch.stack(c_n))

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, bias={self.bias}, "
                f"batch_first={self.batch_first}")


_NIR_OPTIONS = ("v_reset", "v_leak", "input_scale")


def _refuse_nir_options(neuron) -> None:
    """The phased forms run a neuron's plain step (decays, threshold, reset): its NIR options would
    be dropped silently, so a neuron with any of them is refused."""
    set_options = [name for name in _NIR_OPTIONS if getattr(neuron, name, None) is not None]
    if getattr(neuron, "reset_delay", True) is False:
        set_options.append("reset_delay=False")
    if set_options:
        raise ValueError(f"neuron: the phased gate runs the neuron's plain step and does not apply its NIR options; "
                         f"this {type(neuron).__name__} sets {', '.join(set_options)}; build it without them (input_scale "
                         f"and v_leak can be applied to the input before the layer)")


def scan_form(neuron):
    """``(name, parameters, ScanOptions)`` of a neuron of the generic scan that the fused phased scan
    runs (neurosim.LIF, Synaptic, ALIF, LI: their current parameters, clamped as in their forward),
    or None for any other neuron."""
    _refuse_nir_options(neuron)
    if isinstance(neuron, LIF):
        params = {"beta": neuron.beta.clamp(0, 1), "threshold": neuron.threshold}
        name = "lif"
    elif isinstance(neuron, Synaptic):
        params = {"alpha": neuron.alpha.clamp(0, 1), "beta": neuron.beta.clamp(0, 1), "threshold": neuron.threshold}
        name = "synaptic"
    elif isinstance(neuron, ALIF):
        params = {"beta": neuron.beta.clamp(0, 1), "rho": neuron.rho.clamp(0, 1), "gamma": neuron.gamma.clamp(min=0),
                  "threshold": neuron.threshold}
        name = "alif"
    elif isinstance(neuron, LI):
        params = {"beta": neuron.beta.clamp(0, 1)}
        name = "li"
    else:
        return None
    options = ScanOptions(getattr(neuron, "reset", "subtract"), getattr(neuron, "surrogate", None),
                          getattr(neuron, "detach_reset", True))
    return name, params, options


def _scan_neuron_step(name: str, params: dict, options: ScanOptions) -> NeuronStep:
    """A neuron of the generic scan as a NeuronStep: one step of its own reference, and the emission
    of the phased model's reference (the step-by-step path for lengths)."""
    emit_state = PHASED_EMIT[name]
    inner = SCAN_MODELS[name]
    values = tuple(params[p.name] for p in inner.params)
    single = len(inner.state) == 1

    def update(state, x_t):
        state = (state,) if single else tuple(state)
        acc = state[0].dtype
        ps = tuple(v.to(acc) if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=acc, device=x_t.device)
                   for v in values)
        new = inner.reference(x_t.unsqueeze(0), state, ps, options, False)[1]
        return new[0] if single else new

    def emit(state):
        state = (state,) if single else tuple(state)
        return emit_state(state, values, options)

    def initial(x):
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        zeros = x.new_zeros(x.shape[1:], dtype=acc)
        return zeros if single else tuple(zeros for _ in inner.state)

    return NeuronStep(update, emit, initial, name != "li")


def neuron_step(neuron) -> NeuronStep:
    """The pure step functions of a neuron: a :class:`NeuronStep` as is, ``neurosim.LIF`` (its current
    parameters, learned beta clamped to [0, 1] as in its forward), Synaptic, ALIF and LI (one step of
    their references), or any object with a ``step_functions()`` method returning a NeuronStep."""
    if isinstance(neuron, NeuronStep):
        return neuron
    _refuse_nir_options(neuron)
    if isinstance(neuron, LIF):
        return lif_step(neuron.beta.clamp(0, 1), neuron.threshold, neuron.reset, neuron.surrogate,
                        neuron.detach_reset)
    form = scan_form(neuron)
    if form is not None:
        return _scan_neuron_step(*form)
    if hasattr(neuron, "step_functions"):
        step = neuron.step_functions()
        if isinstance(step, NeuronStep):
            return step
    raise TypeError(f"neuron: expected neurosim.LIF, a NeuronStep or an object with step_functions(), "
                    f"got {type(neuron).__name__}")


class Phased(nn.Module):
    """Any neuron with a pure step function, gated by a learnable oscillation per neuron:
    ``u_t = k_t*step(u_{t-1}, x_t) + (1 - k_t)*u_{t-1}``; a spiking neuron spikes only in its open
    phase. While closed it keeps its state (no leak, no input) — the phased-LSTM idea applied to
    spiking neurons. With the gate always open (k = 1) this is the plain neuron, exactly.

    ``Phased(neurosim.LIF(beta=0.9), size=128)(x, times)`` with x [T, B, *size] and timestamps
    ``times`` [T, B] or [T] (None = step index) returns spikes like the neuron;
    ``return_state=True`` returns ``(spikes, state)``, and ``state`` goes back in to continue.
    ``lengths`` [B]: steps past a sequence's length keep its state and emit nothing.

    For neurosim.LIF, Synaptic, ALIF and LI (and so PhasedLIF) with ``backend="auto"`` the gate
    (``self.gate``, a :class:`TimeGate`) is computed inside the neuron's native scan from the
    timestamps (:func:`neurosim.functional.phased_scan`): one fused pass, no [T, B, N] gate tensor.
    The step-by-step path (the gate computed for all steps first, then a Python loop over time) runs
    for any other neuron, for timestamps that require a gradient, and as
    ``backend="torch"`` (the literal reference ``k*new + (1 - k)*old``). The fused scan computes
    the phase in the layer's dtype (float32 timestamps: the same gate as :class:`TimeGate`;
    integer and float64 ones counted from the batch's first timestamp, see
    :func:`neurosim.functional.phased.rebased_clock`).
    """

    def __init__(self, neuron, size, *, period_range=DEFAULT_PERIOD_RANGE, r_on=0.05, alpha: float = 1e-3,
                 learn_gate: bool = True, learn_r_on: Optional[bool] = None, shift_range=None,
                 return_state: bool = False, backend: str = "auto"):
        super().__init__()
        neuron_step(neuron)  # type check now, not at the first call
        if backend not in ("auto", "torch"):
            raise ValueError(f"backend: expected one of ('auto', 'torch'), got {backend!r}")
        self.neuron = neuron
        self.gate = TimeGate(size, period_range, r_on, alpha, learn_gate, learn_r_on, shift_range)
        self.return_state = return_state
        self.backend = backend

    def forward(self, x: torch.Tensor, times: Optional[torch.Tensor] = None, state=None, lengths=None):
        if times is not None and not isinstance(times, torch.Tensor):
            raise TypeError(f"times: expected a tensor of timestamps or None, got {type(times).__name__}")
        check_sequence(x)
        steps, batch = x.shape[0], x.shape[1]
        if tuple(x.shape[2:]) != self.gate.size:
            raise ValueError(f"x: expected features {self.gate.size} (the gate's size), got {tuple(x.shape[2:])}")
        form = scan_form(self.neuron)
        if form is not None and self.backend == "auto" and not (times is not None and times.requires_grad):
            return self._fused(form, x, times, state, lengths)  # phased_scan checks the timestamps
        times = steps if times is None else sequence_clock(times, x)
        k, is_open = self.gate.gate_and_open(times)
        if k.dim() == 1 + len(self.gate.size):  # times [T]: one gate for the whole batch
            k, is_open = k.unsqueeze(1), is_open.unsqueeze(1)
        lengths = check_lengths(lengths, steps, batch, x.device)
        if lengths is not None:
            inside = length_mask(lengths, steps).reshape(steps, batch, *([1] * len(self.gate.size)))
            k = k * inside.to(k.dtype)
            is_open = is_open & inside
        spikes, state = phased_neuron(neuron_step(self.neuron), x, k, is_open, state, backend=self.backend)
        return (spikes, state) if self.return_state else spikes

    def _fused(self, form, x, times, state, lengths):
        name, params, options = form
        tau, shift, r_on = (v.view(self.gate.size) for v in self.gate.effective())
        result = phased_scan(x, times, state, neuron=name, tau=tau, shift=shift, r_on=r_on,
                             leak=self.gate.alpha if self.training else 0.0, neuron_params=params,
                             reset=options.reset, surrogate=options.surrogate or "fast_sigmoid",
                             detach_reset=options.detach_reset, backend="auto", lengths=lengths)
        new_state = result.state[0] if len(result.state) == 1 else result.state
        return (result.output, new_state) if self.return_state else result.output


class PhasedLIF(Phased):
    """A phased leaky integrate-and-fire layer: ``Phased(neurosim.LIF(...), size)``.

    LIF's equations (snnTorch ``Leaky``) inside the gate; ``beta``, ``threshold``, ``reset``,
    ``surrogate``, ``learn_beta``, ``learn_threshold``, ``detach_reset`` as in :class:`neurosim.LIF`,
    the gate's arguments as in :class:`TimeGate`.
    """

    def __init__(self, size, beta=0.9, threshold=1.0, reset: str = "subtract", surrogate="fast_sigmoid", *,
                 learn_beta: bool = False, learn_threshold: bool = False, detach_reset: bool = True,
                 period_range=DEFAULT_PERIOD_RANGE, r_on=0.05, alpha: float = 1e-3, learn_gate: bool = True,
                 learn_r_on: Optional[bool] = None, shift_range=None, return_state: bool = False,
                 backend: str = "auto"):
        lif = LIF(beta, threshold, reset, surrogate, learn_beta=learn_beta, learn_threshold=learn_threshold,
                  detach_reset=detach_reset)
        super().__init__(lif, size, period_range=period_range, r_on=r_on, alpha=alpha, learn_gate=learn_gate,
                         learn_r_on=learn_r_on, shift_range=shift_range, return_state=return_state,
                         backend=backend)
