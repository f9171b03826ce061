"""Pure whole-sequence functions: ``f(x[T, B, ...], state, params) -> (out, state)``."""

from neurosim.functional.alif import ALIFResult, ALIFState, alif
from neurosim.functional.li import LIResult, li
from neurosim.functional.lif import LIFResult, lif
from neurosim.functional.synaptic import SynapticResult, SynapticState, synaptic
from neurosim.functional.trace import TraceResult, exp_trace
from neurosim.functional.ultralif import (
    UltraResult,
    energy_proxy,
    mean_spike_rate,
    sparsity_penalty,
    ultradlif,
    ultralif,
)

__all__ = [
    "lif",
    "LIFResult",
    "synaptic",
    "SynapticResult",
    "SynapticState",
    "alif",
    "ALIFResult",
    "ALIFState",
    "li",
    "LIResult",
    "ultralif",
    "ultradlif",
    "UltraResult",
    "mean_spike_rate",
    "sparsity_penalty",
    "energy_proxy",
    "exp_trace",
    "TraceResult",
]
