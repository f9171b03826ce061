"""Composite spiking models."""

from neurosim.models.neuron_factory import NEURONS, available_neurons, make_neuron
from neurosim.models.spiking_mlp import SpikingMLP

__all__ = ["NEURONS", "SpikingMLP", "available_neurons", "make_neuron"]
