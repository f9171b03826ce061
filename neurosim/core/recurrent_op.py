"""The native recurrent-layer op: torch.library fake (meta) and autograd registrations around
``torch.ops.neurosim.recurrent_forward`` / ``recurrent_backward`` (cuda_kernels/bindings/recurrent_ops.cpp).

The native backward returns dL/d(x_t + rec_t) for every step (which is also dL/dx) and the
recurrent weight's gradient ``dW = sum_t g_t^T s_{t-1}``, formed once over all steps (on the CPU
by adding g_t's rows for the nonzero spikes only) instead of T small products; the bias gradient
is the sum of the first over steps and rows.
"""

from __future__ import annotations

import torch

from neurosim.core.backends import native_built

# Codes shared with cuda_kernels/include/neurosim/recurrent.h (RecurrentCell); per cell the names
# of its parameters and of its state variables after the spikes, in the kernels' order.
CELLS = {"lif": 0, "synaptic": 1, "alif": 2}
CELL_PARAMS = {"lif": ("beta", "threshold"), "synaptic": ("alpha", "beta", "threshold"),
               "alif": ("beta", "rho", "gamma", "threshold")}
CELL_VARIABLES = {"lif": ("mem",), "synaptic": ("syn", "mem"), "alif": ("mem", "adapt")}
_CELL_NAMES = {code: name for name, code in CELLS.items()}


def _fake_forward(x, state0, params, weight, bias, v, cell, reset, surrogate, surrogate_param, detach_reset,
                  keep_trace):
    variables = state0.shape[0] - 1
    steps = x.shape[0] if keep_trace else 0
    return torch.empty_like(x), torch.empty_like(state0), x.new_empty((variables, steps, *x.shape[1:]))


def _fake_backward(grad_spikes, grad_state, grad_trace, spikes, trace, state0, params, weight, v, cell, reset,
                   surrogate, surrogate_param, detach_reset, weight_grad):
    n = spikes.shape[2]
    grad_v = spikes.new_empty((0,) if v is None else (n,))
    grad_weight = spikes.new_empty((n, n) if weight is not None and weight_grad else (0,))
    return torch.empty_like(spikes), torch.empty_like(state0), torch.empty_like(params), grad_v, grad_weight


def _setup_context(ctx, inputs, output):
    x, state0, params, weight, bias, v, cell, reset, surrogate, surrogate_param, detach_reset, keep_trace = inputs
    spikes, _state, trace = output
    ctx.save_for_backward(spikes, trace, state0, params, weight, v)
    ctx.config = (cell, reset, surrogate, surrogate_param, detach_reset)
    ctx.keep_trace = keep_trace
    ctx.has_bias = bias is not None


def _backward(ctx, grad_spikes, grad_state, grad_trace):
    if torch.is_grad_enabled():
        # recurrent_backward has no autograd formula of its own: with create_graph=True its results
        # would come back as constants and every second derivative through the layer as exactly 0
        raise RuntimeError(
            f"neurosim: the native recurrent {_CELL_NAMES[ctx.config[0]]!r} op has no double backward "
            "(create_graph=True asked for gradients of its gradients); run the model with backend='torch', "
            "which supports it"
        )
    spikes, trace, state0, params, weight, v = ctx.saved_tensors
    if not ctx.keep_trace:
        raise RuntimeError("neurosim: recurrent_forward ran with keep_trace=False, so it cannot be differentiated")
    need_weight = weight is not None and ctx.needs_input_grad[3]
    if grad_spikes is None:  # only the state or the trace was used: a free stride-0 zero
        grad_spikes = spikes.new_zeros(()).expand(spikes.shape)
    grad_x, grad_state0, grad_params, grad_v, grad_weight = torch.ops.neurosim.recurrent_backward(
        grad_spikes, grad_state, grad_trace, spikes, trace, state0, params, weight, v, *ctx.config, need_weight
    )
    grad_bias = None
    if not need_weight:
        grad_weight = None
    if ctx.has_bias and ctx.needs_input_grad[4]:
        grad_bias = grad_x.sum((0, 1))
    return (grad_x, grad_state0, grad_params, grad_weight, grad_bias, grad_v if v is not None else None,
            None, None, None, None, None, None)


if native_built():
    torch.library.register_fake("neurosim::recurrent_forward")(_fake_forward)
    torch.library.register_fake("neurosim::recurrent_backward")(_fake_backward)
    torch.library.register_autograd("neurosim::recurrent_forward", _backward, setup_context=_setup_context)


def recurrent_native(x, state0, params, weight, bias, v, cell: int, reset: int, surrogate: int,
                     surrogate_param: float, detach_reset: bool, keep_trace: bool):
    """Runs a recurrent layer over x [T, B, n] (contiguous, float32/float64) from state0 [S, B, n]
    with params [P, n]; weight [n, n] (+ bias [n]) or v [n]. Returns (spikes, state, trace)."""
    return torch.ops.neurosim.recurrent_forward(
        x, state0, params, weight, bias, v, cell, reset, surrogate, surrogate_param, detach_reset, keep_trace
    )
