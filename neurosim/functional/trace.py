"""Whole-sequence exponential traces: ``exp_trace(x, state, decay=...) -> (trace, state)``."""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

from neurosim.core import resolve_backend
from neurosim.core.trace_op import exp_trace_native
from neurosim.core.trace_reference import exp_trace_reference
from neurosim.core.validation import accumulation_dtype, check_sequence, check_state, parameter_tensor


class TraceResult(NamedTuple):
    trace: torch.Tensor
    """[T, B, *features], the trace after every step, in the dtype of x."""
    state: torch.Tensor
    """The trace after the last step computed, [B, *features], float32 (float64 for float64 x)."""


def exp_trace(
    x: torch.Tensor,
    state: Optional[torch.Tensor] = None,
    *,
    decay,
    reverse: bool = False,
    backend: str = "auto",
) -> TraceResult:
    """Exponential trace ``z_t = decay * z_{t-1} + x_t`` over all T steps of ``x`` in one call.

    With ``decay = exp(-dt / tau)`` and ``x`` a spike train this is the all-to-all trace of
    pair-based STDP (each spike adds 1, the sum decays with time constant ``tau``).
    ``reverse=True`` runs from the last step back, ``z_t = decay * z_{t+1} + x_t``: the discounted
    sum of the future, used for reward-modulated eligibility traces.

    Args:
        x: input, time-major [T, B, *features], float16/bfloat16/float32/float64.
        state: trace before the first step (after the last one when ``reverse``), [B, *features];
            zeros when None. Pass the returned ``state`` to the next call to stream a sequence.
        decay: per-step decay in [0, 1]; a number or a tensor broadcastable to the feature shape.
        reverse: run backward in time.
        backend: "auto", "cuda", "cpp" or "torch".

    Gradients flow to ``x``, ``state`` and a ``decay`` tensor that requires them.
    """
    check_sequence(x)
    check_state(state, x)
    if not isinstance(reverse, bool):
        raise TypeError(f"reverse: expected a bool, got {type(reverse).__name__}")
    decay_t = parameter_tensor(decay, x, "decay", low=0.0, high=1.0)
    name = resolve_backend(backend, x.device)

    acc = accumulation_dtype(x.dtype)
    steps, batch = x.shape[0], x.shape[1]
    features = tuple(x.shape[2:])
    z0 = x.new_zeros((batch, *features), dtype=acc) if state is None else state.to(acc)
    decay_t = decay_t.to(acc)
    if name == "torch":
        return TraceResult(*exp_trace_reference(x, z0, decay_t, reverse))

    n_features = math.prod(features)
    flat_decay = decay_t.reshape(1) if decay_t.numel() == 1 else decay_t.expand(features).reshape(n_features)
    trace, z = exp_trace_native(
        x.reshape(steps, batch, n_features).contiguous(),
        z0.reshape(batch, n_features).contiguous(),
        flat_decay.contiguous(),
        reverse,
    )
    return TraceResult(trace.view(x.shape), z.view((batch, *features)))
