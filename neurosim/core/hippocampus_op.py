"""The hippocampal layer step: one call advances one layer of the theta-gated Helmholtz model
(George et al., NeurIPS 2023) by one time step for S simulations at once — OU dendritic noise,
dendritic rates, theta-gated soma, dendritic prediction errors, plasticity-induction traces and
weight updates, all fused. The matrix products that make the dendritic potentials happen
outside (torch.bmm), because they change every step.

Backends: ``torch.ops.neurosim.hippocampus_layer_step`` (cpp / cuda, in-place on ``noise`` and
the plastic weights and traces) and the pure-PyTorch reference
(neurosim/core/hippocampus_reference.py). The op carries no autograd: learning here is local,
not by gradients, and inputs that require grad are refused.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from neurosim.core.backends import native_built, resolve_backend
from neurosim.core.hippocampus_reference import LINEAR, RETANH, hippocampus_layer_step_reference

DENDRITES = {"linear": LINEAR, "retanh": RETANH}


class CompartmentConstants(NamedTuple):
    """Per-step constants of one dendritic compartment (see hippocampus.h).

    noise_keep = 1 - dt / tau_noise and noise_kick = sd * sqrt(2 dt / tau_noise) make the OU update;
    noise_gain (0 or 1) says whether the noise is added to the rate; eta, l1, l2 drive learning
    (eta = 0: the compartment's weights stay fixed)."""

    noise_keep: float
    noise_kick: float
    noise_gain: float
    eta: float
    l1: float
    l2: float
    dendrite: int

    @classmethod
    def make(cls, *, dt: float, noise_sd: float, noise_tau: float, eta: float, l1: float = 0.0,
             l2: float = 0.0, dendrite: str = "linear", add_noise: bool = True):
        for name, value in (("dt", dt), ("noise_sd", noise_sd), ("noise_tau", noise_tau), ("eta", eta),
                            ("l1", l1), ("l2", l2)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {value!r}")
        if dt <= 0:
            raise ValueError(f"dt: must be > 0, got {dt}")
        if noise_tau <= dt:
            raise ValueError(f"noise_tau: must exceed dt={dt} for a stable OU update, got {noise_tau}")
        if noise_sd < 0 or eta < 0 or l1 < 0 or l2 < 0:
            raise ValueError("noise_sd, eta, l1 and l2 must be >= 0, got "
                             f"noise_sd={noise_sd}, eta={eta}, l1={l1}, l2={l2}")
        if dendrite not in DENDRITES:
            raise ValueError(f"dendrite: expected one of {tuple(DENDRITES)}, got {dendrite!r}")
        return cls(1.0 - dt / noise_tau, noise_sd * math.sqrt(2.0 * dt / noise_tau), 1.0 if add_noise else 0.0,
                   float(eta), float(l1), float(l2), DENDRITES[dendrite])

    def params(self) -> list[float]:
        return [self.noise_keep, self.noise_kick, self.noise_gain, self.eta, self.l1, self.l2]


def _fake_step(v_basal, v_apical, noise, draws, w_basal, trace_basal, x_basal, w_apical, trace_apical,
               x_apical, apical_fraction, pi_rate, basal_params, apical_params, basal_dendrite,
               apical_dendrite):
    sims, neurons = v_basal.shape
    return v_basal.new_empty((3, sims, neurons))


if native_built():
    torch.library.register_fake("neurosim::hippocampus_layer_step")(_fake_step)


def _check_tensor(t, name, shape, ref):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.dtype != ref.dtype:
        raise TypeError(f"{name}: expected dtype {ref.dtype} (that of v_basal), got {t.dtype}")
    if t.device != ref.device:
        raise ValueError(f"{name}: is on {t.device} but v_basal is on {ref.device}")
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(t.shape)}")
    if t.requires_grad:
        raise ValueError(f"{name}: requires grad, but the hippocampal step learns locally and has no autograd")


def check_layer_step(v_basal, v_apical, noise, draws, w_basal, trace_basal, x_basal, w_apical,
                     trace_apical, x_apical, apical_fraction, pi_rate, basal: CompartmentConstants,
                     apical: CompartmentConstants) -> None:
    """Clear Python errors for every argument of the layer step (shapes, dtypes, devices, ranges)."""
    if not isinstance(v_basal, torch.Tensor):
        raise TypeError(f"v_basal: expected a torch.Tensor, got {type(v_basal).__name__}")
    if v_basal.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"v_basal: the hippocampal step runs in float32 or float64, got {v_basal.dtype}")
    if v_basal.dim() != 2:
        raise ValueError(f"v_basal: expected [S, N] (simulations, neurons), got shape {tuple(v_basal.shape)}")
    sims, neurons = v_basal.shape
    _check_tensor(v_basal, "v_basal", (sims, neurons), v_basal)
    _check_tensor(v_apical, "v_apical", (sims, neurons), v_basal)
    _check_tensor(noise, "noise", (2, sims, neurons), v_basal)
    _check_tensor(draws, "draws", (2, sims, neurons), v_basal)
    for name, w, trace, x in (("basal", w_basal, trace_basal, x_basal), ("apical", w_apical, trace_apical, x_apical)):
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise ValueError(f"x_{name}: expected an [S, inputs] tensor")
        _check_tensor(x, f"x_{name}", (sims, x.shape[1]), v_basal)
        if not isinstance(w, torch.Tensor) or w.dim() != 3 or w.shape[-1] not in (x.shape[1], x.shape[1] + 1):
            raise ValueError(f"w_{name}: expected [S={sims}, N={neurons}, {x.shape[1]}] or with one extra bias "
                             f"column, got {tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__}")
        _check_tensor(w, f"w_{name}", (sims, neurons, w.shape[-1]), v_basal)
        _check_tensor(trace, f"trace_{name}", tuple(w.shape), v_basal)
    for name, value, low, high in (("apical_fraction", apical_fraction, 0.0, 1.0), ("pi_rate", pi_rate, 0.0, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{name}: must lie in [{low}, {high}], got {value}")
    for name, consts in (("basal", basal), ("apical", apical)):
        if not isinstance(consts, CompartmentConstants):
            raise TypeError(f"{name}: expected CompartmentConstants, got {type(consts).__name__}")
        if not all(math.isfinite(v) for v in consts.params()):
            raise ValueError(f"{name}: contains NaN or inf: {consts}")


def layer_step_fn(backend: str, device: torch.device):
    """The raw step function for ``backend`` on ``device`` (resolved once, called every step)."""
    resolved = resolve_backend(backend, device)
    if resolved == "torch":
        return hippocampus_layer_step_reference
    return torch.ops.neurosim.hippocampus_layer_step


def hippocampus_layer_step(v_basal, v_apical, noise, draws, w_basal, trace_basal, x_basal, w_apical,
                           trace_apical, x_apical, *, apical_fraction: float, pi_rate: float,
                           basal: CompartmentConstants, apical: CompartmentConstants,
                           backend: str = "auto") -> torch.Tensor:
    """One validated layer step; returns rates [3, S, N] (basal, apical, soma) and updates ``noise``,
    the weights and the traces of compartments with eta > 0 in place. ``apical_fraction`` is the
    weight of the apical compartment at the soma (0 = wake, basal drives; 1 = sleep, apical drives)."""
    check_layer_step(v_basal, v_apical, noise, draws, w_basal, trace_basal, x_basal, w_apical, trace_apical,
                     x_apical, apical_fraction, pi_rate, basal, apical)
    tensors = [t.contiguous() for t in (v_basal, v_apical, draws, x_basal, x_apical)]
    for name, t in (("noise", noise), ("w_basal", w_basal), ("trace_basal", trace_basal), ("w_apical", w_apical),
                    ("trace_apical", trace_apical)):
        if not t.is_contiguous():
            raise ValueError(f"{name}: is updated in place and must be contiguous")
    fn = layer_step_fn(backend, v_basal.device)
    return fn(tensors[0], tensors[1], noise, tensors[2], w_basal, trace_basal, tensors[3], w_apical, trace_apical,
              tensors[4], float(apical_fraction), float(pi_rate), basal.params(), apical.params(), basal.dendrite,
              apical.dendrite)
