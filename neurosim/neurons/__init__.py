"""nn.Module wrappers: parameters, initialisation and state handling; the neuron registry."""

from neurosim.neurons.alif import ALIF
from neurosim.neurons.li import LI
from neurosim.neurons.lif import LIF
from neurosim.neurons.phased import Phased, PhasedLIF, PhasedLSTM, TimeGate
from neurosim.neurons.recurrent import RALIF, RLIF, OneToOne, RSynaptic
from neurosim.neurons.registry import NEURONS, NeuronSpec, register_neuron
from neurosim.neurons.synaptic import Synaptic
from neurosim.neurons.ultralif import UltraDLIF, UltraDPLIF, UltraLIF, UltraPLIF

__all__ = ["LIF", "Synaptic", "ALIF", "LI", "TimeGate", "PhasedLSTM", "Phased", "PhasedLIF", "RLIF", "RSynaptic",
           "RALIF", "OneToOne", "UltraLIF", "UltraPLIF", "UltraDLIF", "UltraDPLIF", "NEURONS", "NeuronSpec",
           "register_neuron"]
