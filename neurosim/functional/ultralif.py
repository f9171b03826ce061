"""Whole-sequence Ultra* neurons (Minoza 2026): the spike threshold relaxed through soft
max-plus (log-sum-exp) algebra with temperature ``eps``, so one smooth function serves the
forward and the backward pass (no surrogate gradient).

``ultralif(x, state, ...)`` and ``ultradlif(x, state, ...)`` return
``UltraResult(spikes, state, membrane)``; ``sparsity_penalty`` and ``energy_proxy`` are the
paper's rate regulariser and energy measure.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Sequence, Union

import torch

from neurosim._numbers import finite_number
from neurosim.core import resolve_backend
from neurosim.core.models import ULTRALIF
from neurosim.core.temporal import ScanOptions, run_scan
from neurosim.core.ultra_op import ultradlif_native
from neurosim.core.ultra_reference import RING_FORMS, ultradlif_reference
from neurosim.core.validation import (
    accumulation_dtype,
    check_choice,
    check_flag,
    check_open_interval,
    check_sequence,
    check_state,
    flat_parameter,
    parameter_tensor,
)


class UltraResult(NamedTuple):
    spikes: torch.Tensor
    """Soft spikes in (0, 1), [T, B, *features], dtype of x."""
    state: torch.Tensor
    """Membrane after the last step's reset, [B, *features], float32 (float64 for float64 input)."""
    membrane: Optional[torch.Tensor]
    """The membrane before the reset, [T, B, *features] in the dtype of x, if ``record_membrane``:
    V'_t for UltraLIF, W_t for UltraDLIF (whose spike reads the soft max of W over the ring)."""


def _common_parameters(x, state, eps, theta, record_membrane, backend):
    check_sequence(x)
    check_state(state, x)
    check_flag(record_membrane, "record_membrane")
    eps_t = parameter_tensor(eps, x, "eps")
    # the kernels multiply by 1/eps, which must stay finite in the accumulation dtype
    check_open_interval(eps_t, "eps", 1.0 / torch.finfo(accumulation_dtype(x.dtype)).max, math.inf)
    theta_t = parameter_tensor(theta, x, "theta")
    name = resolve_backend(backend, x.device)
    acc = accumulation_dtype(x.dtype)
    batch, features = x.shape[1], tuple(x.shape[2:])
    v0 = x.new_zeros((batch, *features), dtype=acc) if state is None else state.to(acc)
    return eps_t.to(acc), theta_t.to(acc), v0, name, acc


def _tau_parameter(tau, x, acc) -> torch.Tensor:
    tau_t = parameter_tensor(tau, x, "tau")
    check_open_interval(tau_t, "tau", 0.0, 1.0)
    return tau_t.to(acc)


def ultralif(
    x: torch.Tensor,
    state: Optional[torch.Tensor] = None,
    *,
    tau=0.9,
    eps=1.0,
    theta=0.0,
    record_membrane: bool = False,
    backend: str = "auto",
) -> UltraResult:
    """UltraLIF over all T steps of ``x`` [T, B, *features] in one call.

    With ``LSE_eps(a, b) = eps * log(exp(a/eps) + exp(b/eps))`` (evaluated overflow-free):

    * ``V'_t = LSE_eps(V_{t-1} + log(tau), x_t)``  (the max-plus image of ``tau V + x``)
    * ``s_t = sigmoid((V'_t - theta) / eps)``     (soft spike, also its own gradient)
    * ``V_t = V'_t * (1 - s_t)``                   (soft reset)

    ``log(tau)`` is added unscaled, as in the authors' code. As ``eps -> 0`` the update tends to
    the max-plus (tropical) LIF ``max(V + log tau, x)`` with a hard threshold, within
    ``eps * log 2`` per step.

    Args:
        x: input current, time-major [T, B, *features], float16/bfloat16/float32/float64.
        state: V before the first step, [B, *features] (zeros when None); pass the returned
            state on to continue a sequence.
        tau: leak in (0, 1), number or tensor broadcastable to the feature shape. Gradients flow
            to tensors that require them (UltraPLIF learns it).
        eps: temperature > 0, number or tensor like ``tau`` (one per layer or per neuron).
        theta: threshold (0 in the authors' library, 1 in their eps ablation).
        record_membrane: also return ``V'_t`` at every step.
        backend: "auto", "cuda", "cpp" or "torch".
    """
    eps_t, theta_t, v0, name, acc = _common_parameters(x, state, eps, theta, record_membrane, backend)
    log_tau = torch.log(_tau_parameter(tau, x, acc))

    spikes, (v,), trace = run_scan(ULTRALIF, x, (v0,), (log_tau, eps_t, theta_t), ScanOptions(), record_membrane,
                                   name)
    return UltraResult(spikes, v, trace[0] if record_membrane else None)


def ultradlif(
    x: torch.Tensor,
    state: Optional[torch.Tensor] = None,
    *,
    tau=0.9,
    eps=1.0,
    theta=0.0,
    form: str = "library",
    record_membrane: bool = False,
    backend: str = "auto",
) -> UltraResult:
    """UltraDLIF over all T steps: the neurons of a layer sit on a ring along the (flattened)
    feature axis, each coupled to its two neighbours (wrap-around) by a three-term soft max.

    ``form="library"`` (the authors' library, behind their tables)::

        W_i = tau V_i + x_i;  s_i = sigmoid((LSE_eps(W_{i-1}, W_i, W_{i+1}) - theta)/eps);  V_i = W_i (1 - s_i)

    ``form="ablation"`` (the authors' eps-ablation script and README formula)::

        W_i = LSE_eps(V_{i-1}, tau V_i, V_{i+1}) + x_i;  s_i = sigmoid((W_i - theta)/eps);  V_i = W_i (1 - s_i)

    where the ablation's UltraDLIF has no leak on the centre term: pass ``tau=None`` for that
    (its UltraDPLIF scales the centre term by tau). The ablation used ``theta=1``.

    ``membrane`` (with ``record_membrane``) is ``W_t``. Needs at least 3 features. Other
    arguments as in :func:`ultralif`.
    """
    check_choice(form, RING_FORMS, "form")
    eps_t, theta_t, v0, name, acc = _common_parameters(x, state, eps, theta, record_membrane, backend)
    if tau is None:
        if form != "ablation":
            raise ValueError("tau: None (no leak on the centre term) exists only for form='ablation'")
        tau_t = torch.ones((), dtype=acc, device=x.device)
    else:
        tau_t = _tau_parameter(tau, x, acc)
    steps, batch, features = x.shape[0], x.shape[1], tuple(x.shape[2:])
    n = math.prod(features)
    if n < 3:
        raise ValueError(
            f"x: the ring of UltraDLIF needs at least 3 features (neighbours i-1, i, i+1), got shape {tuple(x.shape)}"
        )
    flat = [flat_parameter(p, features, n) for p in (tau_t, eps_t, theta_t)]
    x_flat = x.reshape(steps, batch, n)
    v0_flat = v0.reshape(batch, n)
    if name == "torch":
        spikes, v, membrane = ultradlif_reference(x_flat, v0_flat, *flat, form, record_membrane)
    else:
        spikes, v, membrane = ultradlif_native(x_flat.contiguous(), v0_flat.contiguous(), *flat, RING_FORMS[form])
    return UltraResult(
        spikes.view(x.shape),
        v.view((batch, *features)),
        membrane.to(x.dtype).view(x.shape) if record_membrane else None,
    )


SpikeTensors = Union[torch.Tensor, Sequence[torch.Tensor]]


def _layers(spikes: SpikeTensors) -> list:
    layers = [spikes] if isinstance(spikes, torch.Tensor) else list(spikes)
    if not layers or not all(isinstance(s, torch.Tensor) for s in layers):
        raise TypeError("spikes: expected a tensor or a non-empty sequence of tensors (one per layer)")
    return layers


def mean_spike_rate(spikes: SpikeTensors) -> torch.Tensor:
    """Mean spike value over neurons, batch and time of each layer, averaged over layers."""
    layers = _layers(spikes)
    return torch.stack([s.float().mean() for s in layers]).mean()


def sparsity_penalty(spikes: SpikeTensors, lam: float = 0.1) -> torch.Tensor:
    """The paper's rate regulariser ``lam * mean spike rate`` (add it to the loss)."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not finite_number(lam) or lam < 0:
        raise ValueError(f"lam: expected a finite number >= 0, got {lam!r}")
    return lam * mean_spike_rate(spikes)


def energy_proxy(spikes: SpikeTensors) -> float:
    """The paper's energy proxy: mean spike rate / 0.5 (1.0 = a network spiking at rate 0.5)."""
    return float(mean_spike_rate(spikes).detach()) / 0.5
