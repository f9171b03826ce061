"""Losses and metrics on time-major outputs ``out[T, B, C]`` (spikes or readout values).

* ``ce_count``: cross-entropy with the spike counts ``out.sum(0)`` as logits (snnTorch's
  ``ce_count_loss``).
* ``ce_mean``: cross-entropy on the time-averaged readout ``out.mean(0)`` (for a membrane or
  other non-spiking readout; snnTorch's ``ce_rate_loss`` averages per-step cross-entropies instead).
* ``mse_count``: mean squared error between spike counts and target counts
  ``int(correct_rate * T)`` for the true class and ``int(incorrect_rate * T)`` for the others,
  divided by T (the same value as snnTorch's ``mse_count_loss``).
"""

from __future__ import annotations

from typing import Callable, Dict

import torch
import torch.nn.functional as F


def check_targets(out: torch.Tensor, targets: torch.Tensor) -> None:
    """ValueError when ``out`` is not [T, B, C] or ``targets`` are not B class ids in [0, C)."""
    for name, value in (("out", out), ("targets", targets)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if out.dim() != 3:
        raise ValueError(f"model output must be time-major [T, B, classes], got shape {tuple(out.shape)}")
    if targets.dim() != 1 or targets.shape[0] != out.shape[1]:
        raise ValueError(f"targets must be [B] = [{out.shape[1]}] class ids, got shape {tuple(targets.shape)}")
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class ids, got dtype {targets.dtype}")
    classes = out.shape[2]
    if targets.numel() and (targets.min() < 0 or targets.max() >= classes):
        bad = targets[(targets < 0) | (targets >= classes)]
        raise ValueError(f"labels out of range: got {bad[:5].tolist()} for {classes} output classes "
                         f"(labels must lie in [0, {classes}))")


def ce_count(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    check_targets(out, targets)
    return F.cross_entropy(out.sum(0), targets)


def ce_mean(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    check_targets(out, targets)
    return F.cross_entropy(out.mean(0), targets)


def mse_count(out: torch.Tensor, targets: torch.Tensor, correct_rate: float = 0.8,
              incorrect_rate: float = 0.2) -> torch.Tensor:
    check_targets(out, targets)
    steps = out.shape[0]
    on, off = int(steps * correct_rate), int(steps * incorrect_rate)  # whole spike counts
    onehot = F.one_hot(targets, out.shape[2]).to(out.dtype)
    target_counts = off + (on - off) * onehot
    # dividing by T keeps the loss scale (and the learning rate that suits it) independent of T
    return F.mse_loss(out.sum(0), target_counts) / steps


LOSSES: Dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "ce_count": ce_count, "ce_mean": ce_mean, "mse_count": mse_count}


def get_loss(loss) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A loss by name (see :data:`LOSSES`) or any callable ``(out, targets) -> scalar``."""
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)} or a callable")
    return LOSSES[loss]


def predictions(out: torch.Tensor) -> torch.Tensor:
    """Class per sample: the output with the largest total over time (ties: the lowest index)."""
    return out.sum(0).argmax(-1)


def accuracy(out: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of samples whose :func:`predictions` equal ``targets``."""
    check_targets(out, targets)
    return (predictions(out) == targets).float().mean().item()
