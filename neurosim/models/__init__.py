"""Composite models built on neurosim's kernels: the spiking MLP of the training layer (with a
neuron registry) and the theta-gated Helmholtz model of the hippocampal formation."""

from neurosim.models import hippocampus
from neurosim.models.hippocampus import HelmholtzHippocampus, HippocampusConfig, ThetaGate
from neurosim.models.neuron_factory import NEURONS, available_neurons, make_neuron
from neurosim.models.spiking_mlp import SpikingMLP

__all__ = [
    "HelmholtzHippocampus",
    "HippocampusConfig",
    "NEURONS",
    "SpikingMLP",
    "ThetaGate",
    "available_neurons",
    "hippocampus",
    "make_neuron",
]
