"""neurosim: spiking neural networks for PyTorch on fused native time-stepping kernels."""

from neurosim import surrogate
from neurosim.core import backends
from neurosim import functional
from neurosim.functional import ALIFResult, LIFResult, LIResult, SynapticResult, UltraResult
from neurosim.neurons import ALIF, LI, LIF, Synaptic, UltraDLIF, UltraDPLIF, UltraLIF, UltraPLIF
from neurosim import data, models, plasticity, training, viz

__version__ = "0.1.0"

__all__ = [
    "LIF",
    "LIFResult",
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
    "data",
    "functional",
    "models",
    "plasticity",
    "surrogate",
    "training",
    "viz",
    "__version__",
]
