"""Whole-sequence adaptive-threshold LIF (ALIF, Bellec et al.):
``alif(x, state, ...) -> ALIFResult(spikes, state, membrane, adaptation)``."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from neurosim import surrogate as surrogates
from neurosim.core.models import ALIF
from neurosim.core.temporal import ScanOptions, initial_state, run_scan, scan_parameters
from neurosim.core.validation import RESETS, check_choice, check_flag, check_sequence
from neurosim.functional.drive import reset_detached


class ALIFState(NamedTuple):
    """The streamed state of :func:`alif`: both [B, *features], accumulation dtype."""

    mem: torch.Tensor
    """Membrane potential u."""
    adaptation: torch.Tensor
    """Threshold adaptation a (the threshold is ``threshold + gamma * a``)."""


class ALIFResult(NamedTuple):
    spikes: torch.Tensor
    """[T, B, *features], 0/1 in the dtype of x."""
    state: ALIFState
    """(mem, adaptation) after the last step; pass it to the next call to continue the sequence."""
    membrane: Optional[torch.Tensor]
    """u at every step [T, B, *features] (dtype of x) if ``record_membrane``, else None."""
    adaptation: Optional[torch.Tensor]
    """a at every step [T, B, *features] (dtype of x) if ``record_membrane``, else None."""


def alif(
    x: torch.Tensor,
    state=None,
    *,
    beta=0.9,
    rho=0.95,
    gamma=1.8,
    threshold=1.0,
    reset: str = "subtract",
    surrogate="fast_sigmoid",
    detach_reset: Optional[bool] = True,
    record_membrane: bool = False,
    backend: str = "auto",
) -> ALIFResult:
    """Adaptive-threshold LIF over all T steps of ``x`` [T, B, *features] (Bellec et al. 2018
    LSNN, 2020 e-prop). With the adaptive threshold ``B_t = thr + gamma*a_t`` and the previous
    spike ``s_{t-1} = H(u_{t-1} - B_{t-1})``:

    * ``u_t = beta*u_{t-1} + x_t - thr*s_{t-1}``   (``reset="subtract"``; "zero" and "none" as in LIF)
    * ``a_t = rho*a_{t-1} + s_{t-1}``
    * ``s_t = H(u_t - B_t)``

    With ``gamma = 0`` this is :func:`neurosim.functional.lif` exactly: spikes, states and
    membrane bit for bit, gradients up to rounding (with ``detach_reset=False`` the backward sums
    the adaptation's zero terms in another order: about one ulp). The
    reset and the adaptation share ``s_{t-1}``, whose gradient is cut when ``detach_reset``
    (snnTorch's convention for the reset; Bellec's LSNN lets it flow: ``detach_reset=False``).

    Peers: Norse ``LSNNCell`` (``tau_adapt``, ``beta`` scale; its adaptation jumps after the spike
    and it integrates ``dt/tau``-scaled input); Bellec's e-prop code writes ``a`` with a ``(1 - rho)``
    factor on the spike, i.e. ``gamma`` here is their ``beta_a / (1 - rho)``.

    Args:
        x: input current, time-major [T, B, *features].
        state: ``(mem, adaptation)`` before the first step (an :class:`ALIFState` or tuple), zeros
            when None.
        beta: membrane decay in [0, 1]; number or tensor broadcastable to the feature shape.
        rho: adaptation decay in [0, 1], like ``beta``.
        gamma: adaptation strength >= 0, like ``beta``.
        threshold: base threshold, like ``beta``.
        reset, surrogate, detach_reset, backend: as in :func:`neurosim.functional.lif`.
        record_membrane: also return u and a at every step.
    """
    check_sequence(x)
    check_choice(reset, RESETS, "reset")
    sg = surrogates.get(surrogate)
    detach_reset = reset_detached(detach_reset, True)  # None: snnTorch's convention, as LIF's
    check_flag(record_membrane, "record_membrane")
    state0 = initial_state(ALIF, x, state)
    params = scan_parameters(ALIF, x, {"beta": beta, "rho": rho, "gamma": gamma, "threshold": threshold})
    spikes, final, trace = run_scan(ALIF, x, state0, params, ScanOptions(reset, sg, detach_reset), record_membrane,
                                    backend)
    u_t, a_t = trace if record_membrane else (None, None)
    return ALIFResult(spikes, ALIFState(*final), u_t, a_t)
