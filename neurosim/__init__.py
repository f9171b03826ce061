"""neurosim: spiking neural networks for PyTorch on fused native time-stepping kernels."""

from neurosim import data, diagnostics, functional, interop, layers, models, plasticity, surrogate, training, viz
from neurosim.core import backends, build_info
from neurosim.functional import ALIFResult, LIFResult, LIResult, SynapticResult, UltraResult
from neurosim.neurons import (
    ALIF,
    LI,
    LIF,
    RALIF,
    RLIF,
    Phased,
    PhasedLIF,
    PhasedLSTM,
    RSynaptic,
    Synaptic,
    TimeGate,
    UltraDLIF,
    UltraDPLIF,
    UltraLIF,
    UltraPLIF,
)

__version__ = "0.1.0"

__all__ = [
    "LIF",
    "LIFResult",
    "TimeGate",
    "PhasedLSTM",
    "Phased",
    "PhasedLIF",
    "RLIF",
    "RSynaptic",
    "RALIF",
    "Synaptic",
    "SynapticResult",
    "ALIF",
    "ALIFResult",
    "LI",
    "LIResult",
    "UltraLIF",
    "UltraPLIF",
    "UltraDLIF",
    "UltraDPLIF",
    "UltraResult",
    "backends",
    "build_info",
    "data",
    "diagnostics",
    "functional",
    "interop",
    "layers",
    "models",
    "plasticity",
    "surrogate",
    "training",
    "viz",
    "__version__",
]
