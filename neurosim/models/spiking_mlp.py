"""A fully connected spiking network: Linear -> neuron -> ... -> Linear -> neuron, time-major."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from neurosim.models.neuron_factory import make_neuron
from neurosim.models.stack import check_model_call, neuron_output


class SpikingMLP(nn.Module):
    """``x[T, B, in_features]`` -> output spikes ``[T, B, out_features]``.

    Each layer is ``nn.Linear`` followed by a spiking neuron (``neuron`` by name, see
    :func:`neurosim.models.make_neuron`, with ``neuron_options``). The whole time sequence goes
    through each Linear as one matrix product and through each neuron layer as one fused call.
    A non-spiking neuron (``"li"``) passes its membrane on instead of spikes.

    ``model(x, state, return_state=True)`` returns ``(spikes, state)`` where ``state`` is the
    list of per-layer neuron states (for truncated BPTT: pass it to the next chunk). That needs a
    neuron with a ``return_state`` option (LIF has it).
    """

    def __init__(self, sizes: Sequence[int], neuron: str = "lif", neuron_options: Optional[Dict] = None):
        super().__init__()
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
            raise TypeError(f"sizes: expected a sequence of layer sizes such as [64, 256, 10], got {sizes!r}")
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least (in_features, out_features), got {list(sizes)}")
        for i, size in enumerate(sizes):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"sizes[{i}]: every layer size must be a positive int, got {size!r} in {list(sizes)}")
        options = dict(neuron_options or {})
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.neurons = nn.ModuleList(self._neuron(neuron, options) for _ in sizes[1:])
        self.sizes = list(sizes)

    @staticmethod
    def _neuron(name: str, options: Dict) -> nn.Module:
        # Neurons that can return their state are built that way, so one forward serves both
        # whole-sequence training and truncated BPTT; others still work without state.
        try:
            return make_neuron(name, return_state=True, **options)
        except TypeError:
            return make_neuron(name, **options)

    def forward(self, x: torch.Tensor, state: Optional[List] = None, return_state: bool = False):
        check_model_call(self, x, state, return_state, len(self.neurons))
        if x.dim() != 3 or x.shape[-1] != self.sizes[0]:
            raise ValueError(f"x must be [T, B, {self.sizes[0]}], got {tuple(x.shape)}")
        new_state = []
        for i, (linear, neuron) in enumerate(zip(self.linears, self.neurons)):
            x = linear(x)
            result = neuron(x) if state is None else neuron(x, state[i])
            x, layer_state = neuron_output(result)  # LI (no spikes) passes its membrane on
            if layer_state is not None:
                new_state.append(layer_state)
            elif return_state or state is not None:
                raise ValueError(f"{type(neuron).__name__} does not return its state; return_state and "
                                 "state (truncated BPTT) need a neuron with a return_state option")
        return (x, new_state) if return_state else x
