"""A recurrent spiking network for temporal data (spiking audio such as SHD/SSC): input ->
recurrent hidden layer(s) of LIF / Synaptic / adaptive LIF neurons -> readout."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import nn

from neurosim import layers as td
from neurosim.models.stack import (
    LIReadout,
    check_model_call,
    count_stateful,
    mark_stateful,
    recurrent_neuron,
    run_stack,
    stateful_neuron,
)


class RecurrentSNN(nn.Module):
    """``x[T, B, in_features]`` -> ``[T, B, num_classes]`` through ``Linear -> recurrent neurons``
    per hidden layer, then ``Linear -> readout``.

    Args:
        in_features, num_classes: input channels and outputs.
        hidden: neurons per hidden layer.
        neuron: "alif" (recurrent adaptive LIF, Bellec's LSNN; default), "lif" (RLIF = snnTorch
            RLeaky) or "synaptic" (RSynaptic); with ``recurrent=False`` any neuron name of
            :func:`neurosim.models.make_neuron` (a feed-forward network of the same size).
        neuron_options: keyword options of the neuron (e.g. ``{"beta": 0.95, "rho": 0.98}``).
        recurrent: all-to-all recurrent weights in each hidden layer (``.recurrent``).
        readout: "li" (leaky integrator, train with ``ce_mean``; default) or "spikes" (a LIF
            layer, ``ce_count``); :attr:`default_loss` names the matching loss.
        readout_beta: decay of the LI readout.
        dropout: :class:`neurosim.layers.Dropout` after each hidden layer (one mask per sequence).
    """

    def __init__(self, in_features: int, num_classes: int, hidden: Sequence[int] = (128,), neuron: str = "alif",
                 neuron_options: Optional[Dict] = None, recurrent: bool = True, readout: str = "li",
                 readout_beta: float = 0.9, dropout: float = 0.0):
        super().__init__()
        for name, value in (("in_features", in_features), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if not hidden or not all(isinstance(h, int) and h > 0 for h in hidden):
            raise ValueError(f"hidden: expected positive ints, one per hidden layer, got {hidden!r}")
        if readout not in ("spikes", "li"):
            raise ValueError(f"readout: expected 'spikes' or 'li', got {readout!r}")
        self.in_features = in_features
        layers = []
        size = in_features
        for h in hidden:
            layers.append(nn.Linear(size, h))
            neuron_layer = recurrent_neuron(neuron, h, neuron_options) if recurrent else \
                stateful_neuron(neuron, neuron_options)
            layers.append(mark_stateful(neuron_layer))
            if dropout:
                layers.append(mark_stateful(td.Dropout(dropout, return_state=True)))  # one mask across --tbptt chunks
            size = h
        layers.append(nn.Linear(size, num_classes))
        layers.append(mark_stateful(LIReadout(readout_beta) if readout == "li" else stateful_neuron("lif")))
        self.layers = nn.ModuleList(layers)
        self.readout = readout
        self.default_loss = "ce_mean" if readout == "li" else "ce_count"

    def forward(self, x: torch.Tensor, state=None, return_state: bool = False):
        check_model_call(self, x, state, return_state, count_stateful(self.layers))
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.in_features:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"RecurrentSNN expects [T, B, {self.in_features}], got {shape}")
        return run_stack(self.layers, x, state, return_state)
