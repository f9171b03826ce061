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
