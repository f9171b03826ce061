"""Pure whole-sequence functions: ``f(x[T, B, ...], state, params) -> (out, state)``."""

from neurosim.functional.alif import ALIFResult, ALIFState, alif
from neurosim.functional.li import LIResult, li
from neurosim.functional.lif import LIFResult, lif
from neurosim.functional.phased import (
    NeuronStep,
    PhasedScanResult,
    lif_step,
    phased_lstm,
    phased_neuron,
    phased_scan,
    time_gate,
    time_gate_phase,
)
from neurosim.functional.recurrent import (
    RALIFState,
    RecurrentResult,
    RLIFState,
    RSynapticState,
    ralif,
    recurrent,
    rlif,
    rsynaptic,
)
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
    "time_gate",
    "time_gate_phase",
    "phased_lstm",
    "phased_neuron",
    "phased_scan",
    "PhasedScanResult",
    "lif_step",
    "NeuronStep",
    "recurrent",
    "rlif",
    "rsynaptic",
    "ralif",
    "RecurrentResult",
    "RLIFState",
    "RSynapticState",
    "RALIFState",
]
