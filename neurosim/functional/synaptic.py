"""Whole-sequence synaptic (current-based, second-order) LIF:
``synaptic(x, state, ...) -> SynapticResult(spikes, state, syn, membrane)``."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from neurosim import surrogate as surrogates
from neurosim.core.models import SYNAPTIC
from neurosim.core.temporal import ScanOptions, initial_state, run_scan, scan_parameters
from neurosim.core.validation import RESETS, check_choice, check_flag, check_sequence


class SynapticState(NamedTuple):
    """The streamed state of :func:`synaptic`: both [B, *features], accumulation dtype."""

    syn: torch.Tensor
    """Synaptic current."""
    mem: torch.Tensor
    """Membrane potential."""


class SynapticResult(NamedTuple):
    spikes: torch.Tensor
    """[T, B, *features], 0/1 in the dtype of x."""
    state: SynapticState
    """(syn, mem) after the last step; pass it to the next call to continue the sequence."""
    syn: Optional[torch.Tensor]
    """Synaptic current at every step [T, B, *features] (dtype of x) if ``record_membrane``, else None."""
    membrane: Optional[torch.Tensor]
    """Membrane at every step [T, B, *features] (dtype of x) if ``record_membrane``, else None."""


def synaptic(
    x: torch.Tensor,
    state=None,
    *,
    alpha=0.9,
    beta=0.8,
    threshold=1.0,
    reset: str = "subtract",
    surrogate="fast_sigmoid",
    detach_reset: bool = True,
    record_membrane: bool = False,
    backend: str = "auto",
) -> SynapticResult:
    """Synaptic-current LIF over all T steps of ``x`` [T, B, *features] in one call.

    The equations and their operation order are snnTorch's ``Synaptic`` (``reset_delay=True``),
    so spikes, ``syn`` and ``mem`` are identical to snnTorch's bit for bit and the gradients equal
    its autograd. With ``r_t = H(mem_{t-1} - thr)`` (detached unless ``detach_reset=False``):

    * ``syn_t = alpha*syn_{t-1} + x_t``
    * ``subtract``: ``mem_t = beta*mem_{t-1} + syn_t - thr*r_t``
    * ``zero``:     ``mem_t = b_t - b_t*r_t`` with ``b_t = beta*mem_{t-1} + syn_t`` (syn is not reset)
    * ``none``:     ``mem_t = beta*mem_{t-1} + syn_t``

    and ``s_t = H(mem_t - thr)`` with the surrogate derivative in the backward pass.

    Peers: snnTorch ``Synaptic(alpha, beta)``; NIR ``CubaLIF``; Norse ``LIFBox``-style current
    models decay the current with ``1 - dt/tau_syn`` (``alpha``) and the membrane with
    ``1 - dt/tau_mem`` (``beta``) but integrate ``dt/tau``-scaled inputs and reset after the
    decay, so they match up to those factors.

    Args:
        x: input current, time-major [T, B, *features], float16/bfloat16/float32/float64.
        state: ``(syn, mem)`` before the first step (a :class:`SynapticState` or a tuple of two
            [B, *features] tensors), zeros when None.
        alpha: synaptic-current decay in [0, 1]; a number or a tensor broadcastable to the feature
            shape (one per neuron, e.g. ``(C, 1, 1)`` over [C, H, W]). Gradients flow to tensors
            that require them.
        beta: membrane decay in [0, 1], like ``alpha``.
        threshold: firing threshold, number or tensor like ``alpha``.
        reset: "subtract", "zero" or "none".
        surrogate: a name from :mod:`neurosim.surrogate` or a ``Surrogate`` object.
        detach_reset: cut the gradient through the reset term (snnTorch's behaviour).
        record_membrane: also return ``syn`` and ``mem`` at every step.
        backend: "auto", "cuda", "cpp" or "torch".
    """
    check_sequence(x)
    check_choice(reset, RESETS, "reset")
    sg = surrogates.get(surrogate)
    check_flag(detach_reset, "detach_reset")
    check_flag(record_membrane, "record_membrane")
    state0 = initial_state(SYNAPTIC, x, state)
    params = scan_parameters(SYNAPTIC, x, {"alpha": alpha, "beta": beta, "threshold": threshold})
    spikes, final, trace = run_scan(SYNAPTIC, x, state0, params, ScanOptions(reset, sg, detach_reset),
                                    record_membrane, backend)
    syn_t, mem_t = trace if record_membrane else (None, None)
    return SynapticResult(spikes, SynapticState(*final), syn_t, mem_t)
