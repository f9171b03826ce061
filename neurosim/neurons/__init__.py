"""nn.Module wrappers: parameters, initialisation and state handling."""

from neurosim.neurons.lif import LIF

__all__ = ["LIF"]
