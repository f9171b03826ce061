"""Pure-PyTorch reference of the hippocampal layer step (the native op's specification).

It mutates ``noise``, the weights and the plasticity traces in place, exactly like
``torch.ops.neurosim.hippocampus_layer_step``, and returns the rates ``[3, S, N]``
(basal, apical, soma). See cuda_kernels/include/neurosim/hippocampus.h for the equations.
"""

from __future__ import annotations

import torch

LINEAR, RETANH = 0, 1
# Order of the per-compartment float[] arguments (HippocampusParam in hippocampus.h).
PARAM_NAMES = ("noise_keep", "noise_kick", "noise_gain", "eta", "l1", "l2")


def _rate_and_slope(v: torch.Tensor, dendrite: int):
    if dendrite == RETANH:
        t = torch.tanh(v)
        positive = v > 0
        return torch.where(positive, t, torch.zeros_like(v)), torch.where(positive, 1 - t * t, torch.zeros_like(v))
    return v, torch.ones_like(v)


def _learn(w, trace, x, err, pi_rate, params):
    _, _, _, eta, l1, l2 = params
    if eta == 0 or w.shape[-1] == 0:
        return
    pre = x
    if w.shape[-1] == x.shape[-1] + 1:  # trailing bias column: presynaptic rate 1
        pre = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    induced = err.unsqueeze(-1) * pre.unsqueeze(-2)
    trace.copy_((1 - pi_rate) * trace + pi_rate * induced)
    w.copy_(w + eta * (trace - l2 * w - l1 * torch.sign(w)))


def hippocampus_layer_step_reference(v_basal, v_apical, noise, draws, w_basal, trace_basal, x_basal,
                                     w_apical, trace_apical, x_apical, apical_fraction: float,
                                     pi_rate: float, basal_params, apical_params, basal_dendrite: int,
                                     apical_dendrite: int) -> torch.Tensor:
    rates = []
    errors = []
    for c, (v, params, dendrite) in enumerate(((v_basal, basal_params, basal_dendrite),
                                                (v_apical, apical_params, apical_dendrite))):
        keep, kick, gain = params[0], params[1], params[2]
        noise[c].copy_(keep * noise[c] + kick * draws[c])
        rate, slope = _rate_and_slope(v, dendrite)
        rates.append(rate + gain * noise[c])
        errors.append(slope)
    soma = (1 - apical_fraction) * rates[0] + apical_fraction * rates[1]
    err_basal = (soma - rates[0]) * errors[0]
    err_apical = (soma - rates[1]) * errors[1]
    _learn(w_basal, trace_basal, x_basal, err_basal, pi_rate, basal_params)
    _learn(w_apical, trace_apical, x_apical, err_apical, pi_rate, apical_params)
    return torch.stack([rates[0], rates[1], soma])
