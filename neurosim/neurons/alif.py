"""``neurosim.ALIF``: the module shell around :func:`neurosim.functional.alif`."""

from __future__ import annotations

from typing import Optional

import torch

from neurosim import surrogate as surrogates
from neurosim.core.validation import RESETS, check_choice
from neurosim.functional.alif import alif
from neurosim.functional.drive import reset_detached
from neurosim.neurons.base import NeuronModule


class ALIF(NeuronModule):
    """Adaptive-threshold LIF layer (Bellec et al. 2018/2020; equations in
    :func:`neurosim.functional.alif`): the threshold ``threshold + gamma*a`` rises by ``gamma``
    with every spike and decays with ``rho``. ``gamma=0`` is ``LIF(reset="subtract")`` exactly.

    ``ALIF()(x)`` returns spikes of the shape of ``x`` [T, B, *features];
    ``ALIF(return_state=True)(x, state)`` returns ``ALIFResult(spikes, state, membrane,
    adaptation)`` with ``state = ALIFState(mem, adaptation)`` to continue the sequence.

    ``beta``, ``rho``, ``gamma`` and ``threshold`` are numbers (per layer) or tensors broadcastable
    to the feature shape (per neuron); ``learn_*`` makes them parameters (decays clamped to
    [0, 1], gamma to >= 0 in the forward pass).
    """

    def __init__(self, beta=0.9, rho=0.95, gamma=1.8, threshold=1.0, reset: str = "subtract",
                 surrogate="fast_sigmoid", backend: str = "auto", *, learn_beta: bool = False,
                 learn_rho: bool = False, learn_gamma: bool = False, learn_threshold: bool = False,
                 detach_reset: Optional[bool] = True, return_state: bool = False, record_membrane: bool = False):
        super().__init__(backend, return_state, record_membrane)
        check_choice(reset, RESETS, "reset")
        detach_reset = reset_detached(detach_reset, True)  # None: snnTorch's convention, as LIF's
        self.surrogate = surrogates.get(surrogate)
        self.add_parameter("beta", beta, learn_beta, 0.0, 1.0)
        self.add_parameter("rho", rho, learn_rho, 0.0, 1.0)
        self.add_parameter("gamma", gamma, learn_gamma, 0.0)
        self.add_parameter("threshold", threshold, learn_threshold)
        self.reset = reset
        self.detach_reset = detach_reset

    def forward(self, x: torch.Tensor, state=None):
        result = alif(x, state, beta=self.beta.clamp(0, 1), rho=self.rho.clamp(0, 1), gamma=self.gamma.clamp(min=0),
                      threshold=self.threshold, reset=self.reset, surrogate=self.surrogate,
                      detach_reset=self.detach_reset, record_membrane=self.record_membrane, backend=self.backend)
        return self.finish(result, result.spikes)

    def extra_repr(self) -> str:
        return (f"beta={self.describe(self.beta)}, rho={self.describe(self.rho)}, gamma={self.describe(self.gamma)}, "
                f"threshold={self.describe(self.threshold)}, reset={self.reset!r}, "
                f"surrogate={self.surrogate.name}({self.surrogate.param:g}), backend={self.backend!r}")
