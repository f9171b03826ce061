"""Composite models built on neurosim's kernels: the spiking MLP, conv and recurrent networks of the
training layer (with a neuron registry) and the theta-gated Helmholtz model of the hippocampal formation."""

from neurosim.models import hippocampus
from neurosim.models.conv import SpikingConvNet
from neurosim.models.hippocampus import HelmholtzHippocampus, HippocampusConfig, ThetaGate
from neurosim.models.neuron_factory import NEURONS, available_neurons, make_neuron
from neurosim.models.recurrent import RecurrentSNN
from neurosim.models.spiking_mlp import SpikingMLP
from neurosim.models.stack import LIReadout, parameter_count

__all__ = [
    "HelmholtzHippocampus",
    "LIReadout",
    "RecurrentSNN",
    "SpikingConvNet",
    "parameter_count",
    "HippocampusConfig",
    "NEURONS",
    "SpikingMLP",
    "ThetaGate",
    "available_neurons",
    "hippocampus",
    "make_neuron",
]
