"""nn.Module wrappers: parameters, initialisation and state handling."""

from neurosim.neurons.lif import LIF
from neurosim.neurons.ultralif import UltraDLIF, UltraDPLIF, UltraLIF, UltraPLIF

__all__ = ["LIF", "UltraLIF", "UltraPLIF", "UltraDLIF", "UltraDPLIF"]
