"""Pure-PyTorch references of the Phased LSTM time gate (Neil, Pfeiffer & Liu, NIPS 2016).

Written as literal transcriptions of the paper's equations, step by step, with PyTorch autograd
doing every backward pass: they share no code with the fast paths in
:mod:`neurosim.core.phased_lstm_op` and :mod:`neurosim.functional.phased`, and the tests use
them as the oracle.
"""

from __future__ import annotations

from typing import Callable

import torch


def time_gate_reference(times, tau, shift, r_on, alpha=0.0):
    """The paper's eq. (1)-(2): ``phi = ((t - s) mod tau) / tau`` with the floor modulus
    (``a mod b = a - b*floor(a/b)``, in [0, b) for every sign of ``a``), then

    * ``k = 2 phi / r_on``       if ``phi < r_on / 2``
    * ``k = 2 - 2 phi / r_on``   if ``r_on / 2 <= phi < r_on``
    * ``k = alpha * phi``        otherwise.

    ``times[...]`` against per-unit ``tau``, ``shift``, ``r_on`` of shape [units] gives ``k[..., units]``.
    """
    t = times.unsqueeze(-1).to(tau.dtype)
    a = t - shift
    phi = (a - tau * torch.floor(a / tau)) / tau
    rising = 2 * phi / r_on
    falling = 2 - 2 * phi / r_on
    closed = alpha * phi
    return torch.where(phi < r_on / 2, rising, torch.where(phi < r_on, falling, closed))


def phased_lstm_reference(x, k, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """The Phased LSTM cell over x [T, B, I] with the gate k [T, B, H], one step at a time:

    ``c~ = f*c + i*g``, ``h~ = o*tanh(c~)`` (torch.nn.LSTM's cell, gate order i, f, g, o), then
    ``c_t = k_t*c~ + (1 - k_t)*c_{t-1}`` and ``h_t = k_t*h~ + (1 - k_t)*h_{t-1}``.
    Returns (outputs h [T, B, H], h_T, c_T).
    """
    h, c = h0, c0
    outputs = []
    for t in range(x.shape[0]):
        gates = x[t] @ weight_ih.T + h @ weight_hh.T
        if bias_ih is not None:
            gates = gates + bias_ih + bias_hh
        i, f, g, o = gates.chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_tilde = f * c + i * g
        h_tilde = o * torch.tanh(c_tilde)
        c = k[t] * c_tilde + (1 - k[t]) * c
        h = k[t] * h_tilde + (1 - k[t]) * h
        outputs.append(h)
    return torch.stack(outputs), h, c


def phased_scan_reference(update: Callable, emit: Callable, x, k, is_open, state, spiking: bool = True):
    """A time-gated neuron over x [T, B, ...]: ``u_t = k_t*update(u_{t-1}, x_t) + (1 - k_t)*u_{t-1}``
    (for every tensor of the state), output ``emit(u_t)``, masked to zero outside the open phase
    (``is_open`` [T, B, ...], boolean) when the neuron spikes. Returns (outputs [T, ...], final state)."""
    single = isinstance(state, torch.Tensor)
    outputs = []
    for t in range(x.shape[0]):
        candidate = update(state, x[t])
        if single:
            state = k[t] * candidate + (1 - k[t]) * state
        else:
            state = tuple(k[t] * new + (1 - k[t]) * old for new, old in zip(candidate, state))
        out = emit(state)
        if spiking:
            out = out * is_open[t].to(out.dtype)
        outputs.append(out)
    return torch.stack(outputs), state


def time_gate_from_times(times, x_dim: int, tau, shift, r_on, alpha):
    """The gate and the open phase of every step, batch element and neuron, in the operation order
    of :func:`neurosim.functional.time_gate` (``torch.remainder``, then ``1 - |2 phi / r_on - 1|``
    inside the open phase, ``alpha * phi`` outside), broadcast for x [T, B, *F]: ``times`` [T] or
    [T, B] gains trailing unit axes, the parameters broadcast against [B, *F]. A NaN timestamp
    marks a padding step (past the sequence's length): its gate is ``k*0`` and closed, as the
    step-by-step path masks it (the gate itself is computed at t = 0 there, so that no NaN
    reaches a gradient)."""
    t = times.reshape(tuple(times.shape) + (1,) * (x_dim - times.dim()))
    inside = ~torch.isnan(t)
    t = torch.where(inside, t, torch.zeros_like(t))
    phi = torch.remainder(t - shift, tau) / tau
    is_open = phi < r_on
    k = torch.where(is_open, 1 - torch.abs(2 * phi / r_on - 1), alpha * phi)
    return k * inside.to(k.dtype), is_open & inside


def phased_model_reference(inner_reference: Callable, emit: Callable, spiking: bool, n_inner: int, n_recorded: int):
    """The reference of a phased model of the generic scan (a ScanModel's ``reference``): the inner
    model's own reference advanced one step at a time gives the candidate state, then
    ``state_t = k_t*candidate + (1 - k_t)*state_{t-1}`` for every state variable and
    ``out_t = emit(state_t)``, zero outside the open phase for a spiking model; the recorded
    values are the first ``n_recorded`` blended state variables (the inner model records its state,
    or nothing). ``params`` are the inner model's, then tau, shift, r_on, alpha."""

    def reference(x, state, params, options, record, times):
        inner_params, (tau, shift, r_on, alpha) = params[:n_inner], params[n_inner:]
        k, is_open = time_gate_from_times(times, x.dim(), tau, shift, r_on, alpha)
        outputs, recorded = [], []
        for t in range(x.shape[0]):
            candidate = inner_reference(x[t:t + 1], state, inner_params, options, False)[1]
            state = tuple(k[t] * new + (1 - k[t]) * old for new, old in zip(candidate, state))
            out = emit(state, inner_params, options)
            if spiking:
                out = out * is_open[t].to(out.dtype)
            outputs.append(out.to(x.dtype))
            if record and n_recorded:
                recorded.append(state[:n_recorded])
        traces = tuple(torch.stack(r).to(x.dtype) for r in zip(*recorded)) if record and n_recorded else None
        return torch.stack(outputs), state, traces

    return reference
