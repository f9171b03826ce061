"""Pure whole-sequence functions: ``f(x[T, B, ...], state, params) -> (out, state)``."""

from neurosim.functional.lif import LIFResult, lif
from neurosim.functional.trace import TraceResult, exp_trace

__all__ = ["lif", "LIFResult", "exp_trace", "TraceResult"]
