"""Pure whole-sequence functions: ``f(x[T, B, ...], state, params) -> (out, state)``."""

from neurosim.functional.lif import LIFResult, lif
from neurosim.functional.phased import (
    NeuronStep,
    lif_step,
    phased_lstm,
    phased_neuron,
    time_gate,
    time_gate_phase,
)
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
    "ultralif",
    "ultradlif",
    "UltraResult",
    "mean_spike_rate",
    "sparsity_penalty",
    "energy_proxy",
    "exp_trace",
    "TraceResult",
    "time_gate",
    "time_gate_phase",
    "phased_lstm",
    "phased_neuron",
    "lif_step",
    "NeuronStep",
]
