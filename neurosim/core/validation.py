"""Argument checks shared by every op: clear Python errors before any native code runs."""

from __future__ import annotations

import math

import torch

from neurosim._numbers import finite_number

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
RESETS = {"subtract": 0, "zero": 1, "none": 2}


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the kernels compute and keep state in: float64 stays, narrower types use float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _compiling() -> bool:
    return torch.compiler.is_compiling()


def values_checkable(tensor: torch.Tensor) -> bool:
    """Whether the *values* of ``tensor`` may be inspected here.

    Only CPU tensors outside ``torch.compile`` tracing: reading a CUDA tensor's values
    (``.item()``, ``bool(t)``) is a device-to-host sync on every call and breaks CUDA graph
    capture, and meta tensors have no values. Their values are checked where they are set
    (module construction); shapes, dtypes and devices are always checked.
    """
    return tensor.device.type == "cpu" and not _compiling()


def check_sequence(x, name: str = "x") -> None:
    """x must be a floating tensor shaped [T, B, *features] with T >= 1."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name}: expected a floating dtype (float16, bfloat16, float32 or float64), got {x.dtype}"
        )
    if x.dim() < 2:
        raise ValueError(
            f"{name}: expected a time-major tensor [T, B, *features] with at least 2 dims, got shape "
            f"{tuple(x.shape)}; add the time axis first (x.unsqueeze(0) for a single step)"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the time axis is empty (T=0) in shape {tuple(x.shape)}")


def check_state(state, x: torch.Tensor, name: str = "state") -> None:
    if state is None:
        return
    if not isinstance(state, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or None, got {type(state).__name__}")
    if state.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a floating dtype, got {state.dtype}")
    if tuple(state.shape) != tuple(x.shape[1:]):
        raise ValueError(
            f"{name}: expected shape {tuple(x.shape[1:])} (x without its time axis), got {tuple(state.shape)}"
        )
    if state.device != x.device:
        raise ValueError(f"{name}: is on {state.device} but x is on {x.device}")
    if values_checkable(state) and not bool(torch.isfinite(state).all()):
        raise ValueError(f"{name}: contains NaN or inf")


def check_choice(value, choices, name: str) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")


def check_flag(value, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")


def check_parameter(value, name: str, low=None, high=None, *, always: bool = False) -> None:
    """A parameter is a number or a floating tensor with finite values in [low, high].

    The values of a tensor are checked only where :func:`values_checkable` allows, unless
    ``always`` (module construction, where one sync is harmless).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, torch.Tensor)):
        raise TypeError(f"{name}: expected a number or a tensor, got {type(value).__name__}")
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name}: expected a floating tensor, got {value.dtype}")
        if value.numel() == 0 or value.device.type == "meta" or not (always or values_checkable(value)):
            return
        # one reduction for both checks (a call's fixed cost): min and max propagate NaN
        vmin, vmax = (v.item() for v in torch.aminmax(value.detach()))
        if not (math.isfinite(vmin) and math.isfinite(vmax)):
            raise ValueError(f"{name}: contains NaN or inf")
    else:
        if not finite_number(value):
            raise ValueError(f"{name}: must be finite, got {value}")
        vmin = vmax = value
    if (low is not None and vmin < low) or (high is not None and vmax > high):
        raise ValueError(f"{name}: values must lie in [{low}, {high}], got min {vmin:.6g} max {vmax:.6g}")


def broadcasts_to(shape: tuple, target: tuple) -> bool:
    """Whether ``shape`` broadcasts to exactly ``target`` (``torch.broadcast_shapes(shape, target)
    == target``; that call costs tens of microseconds, a layer's call pays it per parameter)."""
    if len(shape) > len(target):
        return False
    return all(s == 1 or s == t for s, t in zip(shape[::-1], target[::-1]))


def parameter_tensor(value, x: torch.Tensor, name: str, low=None, high=None) -> torch.Tensor:
    """Checks a per-layer or per-neuron parameter and returns it as a tensor (grad kept).

    ``value`` is a number or a tensor broadcastable to the feature shape ``x.shape[2:]``.
    """
    check_parameter(value, name, low, high)
    if not isinstance(value, torch.Tensor):
        return torch.tensor(float(value), dtype=accumulation_dtype(x.dtype), device=x.device)
    if value.device != x.device:
        raise ValueError(f"{name}: is on {value.device} but x is on {x.device}")
    if value.numel() == 1:
        return value.reshape(())  # one per layer, whatever its dims: must not broadcast x up
    features = tuple(x.shape[2:])
    if value.numel() != 1:
        if not broadcasts_to(tuple(value.shape), features):
            raise ValueError(
                f"{name}: shape {tuple(value.shape)} does not broadcast to the feature shape {features} "
                "(use a scalar for one value per layer or the feature shape for one per neuron)"
            )
    return value


def check_open_interval(value: torch.Tensor, name: str, low: float, high: float) -> None:
    """Every value of an already checked (finite) parameter lies strictly inside (low, high)."""
    if value.numel() == 0 or not values_checkable(value):
        return
    vmin, vmax = (v.item() for v in torch.aminmax(value.detach().reshape(-1)))
    if not (vmin > low and vmax < high):
        raise ValueError(f"{name}: values must lie in ({low}, {high}) (open), got min {vmin:.6g} max {vmax:.6g}")


def flat_parameter(p: torch.Tensor, features: tuple, n_features: int) -> torch.Tensor:
    """A per-layer parameter as [1], a per-neuron one as a contiguous [n_features] (the ops' layout)."""
    if p.numel() == 1:
        return p.reshape(1)
    return p.expand(features).reshape(n_features).contiguous()
