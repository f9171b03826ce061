"""The native exponential-trace op: torch.library fake (meta) and autograd registrations around
``torch.ops.neurosim.exp_trace`` (defined in cuda_kernels/bindings/trace_ops.cpp).

The trace is linear, so its backward pass is the same op run the other way in time: with
``a_t = dL/dz_t`` summed over every later use, ``a`` is the reverse trace of the incoming gradient
(the gradient of the final state added to the last step), ``dL/dx_t = a_t``,
``dL/dz0 = decay * a_first`` and ``dL/ddecay = sum_t a_t z_{t-1}``.
"""

from __future__ import annotations

import torch

from neurosim.core.backends import native_built


def _fake_exp_trace(x, z0, decay, reverse):
    return torch.empty_like(x), torch.empty_like(z0)


def _setup_context(ctx, inputs, output):
    x, z0, decay, reverse = inputs
    trace, _ = output
    ctx.reverse = reverse
    ctx.x_dtype = x.dtype
    ctx.x_shape = x.shape
    ctx.save_for_backward(z0, decay, trace if ctx.needs_input_grad[2] else None)


def _backward(ctx, grad_trace, grad_final):
    z0, decay, trace = ctx.saved_tensors
    reverse = ctx.reverse
    if grad_trace is None:
        grad_trace = z0.new_zeros(ctx.x_shape)
    grad = grad_trace.to(z0.dtype).clone()
    last = 0 if reverse else -1  # the step whose value is also returned as the final state
    if grad_final is not None:
        grad[last] += grad_final
    grad = grad.to(ctx.x_dtype).contiguous()
    a, _ = torch.ops.neurosim.exp_trace(grad, torch.zeros_like(z0), decay, not reverse)
    a = a.to(z0.dtype)
    first = -1 if reverse else 0  # the step that read z0
    grad_x = a.to(ctx.x_dtype) if ctx.needs_input_grad[0] else None
    grad_z0 = decay * a[first] if ctx.needs_input_grad[1] else None
    grad_decay = None
    if ctx.needs_input_grad[2]:
        z = trace.to(z0.dtype)
        previous = torch.cat([z[1:], z0[None]]) if reverse else torch.cat([z0[None], z[:-1]])
        per_feature = (a * previous).sum(dim=(0, 1))
        grad_decay = per_feature.sum().reshape(1) if decay.numel() == 1 else per_feature
    return grad_x, grad_z0, grad_decay, None


def _fake_stdp_rows(post, decay_plus, decay_minus, ratio):
    return torch.empty_like(post)


if native_built():
    torch.library.register_fake("neurosim::exp_trace")(_fake_exp_trace)
    # stdp_rows feeds a plasticity accumulator: no autograd formula.
    torch.library.register_fake("neurosim::stdp_rows")(_fake_stdp_rows)
    torch.library.register_autograd("neurosim::exp_trace", _backward, setup_context=_setup_context)


def exp_trace_native(x: torch.Tensor, z0: torch.Tensor, decay: torch.Tensor, reverse: bool):
    """Runs the fused trace kernel on x [T, B, F] (contiguous), z0 [B, F], decay [1] or [F]."""
    return torch.ops.neurosim.exp_trace(x, z0, decay, reverse)


def stdp_rows_native(post: torch.Tensor, decay_plus: float, decay_minus: float, ratio: float) -> torch.Tensor:
    """``R - ratio * y`` for post [T, B, F] (contiguous) in one kernel call: R the reverse-time trace
    (decay_plus) and y the forward trace (decay_minus) of post, both from zero."""
    return torch.ops.neurosim.stdp_rows(post, decay_plus, decay_minus, ratio)
