"""Spiking neuron layers by name, so that models and the CLI can switch neuron types with a flag."""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn


def _lif(**options) -> nn.Module:
    from neurosim.neurons import LIF

    return LIF(**options)


def _ultralif(**options) -> nn.Module:
    import neurosim

    ultralif = getattr(neurosim, "UltraLIF", None)
    if ultralif is None:
        raise ValueError("neuron 'ultralif' needs neurosim.UltraLIF, which this neurosim install does not "
                         "have; use neuron='lif'")
    return ultralif(**options)


NEURONS: Dict[str, Callable[..., nn.Module]] = {"lif": _lif, "ultralif": _ultralif}
"""Name -> constructor taking the neuron's keyword options; each returns a module mapping
x[T, B, *features] to spikes of the same shape."""


def available_neurons():
    """Names in :data:`NEURONS` whose class exists in this install."""
    import neurosim

    return [name for name in NEURONS if name != "ultralif" or hasattr(neurosim, "UltraLIF")]


def make_neuron(name: str, **options) -> nn.Module:
    """A neuron layer by name ("lif", "ultralif") with the given keyword options."""
    if name not in NEURONS:
        raise ValueError(f"unknown neuron {name!r}; expected one of {sorted(NEURONS)}")
    return NEURONS[name](**options)
