"""neurosim: spiking neural networks for PyTorch on fused native time-stepping kernels."""

from neurosim import surrogate
from neurosim.core import backends, build_info
from neurosim import functional
from neurosim.functional import LIFResult, UltraResult
from neurosim.neurons import (
    LIF,
    Phased,
    PhasedLIF,
    PhasedLSTM,
    TimeGate,
    UltraDLIF,
    UltraDPLIF,
    UltraLIF,
    UltraPLIF,
)
from neurosim import data, models, plasticity, training, viz
from neurosim import diagnostics

__version__ = "0.1.0"

__all__ = [
    "LIF",
    "LIFResult",
    "TimeGate",
    "PhasedLSTM",
    "Phased",
    "PhasedLIF",
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
    "models",
    "plasticity",
    "surrogate",
    "training",
    "viz",
    "__version__",
]
