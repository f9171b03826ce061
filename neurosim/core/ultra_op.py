"""The native Ultra* ops: torch.library fake (meta) and autograd registrations around
``torch.ops.neurosim.ultralif_forward/backward`` and ``ultradlif_forward/backward``
(defined in cuda_kernels/bindings/ultra_ops.cpp)."""

from __future__ import annotations

import torch

from neurosim.core.backends import native_built
from neurosim.core.lif_op import CHECKPOINT_EVERY
from neurosim.core.validation import accumulation_dtype


def _free_zeros(x):
    """A stride-0 zero gradient, for outputs that did not reach the loss."""
    return x.new_zeros(()).expand(x.shape)


# ---- UltraLIF ---------------------------------------------------------------------------------

def _ultralif_fake_forward(x, v0, log_tau, eps, theta, record_membrane):
    steps, batch, features = x.shape
    acc = accumulation_dtype(x.dtype)
    chunks = (steps + CHECKPOINT_EVERY - 1) // CHECKPOINT_EVERY
    return (
        torch.empty_like(x),
        x.new_empty((batch, features), dtype=acc),
        x.new_empty((chunks, batch, features), dtype=acc),
        torch.empty_like(x) if record_membrane else x.new_empty((0,)),
    )


def _ultralif_fake_backward(grad_spikes, grad_v_final, grad_membrane, x, checkpoints, log_tau, eps, theta):
    return (
        torch.empty_like(x),
        x.new_empty(x.shape[1:], dtype=accumulation_dtype(x.dtype)),
        torch.empty_like(log_tau),
        torch.empty_like(eps),
        torch.empty_like(theta),
    )


def _ultralif_setup_context(ctx, inputs, output):
    x, _v0, log_tau, eps, theta, record_membrane = inputs
    ctx.save_for_backward(x, output[2], log_tau, eps, theta)
    ctx.record_membrane = record_membrane


def _ultralif_backward(ctx, grad_spikes, grad_v_final, _grad_checkpoints, grad_membrane):
    x, checkpoints, log_tau, eps, theta = ctx.saved_tensors
    if grad_spikes is None:
        grad_spikes = _free_zeros(x)
    if not ctx.record_membrane:
        grad_membrane = None
    grads = torch.ops.neurosim.ultralif_backward(
        grad_spikes, grad_v_final, grad_membrane, x, checkpoints, log_tau, eps, theta
    )
    return (*grads, None)


# ---- UltraDLIF --------------------------------------------------------------------------------

def _ultradlif_fake_forward(x, v0, tau, eps, theta, form):
    return torch.empty_like(x), torch.empty_like(v0), x.new_empty(x.shape, dtype=accumulation_dtype(x.dtype))


def _ultradlif_fake_backward(grad_spikes, grad_v_final, grad_membrane, x, v0, membrane, tau, eps, theta, form):
    return (
        torch.empty_like(x),
        torch.empty_like(v0),
        torch.empty_like(tau),
        torch.empty_like(eps),
        torch.empty_like(theta),
    )


def _ultradlif_setup_context(ctx, inputs, output):
    x, v0, tau, eps, theta, form = inputs
    ctx.save_for_backward(x, v0, output[2], tau, eps, theta)
    ctx.form = form


def _ultradlif_backward(ctx, grad_spikes, grad_v_final, grad_membrane):
    x, v0, membrane, tau, eps, theta = ctx.saved_tensors
    if grad_spikes is None:
        grad_spikes = _free_zeros(x)
    grads = torch.ops.neurosim.ultradlif_backward(
        grad_spikes, grad_v_final, grad_membrane, x, v0, membrane, tau, eps, theta, ctx.form
    )
    return (*grads, None)


if native_built():
    torch.library.register_fake("neurosim::ultralif_forward")(_ultralif_fake_forward)
    torch.library.register_fake("neurosim::ultralif_backward")(_ultralif_fake_backward)
    torch.library.register_autograd(
        "neurosim::ultralif_forward", _ultralif_backward, setup_context=_ultralif_setup_context
    )
    torch.library.register_fake("neurosim::ultradlif_forward")(_ultradlif_fake_forward)
    torch.library.register_fake("neurosim::ultradlif_backward")(_ultradlif_fake_backward)
    torch.library.register_autograd(
        "neurosim::ultradlif_forward", _ultradlif_backward, setup_context=_ultradlif_setup_context
    )


def ultralif_native(x, v0, log_tau, eps, theta, record_membrane: bool):
    """Fused UltraLIF on x [T, B, F] (contiguous), v0 [B, F], parameters [1] or [F]."""
    return torch.ops.neurosim.ultralif_forward(x, v0, log_tau, eps, theta, record_membrane)


def ultradlif_native(x, v0, tau, eps, theta, form: int):
    """Fused UltraDLIF on x [T, B, N] (contiguous, N >= 3), v0 [B, N], parameters [1] or [N]."""
    return torch.ops.neurosim.ultradlif_forward(x, v0, tau, eps, theta, form)
