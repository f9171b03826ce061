"""Surrogate gradients of the Heaviside spike.

The forward pass of every spiking neuron is the Heaviside step ``S = H(U - threshold)`` with
``H(0) = 0``; its derivative is replaced in the backward pass by one of these functions of
``x = U - threshold``. The formulas are snnTorch's (``snntorch.surrogate``), so gradients can be
compared one to one:

=================  ==========================================  =====================
name               dS/dU                                       parameter (default)
=================  ==========================================  =====================
fast_sigmoid       1 / (1 + k|x|)^2                            slope k (25)
atan               (a/2) / (1 + (pi a x / 2)^2)                alpha a (2)
sigmoid            k e^{-kx} / (1 + e^{-kx})^2                 slope k (25)
triangle           max(0, 1 - |x|/w) / w                       width w (1)
triangular         +c for x < 0, -c for x >= 0 (snnTorch's)    scale c (1)
straight_through   1                                           none
=================  ==========================================  =====================

``triangle`` is the usual triangular window (unit area). ``triangular`` reproduces snnTorch's
function of that name exactly, sign flip included, for comparisons with snnTorch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neurosim._numbers import finite_number

__all__ = [
    "Surrogate",
    "fast_sigmoid",
    "atan",
    "sigmoid",
    "triangle",
    "triangular",
    "straight_through",
    "get",
    "NAMES",
]

# Codes shared with cuda_kernels/include/neurosim/surrogate.h (SurrogateKind).
_CODES = {
    "fast_sigmoid": 0,
    "atan": 1,
    "sigmoid": 2,
    "triangle": 3,
    "triangular": 4,
    "straight_through": 5,
}
_DEFAULTS = {
    "fast_sigmoid": 25.0,
    "atan": 2.0,
    "sigmoid": 25.0,
    "triangle": 1.0,
    "triangular": 1.0,
    "straight_through": 1.0,
}
NAMES = tuple(_CODES)


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate derivative with its one shape parameter.

    Calling it on ``x = U - threshold`` returns Heaviside spikes whose gradient is
    :meth:`grad`, like the functions of ``snntorch.surrogate``.
    """

    name: str
    param: float

    def __post_init__(self):
        if self.name not in _CODES:
            raise ValueError(f"surrogate: unknown name {self.name!r}; expected one of {NAMES}")
        if not isinstance(self.param, (int, float)) or not finite_number(self.param):
            raise ValueError(f"surrogate {self.name}: parameter must be a finite number, got {self.param!r}")
        if self.name in ("fast_sigmoid", "atan", "sigmoid", "triangle") and self.param <= 0:
            raise ValueError(f"surrogate {self.name}: parameter must be > 0, got {self.param!r}")
        object.__setattr__(self, "param", float(self.param))

    @property
    def code(self) -> int:
        return _CODES[self.name]

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """dS/dU evaluated at ``x = U - threshold`` (same dtype as x)."""
        p = self.param
        if self.name == "fast_sigmoid":
            d = p * x.abs() + 1.0
            return 1.0 / (d * d)
        if self.name == "atan":
            z = (math.pi / 2) * p * x
            return (p / 2) / (1.0 + z * z)
        if self.name == "sigmoid":
            e = torch.exp(-p * x.abs())  # symmetric form: never overflows
            return p * e / ((1.0 + e) * (1.0 + e))
        if self.name == "triangle":
            return torch.clamp(1.0 - x.abs() / p, min=0.0) / p
        if self.name == "triangular":
            return torch.where(x < 0, p, -p).to(x.dtype)
        return torch.ones_like(x)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _SpikeFn.apply(x, self)


class _SpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(x, surrogate):
        return (x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, surrogate = inputs
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None


def fast_sigmoid(slope: float = 25.0) -> Surrogate:
    return Surrogate("fast_sigmoid", slope)


def atan(alpha: float = 2.0) -> Surrogate:
    return Surrogate("atan", alpha)


def sigmoid(slope: float = 25.0) -> Surrogate:
    return Surrogate("sigmoid", slope)


def triangle(width: float = 1.0) -> Surrogate:
    return Surrogate("triangle", width)


def triangular(scale: float = 1.0) -> Surrogate:
    return Surrogate("triangular", scale)


def straight_through() -> Surrogate:
    return Surrogate("straight_through", 1.0)


def get(surrogate) -> Surrogate:
    """Resolves a name (with the default parameter) or a :class:`Surrogate` object."""
    if isinstance(surrogate, Surrogate):
        return surrogate
    if isinstance(surrogate, str):
        if surrogate not in _CODES:
            raise ValueError(f"surrogate: unknown name {surrogate!r}; expected one of {NAMES}")
        return Surrogate(surrogate, _DEFAULTS[surrogate])
    raise TypeError(
        f"surrogate: expected a name in {NAMES} or a neurosim.surrogate.Surrogate, got {type(surrogate).__name__}"
    )
