"""``neurosim.LIF``: the module shell around :func:`neurosim.functional.lif`."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from neurosim import surrogate as surrogates
from neurosim.core.backends import BACKENDS
from neurosim.core.validation import RESETS, check_choice
from neurosim.functional.lif import lif
from neurosim.neurons.base import initial_value


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
        detach_reset: bool = True,
        return_state: bool = False,
        record_membrane: bool = False,
    ):
        super().__init__()
        check_choice(reset, RESETS, "reset")
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
        )
        if self.return_state or self.record_membrane:
            return result
        return result.spikes

    def extra_repr(self) -> str:
        beta = f"{self.beta.item():.6g}" if self.beta.numel() == 1 else f"tensor{tuple(self.beta.shape)}"
        thr = f"{self.threshold.item():.6g}" if self.threshold.numel() == 1 else f"tensor{tuple(self.threshold.shape)}"
        return (f"beta={beta}, threshold={thr}, reset={self.reset!r}, surrogate={self.surrogate.name}"
                f"({self.surrogate.param:g}), backend={self.backend!r}")
