"""Sign-diverse ("curl") plasticity: a +-1 sign per presynaptic (or postsynaptic) neuron flips the
sign of any base rule on all synapses of that neuron, the gradient included.

Following Curl Descent (Ninou, Kadmon, Cayco-Gajic, 2025), ``side="pre"`` right-multiplies the
change by D = diag(signs) (``dW D``: a flipped presynaptic cell is anti-Hebbian on all its outgoing
synapses); ``side="post"`` left-multiplies (``D dW``). For the gradient, ``-grad L . D`` is not the
gradient of any function when D != +-I: it keeps every fixed point of gradient descent but
changes their stability.
"""

from __future__ import annotations

import functools
from typing import Callable

import torch

from neurosim.plasticity._checks import check_number, check_signs, check_tensor

SIDES = ("pre", "post")


def _side_size(dw: torch.Tensor, side: str) -> int:
    if side not in SIDES:
        raise ValueError(f"side: expected one of {SIDES}, got {side!r}")
    return dw.shape[1] if side == "pre" else dw.shape[0]


def flip_signs(dw: torch.Tensor, signs: torch.Tensor, side: str = "pre") -> torch.Tensor:
    """``dW D`` (side="pre", signs over the n_in columns) or ``D dW`` (side="post", over the n_out rows)."""
    check_tensor(dw, "dw", (2,))
    check_signs(signs, _side_size(dw, side))
    signs = signs.to(dw.dtype)
    return dw * signs[None, :] if side == "pre" else dw * signs[:, None]


def curl(rule: Callable[..., torch.Tensor], signs: torch.Tensor, side: str = "pre") -> Callable[..., torch.Tensor]:
    """Wraps any rule returning dW [n_out, n_in] so that its result is flipped by ``signs``.

    ``curl(hebbian, signs)(pre, post)`` equals ``hebbian(pre, post) * signs``.
    """
    if not callable(rule):
        raise TypeError(f"rule: expected a callable returning a weight change, got {type(rule).__name__}")
    if side not in SIDES:
        raise ValueError(f"side: expected one of {SIDES}, got {side!r}")
    check_tensor(signs, "signs", (1,))

    @functools.wraps(rule)
    def sign_diverse_rule(*args, **kwargs):
        return flip_signs(rule(*args, **kwargs), signs, side)

    return sign_diverse_rule


def curl_gradient(weight: torch.Tensor, signs: torch.Tensor, side: str = "pre"):
    """Flips the gradient of ``weight`` (an [n_out, n_in] parameter) by ``signs`` as autograd
    computes it, so any optimizer then performs curl descent ``W -= lr grad . D``.
    Returns the hook handle (``handle.remove()`` restores plain gradients)."""
    check_tensor(weight, "weight", (2,))
    if not weight.requires_grad:
        raise ValueError("weight: must require grad to have its gradient flipped")
    check_signs(signs, _side_size(weight, side))
    return weight.register_hook(lambda grad: flip_signs(grad, signs.to(grad.device), side))


def flipped_signs(size: int, fraction: float, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """A sign vector of ``size`` entries whose first ``round(fraction * size)`` are -1 (the rest +1),
    as in the Curl Descent code (which neurons are flipped does not matter for i.i.d. weights)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size: expected a positive int, got {size!r}")
    fraction = check_number(fraction, "fraction")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction: must lie in [0, 1], got {fraction}")
    signs = torch.ones(size, dtype=dtype, device=device)
    signs[: int(round(fraction * size))] = -1
    return signs
