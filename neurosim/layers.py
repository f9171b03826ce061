"""Time-distributed layers: stateless torch layers applied to every step of a time-major
``x[T, B, ...]`` sequence at once.

:class:`TimeDistributed` folds ``[T, B, ...]`` into ``[T*B, ...]``, runs any stateless module on
that one big batch and unfolds the result, so a whole sequence costs one call (SpikingJelly's
multi-step ``SeqToANNContainer``). The ready layers below are the torch layers themselves
(same parameters and ``state_dict`` keys, so weights load across) with that fold around their
forward:

* ``Conv1d``, ``Conv2d``, ``AvgPool2d``, ``MaxPool2d``: per step, exactly as the torch layer on
  each ``x[t]``.
* ``Flatten``: ``[T, B, C, H, W] -> [T, B, C*H*W]``.
* ``BatchNorm1d`` / ``BatchNorm2d``: statistics over time *and* batch (the folded ``T*B`` samples),
  as SpikingJelly's multi-step batch norm; running statistics and eval mode as in torch.
* ``Dropout``: one mask per sequence, shared by all time steps (a neuron dropped at one step is
  dropped for the whole sample), as SpikingJelly's multi-step dropout; with ``return_state`` the
  mask carries over to the next chunk of the same sequence.

Spiking neurons accept any trailing feature shape, so ``Conv2d -> LIF -> MaxPool2d`` on
``[T, B, C, H, W]`` needs no reshaping by the user.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import nn

__all__ = ["TimeDistributed", "Conv1d", "Conv2d", "AvgPool2d", "MaxPool2d", "Flatten", "BatchNorm1d",
           "BatchNorm2d", "Dropout", "DropoutResult", "fold_time", "unfold_time"]


def _check_sequence(x, name: str, min_dim: int = 3, expected: str = "[T, B, ...]") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(f"{name}: expected a time-major tensor {expected}, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the time axis is empty (T=0) in shape {tuple(x.shape)}")


def fold_time(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, ...] -> [T*B, ...]`` (a view when x is contiguous)."""
    _check_sequence(x, "x", 2)
    return x.flatten(0, 1)


def unfold_time(y: torch.Tensor, steps: int) -> torch.Tensor:
    """``[T*B, ...] -> [T, B, ...]``."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int (the length T of the time axis), got {steps!r}")
    if y.shape[0] % steps:
        raise ValueError(f"y: its first axis ({y.shape[0]}) is not T*B for T = steps = {steps}")
    return y.unflatten(0, (steps, y.shape[0] // steps))


class TimeDistributed(nn.Module):
    """Applies a stateless ``module`` to every time step: ``x[T, B, ...]`` becomes
    ``module(x.flatten(0, 1))`` unfolded back to ``[T, B, ...]``. The module must treat the
    first axis as independent samples (convolutions, pooling, linear layers, activations); for
    batch norm the statistics then span time and batch."""

    def __init__(self, module: nn.Module):
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module: expected an nn.Module, got {type(module).__name__}")
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_sequence(x, "x", 2)
        return unfold_time(self.module(fold_time(x)), x.shape[0])


class _Folded:
    """Mixin: runs the torch layer's own forward on the folded sequence."""

    _expected = "[T, B, ...]"
    _dims = (3,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() not in self._dims:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__}: expected a time-major input {self._expected}, got {shape}")
        return unfold_time(super().forward(fold_time(x)), x.shape[0])


class Conv1d(_Folded, nn.Conv1d):
    """``nn.Conv1d`` on every step of ``x[T, B, C, L]``."""

    _expected, _dims = "[T, B, C, L]", (4,)


class Conv2d(_Folded, nn.Conv2d):
    """``nn.Conv2d`` on every step of ``x[T, B, C, H, W]``."""

    _expected, _dims = "[T, B, C, H, W]", (5,)


class AvgPool2d(_Folded, nn.AvgPool2d):
    """``nn.AvgPool2d`` on every step of ``x[T, B, C, H, W]``."""

    _expected, _dims = "[T, B, C, H, W]", (5,)


class MaxPool2d(_Folded, nn.MaxPool2d):
    """``nn.MaxPool2d`` on every step of ``x[T, B, C, H, W]``."""

    _expected, _dims = "[T, B, C, H, W]", (5,)


class BatchNorm1d(_Folded, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over ``x[T, B, C]`` or ``x[T, B, C, L]`` with statistics over time and batch."""

    _expected, _dims = "[T, B, C] or [T, B, C, L]", (3, 4)


class BatchNorm2d(_Folded, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` over ``x[T, B, C, H, W]`` with statistics over time and batch."""

    _expected, _dims = "[T, B, C, H, W]", (5,)


class Flatten(nn.Module):
    """``[T, B, d1, d2, ...] -> [T, B, d1*d2*...]`` (``nn.Flatten`` on every step)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_sequence(x, "x", 3, "[T, B, *features]")
        return x.flatten(2)


class DropoutResult(NamedTuple):
    output: torch.Tensor
    """x with the dropped features zeroed and the kept ones scaled by ``1/(1-p)``."""
    state: Optional[torch.Tensor]
    """The mask [1, B, *features] (None in eval mode or with p = 0); pass it to the next chunk."""


class Dropout(nn.Module):
    """Dropout with one mask per sequence: each (sample, feature) is kept or dropped for all T
    steps together, scaled by ``1/(1-p)`` in training; the identity in eval mode. Dropping a
    neuron at random steps would only add noise to a rate code; dropping it for the whole
    sequence removes it, which is what dropout is meant to do.

    A sequence run in chunks (truncated BPTT) keeps its mask: ``Dropout(p, return_state=True)(x,
    mask)`` returns ``DropoutResult(output, mask)``, and passing that mask to the next chunk reuses
    it (None draws a new one). The models thread it with the neuron states, so ``--tbptt`` still
    has one mask per sequence."""

    def __init__(self, p: float = 0.5, return_state: bool = False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"p: expected a probability in [0, 1), got {p!r}")
        if not isinstance(return_state, bool):
            raise TypeError(f"return_state: expected a bool, got {type(return_state).__name__}")
        self.p = float(p)
        self.return_state = return_state

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None):
        _check_sequence(x, "x", 2, "[T, B, *features]")
        mask = None
        if self.training and self.p != 0.0:
            if state is None:
                mask = torch.empty((1, *x.shape[1:]), dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
            elif not isinstance(state, torch.Tensor) or tuple(state.shape) != (1, *x.shape[1:]):
                shape = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
                raise ValueError(f"state: expected the dropout mask of the previous chunk, shape "
                                 f"{(1, *x.shape[1:])}, got {shape}")
            else:
                mask = state
            x = x * mask.to(x.dtype) / (1.0 - self.p)
        return DropoutResult(x, mask) if self.return_state else x

    def extra_repr(self) -> str:
        return f"p={self.p}"
