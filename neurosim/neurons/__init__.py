"""nn.Module wrappers: parameters, initialisation and state handling."""

from neurosim.neurons.lif import LIF
from neurosim.neurons.phased import Phased, PhasedLIF, PhasedLSTM, TimeGate
from neurosim.neurons.recurrent import OneToOne, RALIF, RLIF, RSynaptic
from neurosim.neurons.ultralif import UltraDLIF, UltraDPLIF, UltraLIF, UltraPLIF

__all__ = ["LIF", "TimeGate", "PhasedLSTM", "Phased", "PhasedLIF", "RLIF", "RSynaptic", "RALIF", "OneToOne",
           "UltraLIF", "UltraPLIF", "UltraDLIF", "UltraDPLIF"]
