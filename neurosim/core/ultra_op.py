"""The native UltraDLIF (ring) op: torch.library fake (meta) and autograd registrations around
``torch.ops.neurosim.ultradlif_forward/backward`` (defined in cuda_kernels/bindings/ultra_ops.cpp).
UltraLIF runs on the generic scan (neurosim/core/temporal.py)."""

from __future__ import annotations

import torch

from neurosim.core.backends import native_built
from neurosim.core.validation import accumulation_dtype


def _free_zeros(x):
    """A stride-0 zero gradient, for outputs that did not reach the loss."""
    return x.new_zeros(()).expand(x.shape)


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
    if torch.is_grad_enabled():
        raise RuntimeError(
            "neurosim: the native 'ultradlif' op has no double backward (create_graph=True asked for "
            "gradients of its gradients); run the model with backend='torch', which supports it"
        )
    x, v0, membrane, tau, eps, theta = ctx.saved_tensors
    if grad_spikes is None:
        grad_spikes = _free_zeros(x)
    grads = torch.ops.neurosim.ultradlif_backward(
        grad_spikes, grad_v_final, grad_membrane, x, v0, membrane, tau, eps, theta, ctx.form
    )
    return (*grads, None)


if native_built():
    torch.library.register_fake("neurosim::ultradlif_forward")(_ultradlif_fake_forward)
    torch.library.register_fake("neurosim::ultradlif_backward")(_ultradlif_fake_backward)
    torch.library.register_autograd(
        "neurosim::ultradlif_forward", _ultradlif_backward, setup_context=_ultradlif_setup_context
    )


def ultradlif_native(x, v0, tau, eps, theta, form: int):
    """Fused UltraDLIF on x [T, B, N] (contiguous, N >= 3), v0 [B, N], parameters [1] or [N]."""
    return torch.ops.neurosim.ultradlif_forward(x, v0, tau, eps, theta, form)
