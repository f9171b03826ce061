"""The native LIF op: torch.library fake (meta) and autograd registrations around
``torch.ops.neurosim.lif_forward`` / ``lif_backward`` (defined in cuda_kernels/bindings)."""

from __future__ import annotations

import torch

from neurosim.core.backends import native_built
from neurosim.core.validation import accumulation_dtype

# Must equal kCheckpointEvery in cuda_kernels/include/neurosim/lif.h (opcheck compares shapes).
CHECKPOINT_EVERY = 32


def _fake_forward(x, u0, beta, threshold, reset, surrogate, surrogate_param, detach_reset, record_membrane):
    steps, batch, features = x.shape
    acc = accumulation_dtype(x.dtype)
    chunks = (steps + CHECKPOINT_EVERY - 1) // CHECKPOINT_EVERY
    membrane = torch.empty_like(x) if record_membrane else x.new_empty((0,))
    return (
        torch.empty_like(x),
        x.new_empty((batch, features), dtype=acc),
        x.new_empty((chunks, batch, features), dtype=acc),
        membrane,
    )


def _fake_backward(grad_spikes, grad_u_final, grad_membrane, x, checkpoints, beta, threshold, reset,
                   surrogate, surrogate_param, detach_reset):
    return (
        torch.empty_like(x),
        x.new_empty(x.shape[1:], dtype=accumulation_dtype(x.dtype)),
        torch.empty_like(beta),
        torch.empty_like(threshold),
    )


def _setup_context(ctx, inputs, output):
    x, _u0, beta, threshold, reset, surrogate, surrogate_param, detach_reset, record_membrane = inputs
    checkpoints = output[2]
    ctx.save_for_backward(x, checkpoints, beta, threshold)
    ctx.config = (reset, surrogate, surrogate_param, detach_reset)
    ctx.record_membrane = record_membrane


def _backward(ctx, grad_spikes, grad_u_final, _grad_checkpoints, grad_membrane):
    x, checkpoints, beta, threshold = ctx.saved_tensors
    if grad_spikes is None:  # only the state or the trace was used: a free stride-0 zero
        grad_spikes = x.new_zeros(()).expand(x.shape)
    if not ctx.record_membrane:
        grad_membrane = None
    grad_x, grad_u0, grad_beta, grad_threshold = torch.ops.neurosim.lif_backward(
        grad_spikes, grad_u_final, grad_membrane, x, checkpoints, beta, threshold, *ctx.config
    )
    return grad_x, grad_u0, grad_beta, grad_threshold, None, None, None, None, None


if native_built():
    torch.library.register_fake("neurosim::lif_forward")(_fake_forward)
    torch.library.register_fake("neurosim::lif_backward")(_fake_backward)
    torch.library.register_autograd("neurosim::lif_forward", _backward, setup_context=_setup_context)


def lif_native(x, u0, beta, threshold, reset: int, surrogate: int, surrogate_param: float,
               detach_reset: bool, record_membrane: bool):
    """Runs the fused kernels on x [T, B, F] (contiguous), u0 [B, F], beta/threshold [1] or [F]."""
    return torch.ops.neurosim.lif_forward(
        x, u0, beta, threshold, reset, surrogate, surrogate_param, detach_reset, record_membrane
    )
