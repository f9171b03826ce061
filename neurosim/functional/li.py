"""Whole-sequence leaky integrator (no spikes): ``li(x, state, ...) -> LIResult(output, state)``."""

from __future__ import annotations

from typing import NamedTuple

import torch

from neurosim.core.models import LI
from neurosim.core.temporal import ScanOptions, initial_state, run_scan, scan_parameters
from neurosim.core.validation import check_sequence, parameter_tensor
from neurosim.functional.drive import drive


class LIResult(NamedTuple):
    output: torch.Tensor
    """The membrane u at every step, [T, B, *features] in the dtype of x."""
    state: torch.Tensor
    """u after the last step, [B, *features], accumulation dtype."""


def li(x: torch.Tensor, state=None, *, beta=0.9, backend: str = "auto", v_leak=None, input_scale=None) -> LIResult:
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
        v_leak: leak target, ``u_t = beta*u_{t-1} + (1 - beta)*v_leak + input_scale*x_t`` (NIR's ``LI``
            with ``beta = 1 - dt/tau`` and ``input_scale = r*dt/tau``); None is 0.
        input_scale: factor on the input; None is 1. (None skips the arithmetic: the plain scan.)
    """
    check_sequence(x)
    if v_leak is not None or input_scale is not None:
        beta_t = parameter_tensor(beta, x, "beta", 0.0, 1.0)
        inner = li(drive(x, beta_t, v_leak, None, input_scale), state, beta=beta_t, backend=backend)
        return LIResult(inner.output.to(x.dtype), inner.state)
    u0 = initial_state(LI, x, state)
    params = scan_parameters(LI, x, {"beta": beta})
    out, (u,), _ = run_scan(LI, x, u0, params, ScanOptions(), False, backend)
    return LIResult(out, u)
