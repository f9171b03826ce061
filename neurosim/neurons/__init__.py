"""nn.Module wrappers: parameters, initialisation and state handling."""

from neurosim.neurons.lif import LIF
from neurosim.neurons.phased import Phased, PhasedLIF, PhasedLSTM, TimeGate
from neurosim.neurons.ultralif import UltraDLIF, UltraDPLIF, UltraLIF, UltraPLIF

__all__ = ["LIF", "TimeGate", "PhasedLSTM", "Phased", "PhasedLIF", "UltraLIF", "UltraPLIF", "UltraDLIF", "UltraDPLIF"]
