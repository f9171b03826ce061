"""Whole-sequence leaky integrate-and-fire: ``lif(x, state, ...) -> (spikes, state, membrane)``."""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

from neurosim import surrogate as surrogates
from neurosim.core import lif_native, lif_reference, resolve_backend
from neurosim.core.validation import (
    RESETS,
    accumulation_dtype,
    check_choice,
    check_sequence,
    check_state,
    flat_parameter,
    parameter_tensor,
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
    check_state(state, x)
    check_choice(reset, RESETS, "reset")
    sg = surrogates.get(surrogate)
    if not isinstance(detach_reset, bool):
        raise TypeError(f"detach_reset: expected a bool, got {type(detach_reset).__name__}")
    if not isinstance(record_membrane, bool):
        raise TypeError(f"record_membrane: expected a bool, got {type(record_membrane).__name__}")
    beta_t = parameter_tensor(beta, x, "beta", low=0.0, high=1.0)
    thr_t = parameter_tensor(threshold, x, "threshold")
    name = resolve_backend(backend, x.device)

    acc = accumulation_dtype(x.dtype)
    steps, batch = x.shape[0], x.shape[1]
    features = tuple(x.shape[2:])
    u0 = x.new_zeros((batch, *features), dtype=acc) if state is None else state.to(acc)
    beta_t = beta_t.to(acc)
    thr_t = thr_t.to(acc)

    if name == "torch":
        spikes, u, membrane = lif_reference(x, u0, beta_t, thr_t, reset, sg, detach_reset, record_membrane)
        return LIFResult(spikes, u, membrane)

    n_features = math.prod(features)
    spikes, u, _checkpoints, membrane = lif_native(
        x.reshape(steps, batch, n_features).contiguous(),
        u0.reshape(batch, n_features).contiguous(),
        flat_parameter(beta_t, features, n_features),
        flat_parameter(thr_t, features, n_features),
        RESETS[reset],
        sg.code,
        sg.param,
        detach_reset,
        record_membrane,
    )
    return LIFResult(
        spikes.view(x.shape),
        u.view((batch, *features)),
        membrane.view(x.shape) if record_membrane else None,
    )
