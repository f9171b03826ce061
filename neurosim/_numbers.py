"""Checks of plain numbers that must also trace under torch.compile (no imports from the package,
so that the lowest modules, such as neurosim.surrogate, can use them)."""

from __future__ import annotations

import math


def finite_number(value) -> bool:
    """Whether a number is finite, by comparisons rather than math.isfinite: under
    torch.compile(dynamic=True) a number may be symbolic, and comparing it is traceable (a guard)
    where math.isfinite is not."""
    return value == value and abs(value) != math.inf
