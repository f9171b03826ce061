"""``neurosim.UltraLIF``, ``UltraPLIF``, ``UltraDLIF`` and ``UltraDPLIF``: module shells around
:func:`neurosim.functional.ultralif` and :func:`neurosim.functional.ultradlif`.

The temperature is learned as in the authors' code: ``eps = exp(l)`` clamped to ``eps_range``
(default [0.1, 20]), ``l`` initialised at ``log(eps)``; one per layer, or one per neuron when
``eps`` is given as a tensor of the feature shape.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from neurosim.core.backends import BACKENDS
from neurosim.core.ultra_reference import RING_FORMS
from neurosim.core.validation import check_choice, check_parameter
from neurosim.functional.ultralif import ultradlif, ultralif

# UltraPLIF keeps tau in [0.01, 0.99], the range of the authors' `tau` property.
LOG_TAU_RANGE = (math.log(0.01), math.log(0.99))
# UltraDPLIF's tau = sigmoid(r) with r in [-12, 12]: tau strictly inside (0, 1) in float32.
LOGIT_TAU_RANGE = (-12.0, 12.0)


class _InwardClamp(torch.autograd.Function):
    """``x.clamp(low, high)`` whose gradient is not dead at the bounds: it passes inside the range,
    and outside it wherever a descent step would move ``x`` back in. (A plain clamp gives exactly 0
    there, so a parameter initialised at a bound, such as ``eps=0.1`` whose ``exp(log 0.1)`` rounds
    below 0.1 in float32, or pushed past one, would never learn again.)"""

    @staticmethod
    def forward(ctx, x, low: float, high: float):
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        inside = (x >= ctx.low) & (x <= ctx.high)
        returns = ((x < ctx.low) & (grad < 0)) | ((x > ctx.high) & (grad > 0))  # descent moves x inward
        return grad * (inside | returns).to(grad.dtype), None, None


def bounded(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Clamps a learned parameter to [low, high] with a gradient that can always bring it back."""
    return _InwardClamp.apply(x, low, high)


def _initial_value(value, name: str, low=None, high=None, open_interval: bool = False) -> torch.Tensor:
    check_parameter(value, name, low, high, always=True)
    tensor = value.detach().clone().float() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
    if open_interval and not bool(((tensor > low) & (tensor < high)).all()):
        raise ValueError(f"{name}: values must lie in ({low}, {high}) (open), got {tensor.tolist()}")
    return tensor


class _UltraNeuron(nn.Module):
    """Parameters and state handling shared by the four Ultra* modules."""

    def __init__(self, tau, eps, theta, learn_eps, backend, learn_tau, learn_theta, eps_range, return_state,
                 record_membrane, tau_used: bool = True):
        super().__init__()
        check_choice(backend, BACKENDS, "backend")
        for flag, name in ((learn_eps, "learn_eps"), (learn_theta, "learn_theta"), (return_state, "return_state"),
                           (record_membrane, "record_membrane")):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}: expected a bool, got {type(flag).__name__}")
        if (not isinstance(eps_range, (tuple, list)) or len(eps_range) != 2
                or not all(isinstance(v, (int, float)) for v in eps_range)
                or not 0 < eps_range[0] < eps_range[1] < math.inf):
            raise ValueError(f"eps_range: expected (low, high) with 0 < low < high < inf, got {eps_range!r}")
        self.eps_range = (float(eps_range[0]), float(eps_range[1]))
        self.learn_eps = learn_eps
        if learn_eps:
            eps_t = _initial_value(eps, "eps", *self.eps_range)
            self.log_eps = nn.Parameter(eps_t.log())
        else:
            eps_t = _initial_value(eps, "eps", 0.0, math.inf, open_interval=True)
            self.register_buffer("fixed_eps", eps_t)
        self.tau_used = tau_used
        if tau_used:
            tau_t = _initial_value(tau, "tau", 0.0, 1.0, open_interval=True)
            if learn_tau:
                self._check_learned_tau(tau_t)
                self.tau_param = nn.Parameter(self._tau_to_param(tau_t))
            else:
                self.register_buffer("fixed_tau", tau_t)
        self.learn_tau = learn_tau and tau_used
        theta_t = _initial_value(theta, "theta")
        if learn_theta:
            self.theta = nn.Parameter(theta_t)
        else:
            self.register_buffer("theta", theta_t)
        self.backend = backend
        self.return_state = return_state
        self.record_membrane = record_membrane

    # The range a learned tau is kept in; subclasses with a learned tau set it.
    LEARNED_TAU_RANGE = (0.0, 1.0)

    def _check_learned_tau(self, tau: torch.Tensor) -> None:
        """A learned tau starts at the value given, so a value its parameterisation would clamp is
        refused rather than silently replaced."""
        low, high = self.LEARNED_TAU_RANGE
        slack = 1e-6  # float32 rounding of the bounds themselves
        outside = (tau < low * (1 - slack)) | (tau > high * (1 + slack))
        if bool(outside.any()):
            raise ValueError(f"tau: {type(self).__name__} learns tau within [{low:.7g}, {high:.7g}] and starts at "
                             f"the value given, got {tau[outside].flatten()[:3].tolist()}; pass a tau in that "
                             "range (or learn_tau is not wanted: use the fixed-tau model)")

    # Subclasses with a learned tau override these two.
    @staticmethod
    def _tau_to_param(tau: torch.Tensor) -> torch.Tensor:
        return tau

    def _param_to_tau(self, param: torch.Tensor) -> torch.Tensor:
        return param

    @property
    def eps(self) -> torch.Tensor:
        """The temperature used in the forward pass."""
        if self.learn_eps:
            # clamped in log space, where the parameter lives, with a gradient alive at the bounds
            return bounded(self.log_eps, math.log(self.eps_range[0]), math.log(self.eps_range[1])).exp()
        return self.fixed_eps

    @property
    def tau(self) -> Optional[torch.Tensor]:
        """The leak used in the forward pass (None when the model has none)."""
        if not self.tau_used:
            return None
        return self._param_to_tau(self.tau_param) if self.learn_tau else self.fixed_tau

    def _finish(self, result):
        if self.return_state or self.record_membrane:
            return result
        return result.spikes

    @staticmethod
    def _describe(t: Optional[torch.Tensor]) -> str:
        if t is None:
            return "None"
        return f"{t.item():.6g}" if t.numel() == 1 else f"tensor{tuple(t.shape)}"

    def extra_repr(self) -> str:
        return (f"tau={self._describe(self.tau)}, eps={self._describe(self.eps)}, "
                f"theta={self._describe(self.theta)}, learn_eps={self.learn_eps}, backend={self.backend!r}")


class UltraLIF(_UltraNeuron):
    """UltraLIF: ``V' = LSE_eps(V + log tau, x)``, ``s = sigmoid((V' - theta)/eps)``,
    ``V = V'(1 - s)`` (see :func:`neurosim.functional.ultralif`). Returns soft spikes in (0, 1)
    of the shape of ``x`` [T, B, *features]; with ``return_state=True`` (or ``record_membrane``)
    an ``UltraResult(spikes, state, membrane)`` whose ``state`` continues the sequence.

    ``tau`` is fixed (0.9 in the paper); ``eps`` is learned (``learn_eps=True``) within
    ``eps_range``, or fixed at any value > 0. ``theta`` is 0 in the authors' library, 1 in their
    eps ablation.
    """

    _learn_tau = False

    def __init__(self, tau=0.9, eps=1.0, theta=0.0, learn_eps: bool = True, backend: str = "auto", *,
                 learn_theta: bool = False, eps_range=(0.1, 20.0), return_state: bool = False,
                 record_membrane: bool = False):
        super().__init__(tau, eps, theta, learn_eps, backend, self._learn_tau, learn_theta, eps_range,
                         return_state, record_membrane)

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None):
        return self._finish(ultralif(x, state, tau=self.tau, eps=self.eps, theta=self.theta,
                                     record_membrane=self.record_membrane, backend=self.backend))


class UltraPLIF(UltraLIF):
    """UltraLIF with a learned leak: ``log tau`` is the parameter (initialised at ``log(tau)``),
    clamped so that tau stays in [0.01, 0.99]."""

    _learn_tau = True
    LEARNED_TAU_RANGE = (0.01, 0.99)

    @staticmethod
    def _tau_to_param(tau: torch.Tensor) -> torch.Tensor:
        return tau.log()

    def _param_to_tau(self, param: torch.Tensor) -> torch.Tensor:
        return bounded(param, *LOG_TAU_RANGE).exp()


class UltraDLIF(_UltraNeuron):
    """UltraDLIF: neurons on a ring along the (flattened) feature axis, each coupled to its two
    neighbours by a three-term soft max (see :func:`neurosim.functional.ultradlif`); needs at least
    3 features.

    ``form="library"`` is the authors' library form (``W = tau V + x``, the soft max read by the
    spike; ``tau`` defaults to 0.9); ``form="ablation"`` is their eps-ablation form
    (``W = LSE(V_{i-1}, V_i, V_{i+1}) + x``, with no leak, so passing ``tau`` is an error; they
    used ``theta=1``).
    """

    _learn_tau = False

    def __init__(self, tau=None, eps=1.0, theta=0.0, learn_eps: bool = True, backend: str = "auto", *,
                 form: str = "library", learn_theta: bool = False, eps_range=(0.1, 20.0),
                 return_state: bool = False, record_membrane: bool = False):
        check_choice(form, RING_FORMS, "form")
        tau_used = self._learn_tau or form == "library"
        if tau is None:
            tau = 0.9
        elif not tau_used:
            raise ValueError("tau: UltraDLIF's ablation form has no leak (the centre term is not scaled); "
                             "leave tau unset, or use UltraDPLIF for a learned centre scale")
        super().__init__(tau, eps, theta, learn_eps, backend, self._learn_tau, learn_theta, eps_range,
                         return_state, record_membrane, tau_used=tau_used)
        self.form = form

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None):
        return self._finish(ultradlif(x, state, tau=self.tau, eps=self.eps, theta=self.theta, form=self.form,
                                      record_membrane=self.record_membrane, backend=self.backend))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", form={self.form!r}"


class UltraDPLIF(UltraDLIF):
    """UltraDLIF with a learned leak ``tau = sigmoid(r)``, ``r`` initialised so that tau starts at
    the given value. (The authors' library initialises ``r`` at 0.9, i.e. tau = 0.711: pass
    ``tau=0.711`` to match it.) In the ablation form tau scales the centre term of the soft max."""

    _learn_tau = True
    LEARNED_TAU_RANGE = (1.0 / (1.0 + math.exp(12.0)), 1.0 / (1.0 + math.exp(-12.0)))

    @staticmethod
    def _tau_to_param(tau: torch.Tensor) -> torch.Tensor:
        return torch.logit(tau)

    def _param_to_tau(self, param: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(bounded(param, *LOGIT_TAU_RANGE))  # tau stays strictly inside (0, 1)
