"""Pure whole-sequence functions: ``f(x[T, B, ...], state, params) -> (out, state)``."""

from neurosim.functional.lif import LIFResult, lif

__all__ = ["lif", "LIFResult"]
