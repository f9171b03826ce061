"""Pure-PyTorch reference of the Ultra* ops: the ``torch`` backend and the oracle of the tests.

Written step by step with PyTorch autograd doing the backward pass, so it shares no gradient code
with the native kernels. The soft max is the stable form ``m + eps * log(sum exp((a - m) / eps))``
(exact for any eps > 0: every exponent is <= 0), and ``1 - s`` is evaluated as
``sigmoid(-u)`` so that it keeps its precision when ``s`` rounds to 1.
"""

from __future__ import annotations

from typing import Optional

import torch

RING_FORMS = {"library": 0, "ablation": 1}


def soft_max_plus(terms: list[torch.Tensor], eps: torch.Tensor) -> torch.Tensor:
    """``LSE_eps(a_1..a_n) = eps * log(sum_k exp(a_k / eps))`` in its overflow-free form."""
    stacked = torch.stack(torch.broadcast_tensors(*terms), dim=0)
    peak = stacked.amax(dim=0).detach()  # any shift is exact; detaching keeps autograd simple
    # an infinite peak is not shifted (inf - inf would be NaN): the sum then gives +-inf itself, as
    # the native kernels' two- and three-term forms do (and torch.logsumexp)
    peak = torch.where(torch.isinf(peak), torch.zeros_like(peak), peak)
    return peak + eps * torch.log(torch.exp((stacked - peak) / eps).sum(dim=0))


def ultralif_reference(
    x: torch.Tensor,
    v0: torch.Tensor,
    log_tau: torch.Tensor,
    eps: torch.Tensor,
    theta: torch.Tensor,
    record_membrane: bool = False,
):
    """UltraLIF over all steps of ``x`` [T, B, *F] from ``v0`` [B, *F].

    ``V' = LSE_eps(V + log_tau, I)``, ``s = sigmoid((V' - theta)/eps)``, ``V = V' (1 - s)``.
    Parameters broadcast against [B, *F] and are in the accumulation dtype, as is ``v0``.
    Returns (soft spikes in x.dtype, final state, trace of V' in x.dtype or None).
    """
    acc = v0.dtype
    v = v0
    spikes, trace = [], []
    for current in x.unbind(0):
        v_new = soft_max_plus([v + log_tau, current.to(acc)], eps)
        u = (v_new - theta) / eps
        spikes.append(torch.sigmoid(u).to(x.dtype))
        v = v_new * torch.sigmoid(-u)
        if record_membrane:
            trace.append(v_new.to(x.dtype))
    return torch.stack(spikes), v, (torch.stack(trace) if record_membrane else None)


def ultradlif_reference(
    x: torch.Tensor,
    v0: torch.Tensor,
    tau: torch.Tensor,
    eps: torch.Tensor,
    theta: torch.Tensor,
    form: str = "library",
    record_membrane: bool = False,
):
    """UltraDLIF over all steps of ``x`` [T, B, N], neurons on a ring along the last axis.

    library:  ``W = tau V + I``; ``s = sigmoid((LSE(W_{i-1}, W_i, W_{i+1}) - theta)/eps)``
    ablation: ``W = LSE(V_{i-1}, tau V_i, V_{i+1}) + I``; ``s = sigmoid((W - theta)/eps)``
    and in both ``V = W (1 - s)``. Parameters broadcast against [B, N]; returns (soft spikes in
    x.dtype, final state, trace of W in the accumulation dtype or None).
    """
    if form not in RING_FORMS:
        raise ValueError(f"form: expected one of {tuple(RING_FORMS)}, got {form!r}")
    acc = v0.dtype
    v = v0
    spikes, trace = [], []
    for current in x.unbind(0):
        current = current.to(acc)
        if form == "library":
            w = tau * v + current
            read = soft_max_plus([w.roll(1, -1), w, w.roll(-1, -1)], eps)
        else:
            w = soft_max_plus([v.roll(1, -1), tau * v, v.roll(-1, -1)], eps) + current
            read = w
        u = (read - theta) / eps
        spikes.append(torch.sigmoid(u).to(x.dtype))
        v = w * torch.sigmoid(-u)
        if record_membrane:
            trace.append(w)
    membrane: Optional[torch.Tensor] = torch.stack(trace) if record_membrane else None
    return torch.stack(spikes), v, membrane
