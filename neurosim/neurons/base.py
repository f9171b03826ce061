"""What the neuron module shells share: parameter initialisation (fixed buffer or learned
``nn.Parameter``) and the choice between returning the output or the whole result."""

from __future__ import annotations

import torch
from torch import nn

from neurosim.core.backends import BACKENDS
from neurosim.core.validation import check_choice, check_flag, check_parameter


def initial_value(value, name: str, low=None, high=None) -> torch.Tensor:
    """A checked copy of a parameter's initial value (number or tensor), as a float tensor."""
    if isinstance(value, torch.Tensor) and not value.is_floating_point() and value.dtype != torch.bool:
        value = value.float()  # threshold=torch.tensor(1) means 1.0
    check_parameter(value, name, low, high, always=True)
    return value.detach().clone() if isinstance(value, torch.Tensor) else torch.tensor(float(value))


def describe_options(module: nn.Module, names) -> str:
    """``", v_reset=..., reset_delay=False"`` for the NIR options a module sets (for ``extra_repr``)."""
    parts = [f"{n}={NeuronModule.describe(getattr(module, n))}" for n in names if getattr(module, n, None) is not None]
    if getattr(module, "reset_delay", True) is False:
        parts.append("reset_delay=False")
    return "".join(", " + p for p in parts)


class NeuronModule(nn.Module):
    """Base of the whole-sequence neuron modules: ``return_state`` / ``record_membrane`` make
    ``forward`` return the functional's whole result (with the state to continue the sequence)
    instead of the output alone."""

    def __init__(self, backend: str, return_state: bool, record_membrane: bool = False):
        super().__init__()
        check_choice(backend, BACKENDS, "backend")
        check_flag(return_state, "return_state")
        check_flag(record_membrane, "record_membrane")
        self.backend = backend
        self.return_state = return_state
        self.record_membrane = record_membrane

    def add_parameter(self, name: str, value, learn: bool, low=None, high=None) -> None:
        """Registers ``name`` as an ``nn.Parameter`` when ``learn``, else as a buffer."""
        check_flag(learn, f"learn_{name}")
        tensor = initial_value(value, name, low, high)
        if learn:
            setattr(self, name, nn.Parameter(tensor))
        else:
            self.register_buffer(name, tensor)

    def add_option(self, name: str, value, low=None, high=None) -> None:
        """An optional fixed parameter (``v_reset``, ``v_leak``, ``input_scale``): a buffer, or None
        (then absent from the ``state_dict`` and its arithmetic skipped)."""
        self.register_buffer(name, None if value is None else initial_value(value, name, low, high))

    def describe_options(self, names) -> str:
        return describe_options(self, names)

    def finish(self, result, output: torch.Tensor):
        return result if self.return_state or self.record_membrane else output

    @staticmethod
    def describe(t: torch.Tensor) -> str:
        return f"{t.item():.6g}" if t.numel() == 1 else f"tensor{tuple(t.shape)}"
