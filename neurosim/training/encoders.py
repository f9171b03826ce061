"""Spike encoders: static inputs ``x[B, *features]`` (values in [0, 1]) -> time-major ``[T, B, *features]``.

The same four codes snnTorch's ``spikegen`` offers, written for time-major tensors:
rate (Bernoulli), latency (one spike, earlier for larger values), delta (spikes on change of a
sequence) and direct (the value itself as input current at every step).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from neurosim._numbers import finite_number


def _check_steps(num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise TypeError(f"num_steps: expected a positive int, got {type(num_steps).__name__} {num_steps!r}")
    if num_steps < 1:
        raise ValueError(f"num_steps: expected a positive int, got {num_steps!r}")


def _check_number(value, name: str, positive: bool = False, nonnegative: bool = False) -> float:
    """A finite real number (not a bool), optionally > 0 or >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    if not finite_number(value):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name}: must be > 0, got {value!r}")
    if nonnegative and value < 0:
        raise ValueError(f"{name}: must be >= 0, got {value!r}")
    return float(value)


def _check_flag(value, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")


def _check_input(x, name: str) -> None:
    """A tensor whose values can be encoded: NaN has no spike probability or latency (checked on CPU
    tensors only; a GPU check would stall the stream)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating dtype, got {x.dtype}")
    if x.device.type == "cpu" and not torch.compiler.is_compiling() and bool(torch.isnan(x).any()):
        where = torch.nonzero(torch.isnan(x))[0].tolist()
        raise ValueError(f"{name}: contains NaN (first at index {where}); a NaN pixel has no spike code")


def rate(x: torch.Tensor, num_steps: int, gain: float = 1.0, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Bernoulli rate code: at each step a spike with probability ``clamp(gain * x, 0, 1)``."""
    _check_steps(num_steps)
    gain = _check_number(gain, "gain")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    _check_input(x, "x")
    p = (gain * x).clamp(0.0, 1.0)
    return torch.bernoulli(p.unsqueeze(0).expand(num_steps, *p.shape), generator=generator)


def latency(x: torch.Tensor, num_steps: int, threshold: float = 0.01, linear: bool = True,
            tau: float = 5.0) -> torch.Tensor:
    """Latency code: one spike per input, at step ``(1 - x) * (num_steps - 1)`` (``linear``) or, if
    not ``linear``, at step ``tau * ln(x / (x - threshold))`` (an RC circuit driven by ``x``
    crossing ``threshold``; ``tau`` in steps), clipped to the last step. Inputs at or below
    ``threshold`` never fire."""
    _check_steps(num_steps)
    threshold = _check_number(threshold, "threshold")
    _check_flag(linear, "linear")
    tau = _check_number(tau, "tau", positive=True)
    _check_input(x, "x")
    x = x.clamp(0.0, 1.0)
    fires = x > threshold
    if linear:
        t = (1.0 - x) * (num_steps - 1)
    else:
        safe = torch.where(fires, x, torch.ones_like(x))
        t = tau * torch.log(safe / (safe - threshold))
    step = t.round().long().clamp(0, num_steps - 1)
    out = torch.zeros(num_steps, *x.shape, dtype=x.dtype, device=x.device)
    out.scatter_(0, step.unsqueeze(0), fires.to(x.dtype).unsqueeze(0))
    return out


def delta(x_seq: torch.Tensor, threshold: float = 0.1, off_spike: bool = False, padding: bool = False) -> torch.Tensor:
    """Delta modulation of a sequence ``x_seq[T, B, ...]``: a spike (+1) where the value rose by at
    least ``threshold`` since the previous step, and -1 where it fell that much if ``off_spike``.
    The first step compares with zeros (or with itself when ``padding``)."""
    if not isinstance(x_seq, torch.Tensor):
        raise TypeError(f"x_seq: expected a torch.Tensor, got {type(x_seq).__name__}")
    if x_seq.dim() < 2:
        raise ValueError(f"delta encodes a sequence x_seq[T, B, ...], got shape {tuple(x_seq.shape)}")
    threshold = _check_number(threshold, "threshold", nonnegative=True)
    _check_flag(off_spike, "off_spike")
    _check_flag(padding, "padding")
    previous = torch.cat([x_seq[:1] if padding else torch.zeros_like(x_seq[:1]), x_seq[:-1]])
    change = x_seq - previous
    out = (change >= threshold).to(x_seq.dtype)
    if off_spike:
        out = out - (change <= -threshold).to(x_seq.dtype)
    return out


def direct(x: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Direct input: the value itself as an input current at each of ``num_steps`` steps."""
    _check_steps(num_steps)
    _check_input(x, "x")
    return x.unsqueeze(0).expand(num_steps, *x.shape).contiguous()


ENCODERS = ("rate", "latency", "direct")


def make_encoder(name: str, num_steps: int, **options) -> Callable[[torch.Tensor], torch.Tensor]:
    """A batch encoder ``x[B, ...] -> [T, B, ...]`` by name: "rate", "latency" or "direct"
    (delta needs a sequence and is called directly)."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; expected one of {list(ENCODERS)}")
    _check_steps(num_steps)
    fn = {"rate": rate, "latency": latency, "direct": direct}[name]
    return lambda x: fn(x, num_steps, **options)
