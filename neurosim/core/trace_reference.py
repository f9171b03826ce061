"""Pure-PyTorch reference of the exponential-trace op (the ``torch`` backend and the tests' oracle).

A plain loop over time with autograd doing the backward pass, so it shares no code with the
native kernels or their hand-written gradient.
"""

from __future__ import annotations

import torch


def exp_trace_reference(x: torch.Tensor, z0: torch.Tensor, decay: torch.Tensor, reverse: bool = False):
    """``z_t = decay * z_{t-1} + x_t`` over x [T, B, *F] from z0 [B, *F] (``reverse``: from the
    last step back, ``z_t = decay * z_{t+1} + x_t``). ``decay`` broadcasts against [B, *F].

    Returns (trace [T, B, *F] in x.dtype, last computed z in z0's dtype).
    """
    z = z0
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    out = [None] * x.shape[0]
    for t in steps:
        z = decay * z + x[t].to(z0.dtype)
        out[t] = z.to(x.dtype)
    return torch.stack(out), z


def stdp_rows_reference(post: torch.Tensor, decay_plus: float, decay_minus: float, ratio: float) -> torch.Tensor:
    """``R - ratio * y`` for post [T, B, *F]: R the reverse-time trace (decay_plus), y the forward
    trace (decay_minus), both from zero; in post's dtype."""
    acc = torch.float64 if post.dtype == torch.float64 else torch.float32
    zeros = post.new_zeros(post.shape[1:], dtype=acc)
    future, _ = exp_trace_reference(post, zeros, torch.tensor(decay_plus, dtype=acc), reverse=True)
    past, _ = exp_trace_reference(post, zeros, torch.tensor(decay_minus, dtype=acc))
    return (future.to(acc) - ratio * past.to(acc)).to(post.dtype)
