"""Spiking neuron layers by name, so that models and the CLI can switch neuron types with a flag."""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn

from neurosim.neurons import LIF, UltraDLIF, UltraLIF

NEURONS: Dict[str, Callable[..., nn.Module]] = {"lif": LIF, "ultralif": UltraLIF, "ultradlif": UltraDLIF}
"""Name -> constructor taking the neuron's keyword options; each returns a module mapping
x[T, B, *features] to spikes (0/1 for LIF, soft spikes in (0, 1) for the Ultra* neurons) of the
same shape."""


def available_neurons():
    """The names :func:`make_neuron` accepts."""
    return list(NEURONS)


def make_neuron(name: str, **options) -> nn.Module:
    """A neuron layer by name ("lif", "ultralif", "ultradlif") with the given keyword options."""
    if name not in NEURONS:
        raise ValueError(f"unknown neuron {name!r}; expected one of {sorted(NEURONS)}")
    return NEURONS[name](**options)
