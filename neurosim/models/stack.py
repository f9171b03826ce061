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


def count_stateful(layers: Sequence[nn.Module]) -> int:
    """How many of ``layers`` take a state (the length of a model's ``state`` list)."""
    return sum(1 for layer in layers if _is_stateful(layer))


def mark_stateful(layer: nn.Module) -> nn.Module:
    layer._neurosim_stateful = True
    return layer


def model_dtype(model: nn.Module) -> Optional[torch.dtype]:
    """The dtype of the model's first floating parameter (None without one)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def _autocasting(x: torch.Tensor) -> bool:
    """Whether autocast is on for x's device (it casts the inputs of each op: mixed dtypes are fine)."""
    try:
        return torch.is_autocast_enabled(x.device.type)
    except TypeError:  # older torch: no device argument
        return torch.is_autocast_enabled() if x.is_cuda else torch.is_autocast_cpu_enabled()


def check_model_call(model: nn.Module, x, state, return_state, num_states: int) -> None:
    """Shared checks of a layered model's ``forward(x, state, return_state)``: ``x`` a tensor of
    the model's dtype, ``state`` None or one entry per stateful layer, ``return_state`` a bool."""
    name = type(model).__name__
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if not isinstance(return_state, bool):
        raise TypeError(f"return_state: expected a bool, got {type(return_state).__name__}")
    dtype = model_dtype(model)
    if dtype is not None and x.dtype != dtype and not _autocasting(x):
        raise TypeError(f"x: has dtype {x.dtype} but {name}'s parameters are {dtype}; convert one to the other "
                        f"(x.to({dtype}) or model.to({x.dtype}))")
    if state is None:
        return
    if not isinstance(state, (list, tuple)) or hasattr(state, "_fields"):  # a layer's NamedTuple state is not the list
        raise TypeError(f"state: expected None or the list of per-layer states returned with return_state=True, "
                        f"got {type(state).__name__}")
    if len(state) != num_states:
        raise ValueError(f"state: expected {num_states} entries (one per stateful layer of {name}, as returned "
                         f"with return_state=True), got {len(state)}")


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
