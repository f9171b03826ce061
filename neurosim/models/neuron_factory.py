"""Spiking neuron layers by name, so that models and the CLI can switch neuron types with a flag.
The names and constructors come from the one registry, :mod:`neurosim.neurons.registry`."""

from __future__ import annotations

from torch import nn

from neurosim.neurons.registry import NEURONS


def available_neurons():
    """The names :func:`make_neuron` accepts."""
    return list(NEURONS)


def make_neuron(name: str, **options) -> nn.Module:
    """A neuron layer by registry name ("lif", "synaptic", "alif", "li", "ultralif", ...) with the
    given keyword options. Each maps x[T, B, *features] to an output of the same shape (0/1 spikes,
    soft spikes in (0, 1) for the Ultra* neurons, the membrane for LI)."""
    if name not in NEURONS:
        raise ValueError(f"unknown neuron {name!r}; expected one of {sorted(NEURONS)}")
    return NEURONS[name].module(**options)
