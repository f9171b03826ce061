"""Whole-sequence synaptic (current-based, second-order) LIF:
``synaptic(x, state, ...) -> SynapticResult(spikes, state, syn, membrane)``."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from neurosim import surrogate as surrogates
from neurosim.core.models import SYNAPTIC
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
from neurosim.functional.li import li
from neurosim.functional.lif import starts_at_rest, undelayed_reset_scan


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
    detach_reset: Optional[bool] = None,
    record_membrane: bool = False,
    backend: str = "auto",
    reset_delay: bool = True,
    v_reset=None,
    v_leak=None,
    input_scale=None,
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

    NIR's ``CubaLIF`` (reset to ``v_reset`` in the step that spikes) is ``reset="zero",
    reset_delay=False`` with ``alpha = 1 - dt/tau_syn``, ``beta = 1 - dt/tau_mem``, ``v_leak``,
    ``v_reset`` and ``input_scale = (r*dt/tau_mem)*(dt/tau_syn)*w_in``:
    ``syn_t = alpha*syn_{t-1} + input_scale*x_t``, ``mem_t = beta*mem_{t-1} + (1 - beta)*v_leak + syn_t``,
    then ``mem_t = v_reset`` where ``s_t = 1``. ``syn`` is then NIR's current times ``r*dt/tau_mem``.
    The synaptic current does not depend on the spikes, so this runs exactly as the fused leaky
    integrator (the current) followed by the fused LIF (the membrane, whose delayed zero reset
    gives the undelayed reset's spikes; see :mod:`neurosim.functional.drive`). The fused
    synaptic scan's own delayed zero reset clears the whole step after a spike, which is a
    different model, so this path does not use it.

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
        detach_reset: cut the gradient through the reset term. None (default): snnTorch's
            convention, cut for the delayed reset and kept for ``reset_delay=False``.
        record_membrane: also return ``syn`` and ``mem`` at every step.
        backend: "auto", "cuda", "cpp" or "torch".
        reset_delay: False resets in the step that spikes (``reset="zero"`` or ``"none"``);
            ``mem`` is then reported after the reset.
        v_reset, v_leak: reset value and leak target of the membrane (need ``reset_delay=False``);
            None is 0.
        input_scale: factor on the input into the current; None is 1.
    """
    check_sequence(x)
    check_choice(reset, RESETS, "reset")
    sg = surrogates.get(surrogate)
    detach_reset = reset_detached(detach_reset, reset_delay)
    check_flag(record_membrane, "record_membrane")
    if nir_options_used(reset_delay, v_reset, v_leak, input_scale):
        check_nir_options(reset, reset_delay, v_reset, v_leak, input_scale)
        if reset_delay and (v_reset is not None or v_leak is not None):
            raise ValueError("v_reset / v_leak: supported with reset_delay=False (NIR's CubaLIF), not with the "
                             "delayed reset")
        return _synaptic_nir(x, state, alpha, beta, threshold, reset, sg, detach_reset, record_membrane, backend,
                             reset_delay, v_reset, v_leak, input_scale)
    state0 = initial_state(SYNAPTIC, x, state)
    params = scan_parameters(SYNAPTIC, x, {"alpha": alpha, "beta": beta, "threshold": threshold})
    spikes, final, trace = run_scan(SYNAPTIC, x, state0, params, ScanOptions(reset, sg, detach_reset),
                                    record_membrane, backend)
    syn_t, mem_t = trace if record_membrane else (None, None)
    return SynapticResult(spikes, SynapticState(*final), syn_t, mem_t)


def _synaptic_nir(x, state, alpha, beta, threshold, reset, sg, detach_reset, record_membrane, backend, reset_delay,
                  v_reset, v_leak, input_scale) -> SynapticResult:
    syn0 = mem0 = None
    if state is not None:
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"state: expected a SynapticState(syn, mem) or None, got {type(state).__name__}")
        syn0, mem0 = state
        check_state(syn0, x, "state.syn")
        check_state(mem0, x, "state.mem")
    scaled = drive(x, parameter_tensor(alpha, x, "alpha", 0.0, 1.0), None, None, input_scale)
    if reset_delay:  # only the input scale: the plain fused scan on the scaled input
        inner = synaptic(scaled, state, alpha=alpha, beta=beta, threshold=threshold, reset=reset, surrogate=sg,
                         detach_reset=detach_reset, record_membrane=record_membrane, backend=backend)
        cast = (lambda t: None if t is None else t.to(x.dtype))
        return SynapticResult(inner.spikes.to(x.dtype), inner.state, cast(inner.syn), cast(inner.membrane))
    current = li(scaled, syn0, beta=alpha, backend=backend)
    beta_t = parameter_tensor(beta, x, "beta", 0.0, 1.0)
    membrane_input = drive(current.output, beta_t, v_leak, v_reset, None)
    w0 = shifted_state(mem0, x, v_reset, "state.mem")
    options = dict(beta=beta_t, threshold=shifted(threshold, x, v_reset, "threshold"), reset=reset, surrogate=sg,
                   detach_reset=detach_reset, record_membrane=record_membrane, backend=backend)
    result = undelayed_reset_scan(membrane_input, w0, starts_at_rest(mem0, threshold), **options)
    spikes, w, membrane = result.spikes.to(x.dtype), result.state, result.membrane
    if reset == "zero":
        w = after_reset(w, spikes[-1], detach_reset)
        membrane = after_reset(membrane, spikes, detach_reset) if membrane is not None else None
    membrane = unshifted(membrane, x, v_reset)
    return SynapticResult(spikes, SynapticState(current.state, unshifted(w, x, v_reset)),
                          current.output.to(x.dtype) if record_membrane else None,
                          membrane.to(x.dtype) if membrane is not None else None)
