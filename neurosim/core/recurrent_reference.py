"""Pure-PyTorch reference of the recurrent spiking layers (the ``torch`` backend and the oracle
of the tests): a step loop with autograd doing the backward pass, in snnTorch's operation order
(``RLeaky`` / ``RSynaptic``), so its values are snnTorch's bit for bit.

Cells (``x`` and the recurrent input ``rec_t = W s_{t-1} + b`` or ``V * s_{t-1}``):

* ``lif`` (RLeaky), params (beta, thr), variables (mem):
  ``r = H(mem - thr)``, ``base = beta*mem + x + rec``; subtract ``mem = base - r*thr``,
  zero ``mem = base - r*base``, none ``mem = base``; ``s = H(mem - thr)``.
* ``synaptic`` (RSynaptic), params (alpha, beta, thr), variables (syn, mem):
  ``syn = alpha*syn + x + rec``, ``m = beta*mem + syn``, then the reset on ``m`` as above.
* ``alif`` (recurrent ALIF / LSNN), params (beta, rho, gamma, thr), variables (mem, adapt):
  ``r = H(mem - (thr + gamma*adapt))`` (the previous spike), ``mem`` as for ``lif``,
  ``adapt = rho*adapt + r``, ``s = H(mem - (thr + gamma*adapt))``.

With ``reset_delay=False`` (``lif`` and ``synaptic``, zero or no reset) there is no reset from the
previous step; the zero reset is applied in the step that spikes, ``mem = mem - s*mem``, as
snnTorch's ``reset_delay=False`` and NIR's LIF/CubaLIF do. The native recurrent kernels implement
the delayed reset only, so this form always runs here.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from neurosim.surrogate import Surrogate


def _reset(base, r, thr, reset):
    if reset == "subtract":
        return base - r * thr
    if reset == "zero":
        return base - r * base
    return base


def _undelayed_reset(mem, s, reset, detach_reset, v_reset=None):
    if reset == "none":
        return mem
    s = s.detach() if detach_reset else s
    return mem - s * mem if v_reset is None else mem - s * (mem - v_reset)


def _drive(x_t, rec, input_scale):
    """The neuron's input: the layer input plus the recurrence, times NIR's input scale if set."""
    return x_t + rec if input_scale is None else input_scale * (x_t + rec)


def _leak(m, beta, v_leak):
    return m if v_leak is None else m + (1 - beta) * v_leak


def _previous_spike(z_prev, surrogate, detach_reset):
    return (z_prev.detach() > 0).to(z_prev.dtype) if detach_reset else surrogate(z_prev)


def recurrent_reference(
    cell: str,
    x: torch.Tensor,
    state0: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
    weight: Optional[torch.Tensor],
    bias: Optional[torch.Tensor],
    v: Optional[torch.Tensor],
    reset: str,
    surrogate: Surrogate,
    detach_reset: bool = True,
    reset_delay: bool = True,
    terms: Optional[Sequence[Optional[torch.Tensor]]] = None,
):
    """Runs ``cell`` over all steps of ``x`` [T, B, n] from ``state0`` = (spikes, *variables),
    each [B, n]. ``params`` are the cell's parameters (broadcasting against [B, n]); exactly one of
    ``weight`` ([n, n], with optional ``bias``) and ``v`` ([n] or scalar) gives the recurrence.

    ``terms`` = (v_reset, v_leak, input_scale) (each None or a tensor), with ``reset_delay=False``
    only: NIR's LIF/CubaLIF terms, ``m = beta*mem + (1 - beta)*v_leak + input_scale*(x + rec)``
    (for ``synaptic`` the scaled drive enters the current) and the reset to ``v_reset``.

    Returns (spikes [T, B, n], final state tuple, traces: one [T, B, n] tensor per variable).
    """
    v_reset, v_leak, input_scale = terms if terms is not None else (None, None, None)
    s, *variables = state0
    spikes = []
    traces = [[] for _ in variables]
    for x_t in x.unbind(0):
        rec = F.linear(s, weight, bias) if weight is not None else s * v
        if cell == "lif":
            beta, thr = params
            (mem,) = variables
            if reset_delay:
                r = _previous_spike(mem - thr, surrogate, detach_reset)
                mem = _reset(beta * mem + x_t + rec, r, thr, reset)
                s = surrogate(mem - thr)
            else:
                if input_scale is None and v_leak is None:
                    mem = beta * mem + x_t + rec  # snnTorch's operation order
                else:
                    mem = _leak(beta * mem + _drive(x_t, rec, input_scale), beta, v_leak)
                s = surrogate(mem - thr)
                mem = _undelayed_reset(mem, s, reset, detach_reset, v_reset)
            variables = [mem]
        elif cell == "synaptic":
            alpha, beta, thr = params
            syn, mem = variables
            syn = alpha * syn + x_t + rec if input_scale is None else alpha * syn + _drive(x_t, rec, input_scale)
            if reset_delay:
                r = _previous_spike(mem - thr, surrogate, detach_reset)
                mem = _reset(beta * mem + syn, r, thr, reset)
                s = surrogate(mem - thr)
            else:
                mem = _leak(beta * mem + syn, beta, v_leak)
                s = surrogate(mem - thr)
                mem = _undelayed_reset(mem, s, reset, detach_reset, v_reset)
            variables = [syn, mem]
        elif cell == "alif":
            beta, rho, gamma, thr = params
            mem, adapt = variables
            r = _previous_spike(mem - (thr + gamma * adapt), surrogate, detach_reset)
            mem = _reset(beta * mem + x_t + rec, r, thr, reset)
            adapt = rho * adapt + r
            s = surrogate(mem - (thr + gamma * adapt))
            variables = [mem, adapt]
        else:
            raise ValueError(f"cell: unknown recurrent cell {cell!r}")
        spikes.append(s)
        for trace, value in zip(traces, variables):
            trace.append(value)
    return torch.stack(spikes), (s, *variables), [torch.stack(t) for t in traces]
