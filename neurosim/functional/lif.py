"""Whole-sequence leaky integrate-and-fire: ``lif(x, state, ...) -> (spikes, state, membrane)``."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from neurosim import surrogate as surrogates
from neurosim.core.models import LIF as LIF_MODEL
from neurosim.core.temporal import ScanOptions, initial_state, run_scan, scan_parameters
from neurosim.core.validation import RESETS, check_choice, check_flag, check_sequence


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
    detach_reset: bool = True,
    record_membrane: bool = False,
    backend: str = "auto",
) -> LIFResult:
    """Leaky integrate-and-fire over all T steps of ``x`` [T, B, *features] in one call.

    The equations are snnTorch's ``Leaky`` (``reset_delay=True``): with ``r_t = H(u_{t-1} - thr)``,

    * ``subtract``: ``u_t = beta*u_{t-1} + x_t - thr*r_t``
    * ``zero``:     ``u_t = beta*(1 - r_t)*u_{t-1} + x_t``
    * ``none``:     ``u_t = beta*u_{t-1} + x_t``

    and ``s_t = H(u_t - thr)`` with the surrogate derivative in the backward pass. The reset
    term carries no gradient unless ``detach_reset=False``.

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
        detach_reset: cut the gradient through the reset term (snnTorch's behaviour).
        record_membrane: also return the membrane at every step.
        backend: "auto", "cuda", "cpp" or "torch".

    Returns:
        ``LIFResult(spikes, state, membrane)``.
    """
    check_sequence(x)
    check_choice(reset, RESETS, "reset")
    sg = surrogates.get(surrogate)
    check_flag(detach_reset, "detach_reset")
    check_flag(record_membrane, "record_membrane")
    u0 = initial_state(LIF_MODEL, x, state)
    params = scan_parameters(LIF_MODEL, x, {"beta": beta, "threshold": threshold})
    spikes, (u,), trace = run_scan(LIF_MODEL, x, u0, params, ScanOptions(reset, sg, detach_reset), record_membrane,
                                   backend)
    return LIFResult(spikes, u, trace[0] if record_membrane else None)
