"""neurosim: spiking neural networks for PyTorch on fused native time-stepping kernels."""

from neurosim import surrogate
from neurosim.core import backends
from neurosim import functional
from neurosim import plasticity
from neurosim.functional import LIFResult
from neurosim.neurons import LIF

__version__ = "0.1.0"

__all__ = ["LIF", "LIFResult", "backends", "functional", "plasticity", "surrogate", "__version__"]
