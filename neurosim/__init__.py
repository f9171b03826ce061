"""neurosim: spiking neural networks for PyTorch on fused native time-stepping kernels."""

from neurosim import surrogate
from neurosim.core import backends
from neurosim import functional
from neurosim.functional import LIFResult, UltraResult
from neurosim.neurons import LIF, UltraDLIF, UltraDPLIF, UltraLIF, UltraPLIF

__version__ = "0.1.0"

__all__ = [
    "LIF",
    "LIFResult",
    "UltraLIF",
    "UltraPLIF",
    "UltraDLIF",
    "UltraDPLIF",
    "UltraResult",
    "backends",
    "functional",
    "surrogate",
    "__version__",
]
