"""Shared plumbing of the layered models: neuron layers by name (one call each, so a neuron
registry can replace them), a leaky-integrator readout, and a forward that threads every neuron
layer's state through for truncated BPTT."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from neurosim.functional.lif import lif
from neurosim.models.neuron_factory import make_neuron
from neurosim.neurons.recurrent import RALIF, RLIF, RSynaptic

RECURRENT_NEURONS = {"lif": RLIF, "synaptic": RSynaptic, "alif": RALIF}
"""Neuron name -> its recurrent layer (``size`` first, then the neuron's options)."""


def stateful_neuron(name: str, options: Optional[Dict] = None) -> nn.Module:
    """A feed-forward neuron layer by registry name, built to return its state when it can (so
    one forward serves whole-sequence training and truncated BPTT)."""
    options = dict(options or {})
    try:
        return make_neuron(name, return_state=True, **options)
    except TypeError:
        return make_neuron(name, **options)


def recurrent_neuron(name: str, size: int, options: Optional[Dict] = None) -> nn.Module:
    """A recurrent layer of ``size`` neurons by name (``lif`` -> RLIF, ``synaptic`` -> RSynaptic,
    ``alif`` -> RALIF), returning its state."""
    if name not in RECURRENT_NEURONS:
        raise ValueError(f"neuron {name!r} has no recurrent layer; recurrent models take one of "
                         f"{sorted(RECURRENT_NEURONS)} (or recurrent=False for any registered neuron)")
    return RECURRENT_NEURONS[name](size, return_state=True, **dict(options or {}))


class LIReadout(nn.Module):
    """Leaky-integrator readout: ``y_t = beta*y_{t-1} + x_t``, no spikes and no reset (the membrane
    of a LIF layer with ``reset="none"``, on the same fused kernel). Train it with ``ce_mean``."""

    def __init__(self, beta: float = 0.9):
        super().__init__()
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta <= 1.0:
            raise ValueError(f"readout beta: expected a number in [0, 1], got {beta!r}")
        self.beta = float(beta)

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None):
        result = lif(x, state, beta=self.beta, reset="none", record_membrane=True)
        return result._replace(spikes=result.membrane)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


def neuron_output(result):
    """``(output, state)`` of a neuron layer's call. Spiking neurons return a result with
    ``.spikes``; LI, a non-spiking layer, ``LIResult(output, state)`` whose output is its membrane;
    a layer built without ``return_state`` the output tensor alone (state None)."""
    if isinstance(result, torch.Tensor):
        return result, None
    for field in ("spikes", "output"):
        if hasattr(result, field) and hasattr(result, "state"):
            return getattr(result, field), result.state
    raise TypeError(f"a neuron layer returned {type(result).__name__}; expected a tensor or a result "
                    "with .spikes (or .output) and .state")


def _is_stateful(layer: nn.Module) -> bool:
    return getattr(layer, "_neurosim_stateful", False)


def mark_stateful(layer: nn.Module) -> nn.Module:
    layer._neurosim_stateful = True
    return layer


def run_stack(layers: Sequence[nn.Module], x: torch.Tensor, state: Optional[List] = None,
              return_state: bool = False):
    """Runs ``layers`` in order; layers marked stateful take ``state[k]`` and give their new state.
    Returns the output, or ``(output, states)`` with ``return_state``."""
    new_state: List = []
    k = 0
    for layer in layers:
        if not _is_stateful(layer):
            x = layer(x)
            continue
        result = layer(x) if state is None else layer(x, state[k])
        k += 1
        x, layer_state = neuron_output(result)
        if not isinstance(result, torch.Tensor):  # a result with a state (which may be None: Dropout in eval)
            new_state.append(layer_state)
        elif return_state or state is not None:
            raise ValueError(f"{type(layer).__name__} does not return its state; return_state and state "
                             "(truncated BPTT) need neurons with a return_state option")
    return (x, new_state) if return_state else x


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
