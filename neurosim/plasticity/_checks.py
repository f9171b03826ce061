"""Argument checks of the plasticity rules: clear Python errors naming the argument."""

from __future__ import annotations

import torch

from neurosim.core.validation import FLOAT_DTYPES, values_checkable


def check_tensor(value, name: str, dims: tuple) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if value.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a floating dtype, got {value.dtype}")
    if value.dim() not in dims:
        allowed = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{name}: expected a {allowed} tensor, got shape {tuple(value.shape)}")
    return value


def check_activity(value, name: str) -> torch.Tensor:
    """Activity is one step [B, n] or a whole sequence [T, B, n], with B >= 1 (the rules average
    over the batch: an empty one has no mean)."""
    check_tensor(value, name, (2, 3))
    check_batch(value, name, value.dim() - 2)
    return value


def check_batch(value: torch.Tensor, name: str, axis: int) -> None:
    """The batch axis ``axis`` of ``value`` must not be empty (a batch mean over B=0 samples is NaN)."""
    if value.shape[axis] == 0:
        raise ValueError(f"{name}: the batch axis is empty (B=0) in shape {tuple(value.shape)}; "
                         "the change is a batch mean and needs at least one sample")


def check_same_samples(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape[:-1] != b.shape[:-1]:
        raise ValueError(
            f"{name_b}: leading (time/batch) dims {tuple(b.shape[:-1])} do not match those of {name_a} "
            f"{tuple(a.shape[:-1])}"
        )
    if a.device != b.device:
        raise ValueError(f"{name_b}: is on {b.device} but {name_a} is on {a.device}")


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_b}: expected the shape of {name_a} {tuple(a.shape)}, got {tuple(b.shape)}")


def check_weight(weight, n_out: int, n_in: int, name: str = "weight") -> torch.Tensor:
    check_tensor(weight, name, (2,))
    if tuple(weight.shape) != (n_out, n_in):
        raise ValueError(
            f"{name}: expected shape [n_out, n_in] = [{n_out}, {n_in}] (as nn.Linear.weight) to match "
            f"post and pre, got {tuple(weight.shape)}"
        )
    return weight


def check_finite(value: torch.Tensor, name: str) -> None:
    # values of GPU (a sync) and meta (none) tensors are not read; shapes are checked everywhere
    if values_checkable(value) and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name}: contains NaN or inf")


def check_number(value, name: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name}: must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name}: must be > 0, got {value}")
    return value


def check_signs(signs, size: int, name: str = "signs") -> torch.Tensor:
    """A sign vector holds exactly +1 or -1 per neuron."""
    check_tensor(signs, name, (1,))
    if signs.shape[0] != size:
        raise ValueError(f"{name}: expected {size} entries (one per neuron on the flipped side), got {signs.shape[0]}")
    if values_checkable(signs) and not bool(((signs == 1) | (signs == -1)).all()):
        bad = signs[(signs != 1) & (signs != -1)][:3].tolist()
        raise ValueError(f"{name}: every entry must be +1 or -1, found {bad}")
    return signs
