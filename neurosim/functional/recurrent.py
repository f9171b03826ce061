"""Whole-sequence recurrent spiking layers: ``rlif`` (snnTorch ``RLeaky``), ``rsynaptic``
(snnTorch ``RSynaptic``) and ``ralif`` (a recurrent adaptive LIF, Bellec et al.'s LSNN).

Each takes ``x`` [T, B, n] and a recurrence: ``weight`` [n, n] (+ ``bias``) for all-to-all
connections, ``rec_t = s_{t-1} W^T + b`` (an ``nn.Linear`` of the previous step's spikes), or ``v``
for one weight per neuron, ``rec_t = v * s_{t-1}``. The state is the cell's NamedTuple
(spikes first, as snnTorch orders its arguments); pass the returned state to the next call to
stream a long sequence in pieces.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from neurosim import surrogate as surrogates
from neurosim.core import resolve_backend
from neurosim.core.recurrent_op import CELL_PARAMS, CELL_VARIABLES, CELLS, recurrent_native
from neurosim.core.recurrent_reference import recurrent_reference
from neurosim.core.validation import (
    RESETS,
    accumulation_dtype,
    check_choice,
    check_flag,
    check_sequence,
    check_state,
    parameter_tensor,
)
from neurosim.functional.drive import reset_detached


class RLIFState(NamedTuple):
    spk: torch.Tensor
    mem: torch.Tensor


class RSynapticState(NamedTuple):
    spk: torch.Tensor
    syn: torch.Tensor
    mem: torch.Tensor


class RALIFState(NamedTuple):
    spk: torch.Tensor
    mem: torch.Tensor
    adapt: torch.Tensor


STATE_TYPES = {"lif": RLIFState, "synaptic": RSynapticState, "alif": RALIFState}


class RecurrentResult(NamedTuple):
    spikes: torch.Tensor
    """[T, B, n], 0/1 in the dtype of x."""
    state: NamedTuple
    """The cell's state after the last step (``RLIFState``, ``RSynapticState`` or ``RALIFState``),
    each field [B, n] in float32 (float64 for float64 input)."""
    membrane: Optional[torch.Tensor]
    """Membrane at every step [T, B, n] (dtype of x) if ``record_membrane``, else None."""


_BOUNDS = {"alpha": (0.0, 1.0), "beta": (0.0, 1.0), "rho": (0.0, 1.0), "gamma": (0.0, None),
           "threshold": (None, None)}


def _recurrence(x, weight, bias, v, acc):
    n = x.shape[2]
    if (weight is None) == (v is None):
        raise ValueError("pass exactly one of weight (all-to-all recurrence, [n, n]) and v (one weight per neuron)")
    if weight is not None:
        for name, t, shape in (("weight", weight, (n, n)), ("bias", bias, (n,))):
            if t is None:
                continue
            if not isinstance(t, torch.Tensor) or not t.is_floating_point():
                got = f"a tensor of dtype {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
                raise TypeError(f"{name}: expected a floating tensor, got {got}")
            if tuple(t.shape) != shape:
                raise ValueError(f"{name}: expected shape {shape} for x with n={n} features, got {tuple(t.shape)}")
            if t.device != x.device:
                raise ValueError(f"{name}: is on {t.device} but x is on {x.device}")
        return weight.to(acc), None if bias is None else bias.to(acc), None
    if bias is not None:
        raise ValueError("bias: only the all-to-all recurrence (weight) has a bias")
    v_t = parameter_tensor(v, x, "v").to(acc)
    return None, None, v_t


def _initial_state(cell, state, x, acc):
    fields = STATE_TYPES[cell]._fields
    batch, n = x.shape[1], x.shape[2]
    if state is None:
        zeros = x.new_zeros((batch, n), dtype=acc)
        return [zeros] * len(fields)
    if not isinstance(state, (tuple, list)) or len(state) != len(fields):
        raise TypeError(f"state: expected a {STATE_TYPES[cell].__name__}{fields} or None, got "
                        f"{type(state).__name__}" + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else ""))
    for name, value in zip(fields, state):
        check_state(value, x, f"state.{name}")
    return [value.to(acc) for value in state]


def recurrent(
    cell: str,
    x: torch.Tensor,
    state=None,
    *,
    weight: Optional[torch.Tensor] = None,
    bias: Optional[torch.Tensor] = None,
    v=None,
    reset: str = "subtract",
    surrogate="fast_sigmoid",
    detach_reset: Optional[bool] = None,
    record_membrane: bool = False,
    backend: str = "auto",
    reset_delay: bool = True,
    v_reset=None,
    v_leak=None,
    input_scale=None,
    **params,
) -> RecurrentResult:
    """Any recurrent cell by name (``"lif"``, ``"synaptic"``, ``"alif"``) with its parameters as
    keywords; :func:`rlif`, :func:`rsynaptic` and :func:`ralif` document each one.

    ``detach_reset``: None (default) is snnTorch's convention, the delayed reset detached and the
    undelayed one not.

    ``reset_delay=False`` (``lif`` and ``synaptic`` cells, ``reset="zero"`` or ``"none"``): the zero
    reset lands in the step that spikes, ``mem_t = m - s_t*m`` (snnTorch's ``reset_delay=False``,
    NIR's recurrent LIF/CubaLIF subgraphs). It runs on the PyTorch reference step loop (the native
    recurrent kernels implement the delayed reset only): ``backend`` "auto" or "torch".

    With ``reset_delay=False`` the cells also take NIR's terms (each None, a number or [n]):
    ``v_reset`` (the value of the zero reset), ``v_leak`` (leak target) and ``input_scale``:
    ``m = beta*mem + (1 - beta)*v_leak + input_scale*(x_t + rec_t)`` (for ``synaptic`` the scaled
    drive enters the current, ``syn = alpha*syn + input_scale*(x_t + rec_t)``), then
    ``mem = v_reset`` where ``s_t = 1``."""
    check_choice(cell, CELLS, "cell")
    check_sequence(x)
    if x.dim() != 3:
        raise ValueError(f"x: recurrent layers take [T, B, n] (one feature axis), got shape {tuple(x.shape)}")
    check_choice(reset, RESETS, "reset")
    sg = surrogates.get(surrogate)
    detach_reset = reset_detached(detach_reset, reset_delay)
    check_flag(record_membrane, "record_membrane")
    if not detach_reset and reset == "zero" and reset_delay:
        raise ValueError("detach_reset=False is supported with reset='subtract' or 'none' (and with the zero "
                         "reset of reset_delay=False); the native kernels' delayed zero reset would need the "
                         "membrane before the reset, which is not kept")
    undelayed_zero = not reset_delay and reset == "zero"
    if not reset_delay:
        if cell == "alif":
            raise ValueError("reset_delay=False: supported for the 'lif' and 'synaptic' cells, not 'alif'")
        if reset == "subtract":
            raise ValueError("reset_delay=False is supported with reset='zero' or 'none', not 'subtract'")
        if undelayed_zero and backend not in ("auto", "torch"):
            raise ValueError(f"backend: reset_delay=False runs on the PyTorch reference ('auto' or 'torch'); the "
                             f"native recurrent kernels implement the delayed reset only, got {backend!r}")
    terms_given = any(t is not None for t in (v_reset, v_leak, input_scale))
    if terms_given and (reset_delay or cell == "alif"):
        raise ValueError("v_reset / v_leak / input_scale: supported with reset_delay=False on the 'lif' and "
                         "'synaptic' cells (NIR's recurrent LIF/CubaLIF)")
    if v_reset is not None and reset != "zero":
        raise ValueError(f"v_reset: the value the membrane is reset to needs reset='zero', got reset={reset!r}")
    names = CELL_PARAMS[cell]
    if set(params) != set(names):
        raise TypeError(f"{cell} cell: expected the parameters {names}, got {tuple(params)}")
    if terms_given and backend not in ("auto", "torch"):
        raise ValueError(f"backend: v_reset / v_leak / input_scale run on the PyTorch reference ('auto' or "
                         f"'torch'), got {backend!r}")
    name = "torch" if undelayed_zero or terms_given else resolve_backend(backend, x.device)
    acc = accumulation_dtype(x.dtype)
    n = x.shape[2]
    weight, bias, v = _recurrence(x, weight, bias, v, acc)
    state0 = _initial_state(cell, state, x, acc)
    values = [parameter_tensor(params[p], x, p, *_BOUNDS[p]).to(acc) for p in names]
    xa = x.to(acc)
    state_type = STATE_TYPES[cell]
    mem_index = CELL_VARIABLES[cell].index("mem")

    if name == "torch":
        terms = [None if t is None else parameter_tensor(t, x, label).to(acc)
                 for t, label in ((v_reset, "v_reset"), (v_leak, "v_leak"), (input_scale, "input_scale"))]
        spikes, final, traces = recurrent_reference(cell, xa, state0, values, weight, bias, v, reset, sg,
                                                    detach_reset, reset_delay, terms)
        membrane = traces[mem_index].to(x.dtype) if record_membrane else None
        return RecurrentResult(spikes.to(x.dtype), state_type(*final), membrane)

    leaves = [x, *state0, *values, weight, bias, v]
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in leaves)
    spikes, final, trace = recurrent_native(
        xa.contiguous(),
        torch.stack(state0),
        torch.stack([p.expand(n) for p in values]),
        weight,
        bias,
        None if v is None else v.expand(n).contiguous(),
        CELLS[cell],
        RESETS[reset],
        sg.code,
        sg.param,
        detach_reset,
        record_membrane or needs_grad,
    )
    membrane = trace[mem_index].to(x.dtype) if record_membrane else None
    return RecurrentResult(spikes.to(x.dtype), state_type(*final.unbind(0)), membrane)


def rlif(x, state=None, *, weight=None, bias=None, v=None, beta=0.9, threshold=1.0, reset="subtract",
         surrogate="fast_sigmoid", detach_reset=None, record_membrane=False, backend="auto",
         reset_delay=True, v_reset=None, v_leak=None, input_scale=None) -> RecurrentResult:
    """Recurrent LIF over all T steps, the equations of snnTorch's ``RLeaky``:

    ``r_t = H(mem_{t-1} - thr)`` (no gradient unless ``detach_reset=False``; with
    ``reset_delay=False`` the step's own spike resets, with its gradient unless ``detach_reset=True``),
    ``base = beta*mem_{t-1} + x_t + rec_t`` with ``rec_t = s_{t-1} W^T + b`` or ``v*s_{t-1}``;
    subtract: ``mem_t = base - r_t*thr``; zero: ``mem_t = base - r_t*base``; none: ``mem_t = base``;
    ``s_t = H(mem_t - thr)``. Spikes and membrane equal snnTorch's bit for bit on the same weights.

    Args:
        x: input current [T, B, n]; float32/float64 (float16/bfloat16 run in float32).
        state: ``RLIFState(spk, mem)`` before the first step (zeros when None).
        weight, bias: all-to-all recurrence ``[n, n]`` and ``[n]`` (e.g. an ``nn.Linear(n, n)``'s).
        v: one recurrent weight per neuron (number or [n]), instead of ``weight``.
        beta, threshold: number or tensor of shape [n]; gradients flow to tensors that need them.
        reset: "subtract", "zero" or "none".
        surrogate: a name from :mod:`neurosim.surrogate` or a ``Surrogate``.
        record_membrane: also return the membrane at every step.
        backend: "auto", "cuda", "cpp" or "torch".
        reset_delay: False resets in the step that spikes (see :func:`recurrent`).
        v_reset, v_leak, input_scale: NIR's terms, with ``reset_delay=False`` (see :func:`recurrent`).
    """
    return recurrent("lif", x, state, weight=weight, bias=bias, v=v, beta=beta, threshold=threshold, reset=reset,
                     surrogate=surrogate, detach_reset=detach_reset, record_membrane=record_membrane, backend=backend,
                     reset_delay=reset_delay, v_reset=v_reset, v_leak=v_leak, input_scale=input_scale)


def rsynaptic(x, state=None, *, weight=None, bias=None, v=None, alpha=0.9, beta=0.8, threshold=1.0,
              reset="subtract", surrogate="fast_sigmoid", detach_reset=None, record_membrane=False,
              backend="auto", reset_delay=True, v_reset=None, v_leak=None, input_scale=None) -> RecurrentResult:
    """Recurrent current-based LIF, the equations of snnTorch's ``RSynaptic``:

    ``syn_t = alpha*syn_{t-1} + x_t + rec_t``, ``m = beta*mem_{t-1} + syn_t``, then the reset of
    :func:`rlif` on ``m`` (``r_t = H(mem_{t-1} - thr)``; the zero reset clears the membrane, not the
    current); ``s_t = H(mem_t - thr)``. State ``RSynapticState(spk, syn, mem)``.
    """
    return recurrent("synaptic", x, state, weight=weight, bias=bias, v=v, alpha=alpha, beta=beta,
                     threshold=threshold, reset=reset, surrogate=surrogate, detach_reset=detach_reset,
                     record_membrane=record_membrane, backend=backend, reset_delay=reset_delay, v_reset=v_reset,
                     v_leak=v_leak, input_scale=input_scale)


def ralif(x, state=None, *, weight=None, bias=None, v=None, beta=0.9, rho=0.95, gamma=0.5, threshold=1.0,
          reset="subtract", surrogate="fast_sigmoid", detach_reset=True, record_membrane=False,
          backend="auto") -> RecurrentResult:
    """Recurrent adaptive LIF (Bellec et al. 2018, LSNN), neurosim's ALIF with a recurrence:

    ``B_t = thr + gamma*a_t``; ``r_t = H(mem_{t-1} - B_{t-1})`` (the previous spike);
    ``base = beta*mem_{t-1} + x_t + rec_t``; subtract: ``mem_t = base - r_t*thr``, zero:
    ``mem_t = base - r_t*base``, none: ``mem_t = base``; ``a_t = rho*a_{t-1} + r_t``;
    ``s_t = H(mem_t - B_t)``. Each spike raises the threshold by ``gamma``, decaying with ``rho``;
    with ``gamma = 0`` this is :func:`rlif` exactly. State ``RALIFState(spk, mem, adapt)``.
    """
    return recurrent("alif", x, state, weight=weight, bias=bias, v=v, beta=beta, rho=rho, gamma=gamma,
                     threshold=threshold, reset=reset, surrogate=surrogate, detach_reset=detach_reset,
                     record_membrane=record_membrane, backend=backend)
