"""Whole-sequence leaky integrator (no spikes): ``li(x, state, ...) -> LIResult(output, state)``."""

from __future__ import annotations

from typing import NamedTuple

import torch

from neurosim.core.models import LI
from neurosim.core.temporal import ScanOptions, initial_state, run_scan, scan_parameters
from neurosim.core.validation import check_sequence


class LIResult(NamedTuple):
    output: torch.Tensor
    """The membrane u at every step, [T, B, *features] in the dtype of x."""
    state: torch.Tensor
    """u after the last step, [B, *features], accumulation dtype."""


def li(x: torch.Tensor, state=None, *, beta=0.9, backend: str = "auto") -> LIResult:
    """Leaky integrator over all T steps of ``x`` [T, B, *features]: ``u_t = beta*u_{t-1} + x_t``,
    output ``u_t``. The usual readout layer of a spiking network (read the last step, the mean or
    the max over time).

    Peers: snnTorch ``Leaky(beta, reset_mechanism="none")`` read through its membrane (identical);
    Norse ``LICell`` (a current-based integrator; ``LIBoxCell`` without the current) scales the
    input by ``dt/tau_mem``; SpikingJelly a ``LIFNode`` with ``v_threshold=inf``.

    Args:
        x: input, time-major [T, B, *features].
        state: u before the first step, [B, *features] (zeros when None).
        beta: decay in [0, 1]; number or tensor broadcastable to the feature shape.
        backend: "auto", "cuda", "cpp" or "torch".
    """
    check_sequence(x)
    u0 = initial_state(LI, x, state)
    params = scan_parameters(LI, x, {"beta": beta})
    out, (u,), _ = run_scan(LI, x, u0, params, ScanOptions(), False, backend)
    return LIResult(out, u)
