"""neurosim: spiking neural networks for PyTorch on fused native time-stepping kernels."""

from neurosim import surrogate
from neurosim.core import backends
from neurosim import functional
from neurosim.functional import LIFResult, UltraResult
from neurosim.neurons import LIF, RALIF, RLIF, RSynaptic, UltraDLIF, UltraDPLIF, UltraLIF, UltraPLIF
from neurosim import data, layers, models, plasticity, training, viz

__version__ = "0.1.0"

__all__ = [
    "LIF",
    "LIFResult",
    "RLIF",
    "RSynaptic",
    "RALIF",
    "UltraLIF",
    "UltraPLIF",
    "UltraDLIF",
    "UltraDPLIF",
    "UltraResult",
    "backends",
    "data",
    "functional",
    "layers",
    "models",
    "plasticity",
    "surrogate",
    "training",
    "viz",
    "__version__",
]
