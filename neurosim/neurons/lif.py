"""``neurosim.LIF``: the module shell around :func:`neurosim.functional.lif`."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from neurosim import surrogate as surrogates
from neurosim.core.backends import BACKENDS
from neurosim.core.validation import RESETS, check_choice, check_flag
from neurosim.functional.drive import check_nir_options, reset_detached
from neurosim.functional.lif import lif
from neurosim.neurons.base import describe_options, initial_value


class LIF(nn.Module):
    """Leaky integrate-and-fire layer over whole sequences, numerically identical to snnTorch's
    ``Leaky`` (see :func:`neurosim.functional.lif` for the equations).

    ``LIF()(x)`` with ``x`` [T, B, *features] returns spikes of the same shape and dtype.
    ``LIF(return_state=True)(x, state)`` returns ``LIFResult(spikes, state, membrane)``: feed
    ``state`` into the next call to continue the sequence; ``record_membrane=True`` fills
    ``membrane`` with the membrane at every step.

    ``beta`` and ``threshold`` are a number (one per layer) or a tensor of the feature shape (one
    per neuron); ``learn_beta`` / ``learn_threshold`` make them ``nn.Parameter``\\ s. As in snnTorch a
    learned beta is clamped to [0, 1] in the forward pass.

    ``reset_delay=False`` (with ``reset="zero"``) resets in the step that spikes, as snnTorch's
    ``Leaky(reset_delay=False)`` and NIR's LIF: the same spikes as the default delayed zero reset,
    with the membrane reported after the reset, and (``detach_reset`` left at None) snnTorch's
    gradient through the step's own spike; ``detach_reset=True`` cuts it. ``v_reset`` (the value of the zero reset),
    ``v_leak`` (leak target) and ``input_scale`` (factor on the input) complete NIR's LIF:
    ``u_t = beta*u_{t-1} + (1 - beta)*v_leak + input_scale*x_t``; each is a fixed number or
    tensor, or None (the default: its arithmetic is skipped). See :func:`neurosim.functional.lif`.
    """

    def __init__(
        self,
        beta=0.9,
        threshold=1.0,
        reset: str = "subtract",
        surrogate="fast_sigmoid",
        backend: str = "auto",
        *,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        detach_reset: Optional[bool] = None,
        return_state: bool = False,
        record_membrane: bool = False,
        reset_delay: bool = True,
        v_reset=None,
        v_leak=None,
        input_scale=None,
    ):
        super().__init__()
        check_choice(reset, RESETS, "reset")
        detach_reset = reset_detached(detach_reset, reset_delay)
        check_flag(return_state, "return_state")
        check_flag(record_membrane, "record_membrane")
        check_nir_options(reset, reset_delay, v_reset, v_leak, input_scale)
        check_choice(backend, BACKENDS, "backend")
        self.surrogate = surrogates.get(surrogate)
        beta_t = initial_value(beta, "beta", low=0.0, high=1.0)
        threshold_t = initial_value(threshold, "threshold")
        if learn_beta:
            self.beta = nn.Parameter(beta_t)
        else:
            self.register_buffer("beta", beta_t)
        if learn_threshold:
            self.threshold = nn.Parameter(threshold_t)
        else:
            self.register_buffer("threshold", threshold_t)
        self.reset = reset
        self.backend = backend
        self.detach_reset = detach_reset
        self.return_state = return_state
        self.record_membrane = record_membrane
        self.reset_delay = reset_delay
        for name, value in (("v_reset", v_reset), ("v_leak", v_leak), ("input_scale", input_scale)):
            self.register_buffer(name, None if value is None else initial_value(value, name))

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None):
        result = lif(
            x,
            state,
            beta=self.beta.clamp(0, 1),
            threshold=self.threshold,
            reset=self.reset,
            surrogate=self.surrogate,
            detach_reset=self.detach_reset,
            record_membrane=self.record_membrane,
            backend=self.backend,
            reset_delay=self.reset_delay,
            v_reset=self.v_reset,
            v_leak=self.v_leak,
            input_scale=self.input_scale,
        )
        if self.return_state or self.record_membrane:
            return result
        return result.spikes

    def extra_repr(self) -> str:
        beta = f"{self.beta.item():.6g}" if self.beta.numel() == 1 else f"tensor{tuple(self.beta.shape)}"
        thr = f"{self.threshold.item():.6g}" if self.threshold.numel() == 1 else f"tensor{tuple(self.threshold.shape)}"
        return (f"beta={beta}, threshold={thr}, reset={self.reset!r}, surrogate={self.surrogate.name}"
                f"({self.surrogate.param:g}), backend={self.backend!r}"
                + describe_options(self, ("v_reset", "v_leak", "input_scale")))
