"""Whole-sequence leaky integrate-and-fire: ``lif(x, state, ...) -> (spikes, state, membrane)``."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from neurosim import surrogate as surrogates
from neurosim.core.models import LIF as LIF_MODEL
from neurosim.core.temporal import ScanOptions, initial_state, run_scan, scan_parameters
from neurosim.core.validation import RESETS, check_choice, check_flag, check_sequence, check_state, parameter_tensor
from neurosim.functional.drive import (
    after_reset,
    check_nir_options,
    drive,
    nir_options_used,
    reset_detached,
    shifted,
    shifted_state,
    unshifted,
)


class LIFResult(NamedTuple):
    spikes: torch.Tensor
    """[T, B, *features], 0/1 in the dtype of x."""
    state: torch.Tensor
    """Membrane after the last step, [B, *features], float32 (float64 for float64 input)."""
    membrane: Optional[torch.Tensor]
    """Membrane at every step [T, B, *features] (dtype of x) if ``record_membrane``, else None."""


def lif(
    x: torch.Tensor,
    state: Optional[torch.Tensor] = None,
    *,
    beta=0.9,
    threshold=1.0,
    reset: str = "subtract",
    surrogate="fast_sigmoid",
    detach_reset: Optional[bool] = None,
    record_membrane: bool = False,
    backend: str = "auto",
    reset_delay: bool = True,
    v_reset=None,
    v_leak=None,
    input_scale=None,
) -> LIFResult:
    """Leaky integrate-and-fire over all T steps of ``x`` [T, B, *features] in one call.

    The equations are snnTorch's ``Leaky`` (``reset_delay=True``): with ``r_t = H(u_{t-1} - thr)``,

    * ``subtract``: ``u_t = beta*u_{t-1} + x_t - thr*r_t``
    * ``zero``:     ``u_t = beta*(1 - r_t)*u_{t-1} + x_t``
    * ``none``:     ``u_t = beta*u_{t-1} + x_t``

    and ``s_t = H(u_t - thr)`` with the surrogate derivative in the backward pass. The reset
    term carries no gradient unless ``detach_reset=False``.

    NIR's LIF (``tau du/dt = v_leak - u + r*I``, reset to ``v_reset`` in the step that spikes) is
    ``reset="zero", reset_delay=False`` with ``beta = 1 - dt/tau``, ``input_scale = r*dt/tau``,
    ``v_leak`` and ``v_reset``: ``u_t = beta*u_{t-1} + (1 - beta)*v_leak + input_scale*x_t``, then
    ``u_t = v_reset`` where ``s_t = 1``. See :mod:`neurosim.functional.drive` for why this runs on the
    same fused scan exactly (same spikes as the delayed zero reset; only the reported membrane is
    taken after the reset).

    Args:
        x: input current, time-major [T, B, *features], float16/bfloat16/float32/float64.
        state: membrane before the first step, [B, *features] (zeros when None). Pass the
            returned ``state`` to the next call to stream a long sequence in pieces
            (truncated BPTT: ``state.detach()``).
        beta: decay in [0, 1]; a number, or a tensor broadcastable to the feature shape
            (one per neuron). Gradients flow to tensors that require them.
        threshold: firing threshold, number or tensor like ``beta``.
        reset: "subtract", "zero" or "none".
        surrogate: a name from :mod:`neurosim.surrogate` or a ``Surrogate`` object.
        detach_reset: cut the gradient through the reset term. None (default): snnTorch's
            convention, cut for the delayed reset and kept for ``reset_delay=False`` (where
            snnTorch subtracts the step's own spike, with its surrogate gradient).
        record_membrane: also return the membrane at every step.
        backend: "auto", "cuda", "cpp" or "torch".
        reset_delay: False resets in the step that spikes (``reset="zero"`` or ``"none"``); the
            membrane and state are then reported after the reset.
        v_reset: value of the zero reset (``reset="zero"``); None is 0.
        v_leak: leak target, ``u_t = beta*u_{t-1} + (1 - beta)*v_leak + ...``; None is 0.
        input_scale: factor on the input (NIR's ``r*dt/tau``); None is 1.
        (Each of the three is a number or a tensor broadcastable to the feature shape; ``None``
        skips its arithmetic, so the default path is bit for bit the plain scan.)

    Returns:
        ``LIFResult(spikes, state, membrane)``.
    """
    check_sequence(x)
    check_choice(reset, RESETS, "reset")
    sg = surrogates.get(surrogate)
    detach_reset = reset_detached(detach_reset, reset_delay)
    check_flag(record_membrane, "record_membrane")
    if nir_options_used(reset_delay, v_reset, v_leak, input_scale):
        check_nir_options(reset, reset_delay, v_reset, v_leak, input_scale)
        return _lif_nir(x, state, beta, threshold, reset, sg, detach_reset, record_membrane, backend, reset_delay,
                        v_reset, v_leak, input_scale)
    u0 = initial_state(LIF_MODEL, x, state)
    params = scan_parameters(LIF_MODEL, x, {"beta": beta, "threshold": threshold})
    spikes, (u,), trace = run_scan(LIF_MODEL, x, u0, params, ScanOptions(reset, sg, detach_reset), record_membrane,
                                   backend)
    return LIFResult(spikes, u, trace[0] if record_membrane else None)


def _lif_nir(x, state, beta, threshold, reset, sg, detach_reset, record_membrane, backend, reset_delay, v_reset,
             v_leak, input_scale) -> LIFResult:
    """The plain scan on ``w = u - v_reset`` with the scaled, leak-shifted input (see
    :mod:`neurosim.functional.drive`)."""
    check_state(state, x)
    beta_t = parameter_tensor(beta, x, "beta", 0.0, 1.0)
    thr = shifted(threshold, x, v_reset, "threshold")
    w0 = shifted_state(state, x, v_reset)
    options = dict(beta=beta_t, threshold=thr, reset=reset, surrogate=sg, detach_reset=detach_reset,
                   record_membrane=record_membrane, backend=backend)
    scan_input = drive(x, beta_t, v_leak, v_reset, input_scale)
    if reset_delay:
        inner = lif(scan_input, w0, **options)
    else:
        inner = undelayed_reset_scan(scan_input, w0, starts_at_rest(state, threshold), **options)
    spikes, w, membrane = inner.spikes.to(x.dtype), inner.state, inner.membrane
    if not reset_delay and reset == "zero":
        w = after_reset(w, spikes[-1], detach_reset)
        membrane = after_reset(membrane, spikes, detach_reset) if membrane is not None else None
    membrane = unshifted(membrane, x, v_reset)
    return LIFResult(spikes, unshifted(w, x, v_reset), membrane.to(x.dtype) if membrane is not None else None)


def starts_at_rest(state, threshold) -> bool:
    """Whether the membrane before the first step is known not to lie above threshold without
    looking at tensor values: the default zero state under a threshold that is a number >= 0."""
    return state is None and isinstance(threshold, (int, float)) and not isinstance(threshold, bool) \
        and threshold >= 0


def undelayed_reset_scan(x, state, at_rest: bool, **options) -> LIFResult:
    """The fused (delayed-reset) LIF for a neuron that resets in the step that spikes
    (``reset_delay=False``, see :mod:`neurosim.functional.drive`). For the zero reset the spikes
    are the delayed scan's, except that the state before the first step is already past its
    reset: the delayed scan would reset a starting membrane above threshold before the first step
    (as if it had spiked in step -1) instead of letting it spike; so the first step runs without a
    reset and the rest continue from its (unreset) membrane, whose delayed reset is then the first
    step's own. The reported membrane is before the reset, as the delayed scan's. ``at_rest``
    (:func:`starts_at_rest`), or no reset: one scan does it."""
    if at_rest or options["reset"] != "zero":
        return lif(x, state, **options)
    first = lif(x[:1], state, **{**options, "reset": "none"})
    if x.shape[0] == 1:
        return first
    rest = lif(x[1:], first.state, **options)
    membrane = None
    if first.membrane is not None:
        membrane = torch.cat((first.membrane, rest.membrane))
    return LIFResult(torch.cat((first.spikes, rest.spikes)), rest.state, membrane)
