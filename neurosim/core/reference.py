"""Pure-PyTorch reference of every op: the ``torch`` backend and the oracle of the tests.

Written step by step with PyTorch autograd doing the backward pass, so it shares no gradient
code with the native kernels; the forward arithmetic follows snnTorch's operation order.
"""

from __future__ import annotations

import torch

from neurosim.surrogate import Surrogate


def lif_reference(
    x: torch.Tensor,
    u0: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    reset: str,
    surrogate: Surrogate,
    detach_reset: bool = True,
    record_membrane: bool = False,
):
    """LIF over all steps of ``x`` [T, B, *F] from membrane ``u0`` [B, *F].

    ``beta`` and ``threshold`` broadcast against [B, *F] and are in the accumulation dtype, as is
    ``u0``. Returns (spikes in x.dtype, final membrane, membrane trace in x.dtype or None).
    """
    acc = u0.dtype
    u = u0
    spikes, trace = [], []
    for x_t in x.unbind(0):
        shift_prev = u - threshold
        if detach_reset:
            r = (shift_prev.detach() > 0).to(acc)
        else:
            r = surrogate(shift_prev)
        x_t = x_t.to(acc)
        if reset == "subtract":
            u = (beta * u + x_t) - r * threshold
        elif reset == "zero":
            u = beta * ((1 - r) * u) + x_t
        else:
            u = beta * u + x_t
        spikes.append(surrogate(u - threshold).to(x.dtype))
        if record_membrane:
            trace.append(u.to(x.dtype))
    membrane = torch.stack(trace) if record_membrane else None
    return torch.stack(spikes), u, membrane


def _reset_signal(shift_prev: torch.Tensor, surrogate: Surrogate, detach_reset: bool, acc: torch.dtype):
    """r_t = H(shift of the previous step): detached (snnTorch's default) or with the surrogate."""
    if detach_reset:
        return (shift_prev.detach() > 0).to(acc)
    return surrogate(shift_prev)


def synaptic_reference(
    x: torch.Tensor,
    syn0: torch.Tensor,
    mem0: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    reset: str,
    surrogate: Surrogate,
    detach_reset: bool = True,
    record: bool = False,
):
    """Synaptic (current-based) LIF in snnTorch's ``Synaptic`` operation order.

    ``syn_t = alpha syn + x_t``, ``b = beta mem + syn_t``; subtract: ``mem_t = b - r thr``,
    zero: ``mem_t = b - b r`` (syn not reset), none: ``mem_t = b``; ``s_t = H(mem_t - thr)``.
    Returns (spikes, syn, mem, syn trace or None, mem trace or None).
    """
    acc = mem0.dtype
    syn, mem = syn0, mem0
    spikes, syn_trace, mem_trace = [], [], []
    for x_t in x.unbind(0):
        r = _reset_signal(mem - threshold, surrogate, detach_reset, acc)
        syn = alpha * syn + x_t.to(acc)
        base = beta * mem + syn
        if reset == "subtract":
            mem = base - r * threshold
        elif reset == "zero":
            mem = base - base * r
        else:
            mem = base
        spikes.append(surrogate(mem - threshold).to(x.dtype))
        if record:
            syn_trace.append(syn.to(x.dtype))
            mem_trace.append(mem.to(x.dtype))
    if not record:
        return torch.stack(spikes), syn, mem, None, None
    return torch.stack(spikes), syn, mem, torch.stack(syn_trace), torch.stack(mem_trace)


def alif_reference(
    x: torch.Tensor,
    u0: torch.Tensor,
    a0: torch.Tensor,
    beta: torch.Tensor,
    rho: torch.Tensor,
    gamma: torch.Tensor,
    threshold: torch.Tensor,
    reset: str,
    surrogate: Surrogate,
    detach_reset: bool = True,
    record: bool = False,
):
    """Adaptive-threshold LIF (Bellec et al.): ``B = thr + gamma a``, ``r_t = H(u_{t-1} - B_{t-1})``,
    ``u_t = beta u + x_t - thr r_t`` (subtract), ``a_t = rho a + r_t``, ``s_t = H(u_t - B_t)``.
    Returns (spikes, u, a, u trace or None, a trace or None)."""
    acc = u0.dtype
    u, a = u0, a0
    spikes, u_trace, a_trace = [], [], []
    for x_t in x.unbind(0):
        r = _reset_signal(u - (threshold + gamma * a), surrogate, detach_reset, acc)
        x_t = x_t.to(acc)
        if reset == "subtract":
            u = (beta * u + x_t) - r * threshold
        elif reset == "zero":
            u = beta * ((1 - r) * u) + x_t
        else:
            u = beta * u + x_t
        a = rho * a + r
        spikes.append(surrogate(u - (threshold + gamma * a)).to(x.dtype))
        if record:
            u_trace.append(u.to(x.dtype))
            a_trace.append(a.to(x.dtype))
    if not record:
        return torch.stack(spikes), u, a, None, None
    return torch.stack(spikes), u, a, torch.stack(u_trace), torch.stack(a_trace)


def li_reference(x: torch.Tensor, u0: torch.Tensor, beta: torch.Tensor):
    """Leaky integrator: ``u_t = beta u_{t-1} + x_t``; returns (u at every step in x.dtype, final u)."""
    acc = u0.dtype
    u = u0
    out = []
    for x_t in x.unbind(0):
        u = beta * u + x_t.to(acc)
        out.append(u.to(x.dtype))
    return torch.stack(out), u
