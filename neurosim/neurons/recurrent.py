"""``neurosim.RLIF``, ``RSynaptic`` and ``RALIF``: recurrent spiking layers, module shells around
:func:`neurosim.functional.recurrent`.

As in snnTorch, the all-to-all recurrence is an ``nn.Linear(size, size)`` kept in ``.recurrent``
(so ``lif.recurrent.load_state_dict(snn_rleaky.recurrent.state_dict())`` copies weights across);
with ``all_to_all=False`` each neuron feeds back to itself through one weight, ``.V``
(``.recurrent`` is then a :class:`OneToOne` holding it).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from neurosim import surrogate as surrogates
from neurosim.core.backends import BACKENDS
from neurosim.core.validation import RESETS, check_choice, check_parameter
from neurosim.functional.drive import reset_detached
from neurosim.functional.recurrent import recurrent


def _initial_value(value, name: str, size: int, low=None, high=None) -> torch.Tensor:
    if isinstance(value, torch.Tensor) and not value.is_floating_point() and value.dtype != torch.bool:
        value = value.float()
    check_parameter(value, name, low, high, always=True)
    tensor = value.detach().clone() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
    if tensor.numel() != 1 and tuple(tensor.shape) != (size,):
        raise ValueError(f"{name}: expected a number or a tensor of shape ({size},) (one per neuron), "
                         f"got shape {tuple(tensor.shape)}")
    return tensor.reshape(()) if tensor.numel() == 1 else tensor


class OneToOne(nn.Module):
    """One recurrent weight per neuron: ``rec = V * spikes`` (snnTorch's ``RecurrentOneToOne``)."""

    def __init__(self, size: int, V=1.0):
        super().__init__()
        self.V = nn.Parameter(_initial_value(V, "V", size).expand(size).clone())

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return spikes * self.V


class _RecurrentLayer(nn.Module):
    """Parameters, recurrence and state handling shared by the recurrent layers."""

    cell = ""
    # name -> (low, high, clamp into [low, high] in the forward pass: snnTorch does it for decays,
    # ALIF for gamma, so that a learned value cannot leave the range)
    bounds = {"alpha": (0.0, 1.0, True), "beta": (0.0, 1.0, True), "rho": (0.0, 1.0, True),
              "gamma": (0.0, None, True), "threshold": (None, None, False)}

    def __init__(self, size, params: dict, learn: dict, all_to_all, V, reset, surrogate, backend, bias,
                 learn_recurrent, detach_reset, return_state, record_membrane, reset_delay=True, terms=None):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size: expected a positive int (the number of neurons), got {size!r}")
        check_choice(reset, RESETS, "reset")
        check_choice(backend, BACKENDS, "backend")
        detach_reset = reset_detached(detach_reset, reset_delay)
        for flag, name in ((all_to_all, "all_to_all"), (bias, "bias"), (learn_recurrent, "learn_recurrent"),
                           (detach_reset, "detach_reset"), (return_state, "return_state"),
                           (record_membrane, "record_membrane"), (reset_delay, "reset_delay"),
                           *((v, k) for k, v in learn.items())):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}: expected a bool, got {type(flag).__name__}")
        if not detach_reset and reset == "zero" and reset_delay:
            raise ValueError("detach_reset=False is supported with reset='subtract' or 'none' (and with the zero "
                             "reset of reset_delay=False), not with the delayed zero reset")
        if not reset_delay and reset == "subtract":
            raise ValueError("reset_delay=False is supported with reset='zero' or 'none', not 'subtract'")
        if not reset_delay and reset == "zero" and backend not in ("auto", "torch"):
            raise ValueError(f"backend: reset_delay=False runs on the PyTorch reference ('auto' or 'torch'), "
                             f"got {backend!r}")
        terms = dict(terms or {})
        if any(t is not None for t in terms.values()):
            if reset_delay:
                raise ValueError("v_reset / v_leak / input_scale: supported with reset_delay=False (NIR's recurrent "
                                 "LIF/CubaLIF)")
            if terms.get("v_reset") is not None and reset != "zero":
                raise ValueError(f"v_reset: the value the membrane is reset to needs reset='zero', got {reset!r}")
            if backend not in ("auto", "torch"):
                raise ValueError(f"backend: v_reset / v_leak / input_scale run on the PyTorch reference ('auto' or "
                                 f"'torch'), got {backend!r}")
        for name, value in terms.items():
            self.register_buffer(name, None if value is None else _initial_value(value, name, size))
        self.term_names = tuple(terms)
        self.reset_delay = reset_delay
        self.size = size
        self.surrogate = surrogates.get(surrogate)
        self.param_names = tuple(params)
        for name, value in params.items():
            low, high, _ = self.bounds[name]
            tensor = _initial_value(value, name, size, low, high)
            if learn.get(f"learn_{name}", False):
                setattr(self, name, nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)
        self.all_to_all = all_to_all
        self.recurrent = nn.Linear(size, size, bias=bias) if all_to_all else OneToOne(size, V)
        if not learn_recurrent:
            for p in self.recurrent.parameters():
                p.requires_grad_(False)
        self.reset = reset
        self.backend = backend
        self.detach_reset = detach_reset
        self.return_state = return_state
        self.record_membrane = record_membrane

    @property
    def V(self) -> Optional[torch.Tensor]:
        """The one-to-one recurrent weights (``all_to_all=False``), else None."""
        return None if self.all_to_all else self.recurrent.V

    def forward(self, x: torch.Tensor, state=None):
        if isinstance(x, torch.Tensor) and x.dim() >= 1 and x.shape[-1] != self.size:
            raise ValueError(f"x: expected [T, B, {self.size}] for a layer of {self.size} neurons, got {tuple(x.shape)}")
        params = {}
        for name in self.param_names:
            value = getattr(self, name)
            low, high, clamp = self.bounds[name]
            params[name] = value.clamp(low, high) if clamp else value
        if self.all_to_all:
            rec = dict(weight=self.recurrent.weight, bias=self.recurrent.bias)
        else:
            rec = dict(v=self.recurrent.V)
        result = recurrent(self.cell, x, state, **rec, reset=self.reset, surrogate=self.surrogate,
                           detach_reset=self.detach_reset, record_membrane=self.record_membrane,
                           backend=self.backend, reset_delay=self.reset_delay,
                           **{name: getattr(self, name) for name in self.term_names}, **params)
        if self.return_state or self.record_membrane:
            return result
        return result.spikes

    def extra_repr(self) -> str:
        parts = [f"{self.size}"]
        for name in self.param_names:
            value = getattr(self, name)
            parts.append(f"{name}={value.item():.6g}" if value.numel() == 1 else f"{name}=tensor{tuple(value.shape)}")
        parts += [f"all_to_all={self.all_to_all}", f"reset={self.reset!r}",
                  f"surrogate={self.surrogate.name}({self.surrogate.param:g})", f"backend={self.backend!r}"]
        for name in self.term_names:
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value.item():.6g}" if value.numel() == 1 else f"{name}=tensor{tuple(value.shape)}")
        if not self.reset_delay:
            parts.append("reset_delay=False")
        return ", ".join(parts)


class RLIF(_RecurrentLayer):
    """Recurrent leaky integrate-and-fire layer, snnTorch's ``RLeaky`` over whole sequences (see
    :func:`neurosim.functional.rlif` for the equations): spikes and membrane equal snnTorch's bit for
    bit on the same weights, gradients equal its autograd.

    ``RLIF(size)(x)`` with ``x`` [T, B, size] returns spikes [T, B, size].
    ``RLIF(size, return_state=True)(x, state)`` returns ``RecurrentResult(spikes, state, membrane)``
    with ``state = RLIFState(spk, mem)``; pass it to the next call to continue the sequence.
    ``all_to_all=True``: ``.recurrent`` is ``nn.Linear(size, size, bias=bias)``; ``False``: one
    weight per neuron in ``.V`` (initialised from ``V``). ``learn_recurrent=False`` freezes them.
    ``reset_delay=False`` (``reset="zero"``): the reset lands in the step that spikes (snnTorch's
    ``RLeaky(reset_delay=False)``, NIR's recurrent LIF subgraph); it runs on the PyTorch reference,
    and by default (``detach_reset=None``) its gradient flows through the step's own spike as
    snnTorch's does (``detach_reset=True`` cuts it). With it, ``v_reset`` (the value of the zero
    reset), ``v_leak`` (leak target) and ``input_scale``
    (on the input plus the recurrence) give NIR's LIF terms (see :func:`neurosim.functional.recurrent`).
    """

    cell = "lif"

    def __init__(self, size: int, beta=0.9, threshold=1.0, all_to_all: bool = True, V=1.0,
                 reset: str = "subtract", surrogate="fast_sigmoid", backend: str = "auto", *, bias: bool = True,
                 learn_beta: bool = False, learn_threshold: bool = False, learn_recurrent: bool = True,
                 detach_reset: Optional[bool] = None, return_state: bool = False, record_membrane: bool = False,
                 reset_delay: bool = True, v_reset=None, v_leak=None, input_scale=None):
        super().__init__(size, {"beta": beta, "threshold": threshold},
                         {"learn_beta": learn_beta, "learn_threshold": learn_threshold}, all_to_all, V, reset,
                         surrogate, backend, bias, learn_recurrent, detach_reset, return_state, record_membrane,
                         reset_delay, dict(v_reset=v_reset, v_leak=v_leak, input_scale=input_scale))


class RSynaptic(_RecurrentLayer):
    """Recurrent current-based LIF layer, snnTorch's ``RSynaptic`` over whole sequences (see
    :func:`neurosim.functional.rsynaptic`); state ``RSynapticState(spk, syn, mem)``. Otherwise as
    :class:`RLIF`."""

    cell = "synaptic"

    def __init__(self, size: int, alpha=0.9, beta=0.8, threshold=1.0, all_to_all: bool = True, V=1.0,
                 reset: str = "subtract", surrogate="fast_sigmoid", backend: str = "auto", *, bias: bool = True,
                 learn_alpha: bool = False, learn_beta: bool = False, learn_threshold: bool = False,
                 learn_recurrent: bool = True, detach_reset: Optional[bool] = None, return_state: bool = False,
                 record_membrane: bool = False, reset_delay: bool = True, v_reset=None, v_leak=None,
                 input_scale=None):
        super().__init__(size, {"alpha": alpha, "beta": beta, "threshold": threshold},
                         {"learn_alpha": learn_alpha, "learn_beta": learn_beta, "learn_threshold": learn_threshold},
                         all_to_all, V, reset, surrogate, backend, bias, learn_recurrent, detach_reset,
                         return_state, record_membrane, reset_delay,
                         dict(v_reset=v_reset, v_leak=v_leak, input_scale=input_scale))


class RALIF(_RecurrentLayer):
    """Recurrent adaptive LIF layer (Bellec et al. 2018, LSNN; see :func:`neurosim.functional.ralif`):
    each spike raises the neuron's threshold by ``gamma``, decaying by ``rho`` per step, which gives
    the network a memory of its recent activity longer than the membrane's. State
    ``RALIFState(spk, mem, adapt)``. Otherwise as :class:`RLIF`; ``gamma=0`` is :class:`RLIF`."""

    cell = "alif"

    def __init__(self, size: int, beta=0.9, rho=0.95, gamma=0.5, threshold=1.0, all_to_all: bool = True, V=1.0,
                 reset: str = "subtract", surrogate="fast_sigmoid", backend: str = "auto", *, bias: bool = True,
                 learn_beta: bool = False, learn_rho: bool = False, learn_gamma: bool = False,
                 learn_threshold: bool = False, learn_recurrent: bool = True, detach_reset: bool = True,
                 return_state: bool = False, record_membrane: bool = False):
        super().__init__(size, {"beta": beta, "rho": rho, "gamma": gamma, "threshold": threshold},
                         {"learn_beta": learn_beta, "learn_rho": learn_rho, "learn_gamma": learn_gamma,
                          "learn_threshold": learn_threshold},
                         all_to_all, V, reset, surrogate, backend, bias, learn_recurrent, detach_reset,
                         return_state, record_membrane)
