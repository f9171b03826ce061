"""``neurosim.Synaptic``: the module shell around :func:`neurosim.functional.synaptic`."""

from __future__ import annotations

import torch

from neurosim import surrogate as surrogates
from neurosim.core.validation import RESETS, check_choice, check_flag
from neurosim.functional.synaptic import synaptic
from neurosim.neurons.base import NeuronModule


class Synaptic(NeuronModule):
    """Synaptic-current (second-order) LIF layer, identical to snnTorch's ``Synaptic`` bit for bit
    (equations in :func:`neurosim.functional.synaptic`).

    ``Synaptic()(x)`` with ``x`` [T, B, *features] returns spikes of the same shape and dtype.
    ``Synaptic(return_state=True)(x, state)`` returns ``SynapticResult(spikes, state, syn,
    membrane)``; ``state`` is the tuple ``SynapticState(syn, mem)`` to pass to the next call.
    ``record_membrane=True`` also fills ``syn`` and ``membrane`` with every step's values.

    ``alpha``, ``beta`` and ``threshold`` are a number (one per layer) or a tensor broadcastable to
    the feature shape (one per neuron); ``learn_*`` makes them ``nn.Parameter``\\ s. As in snnTorch
    learned decays are clamped to [0, 1] in the forward pass.
    """

    def __init__(self, alpha=0.9, beta=0.8, threshold=1.0, reset: str = "subtract", surrogate="fast_sigmoid",
                 backend: str = "auto", *, learn_alpha: bool = False, learn_beta: bool = False,
                 learn_threshold: bool = False, detach_reset: bool = True, return_state: bool = False,
                 record_membrane: bool = False):
        super().__init__(backend, return_state, record_membrane)
        check_choice(reset, RESETS, "reset")
        check_flag(detach_reset, "detach_reset")
        self.surrogate = surrogates.get(surrogate)
        self.add_parameter("alpha", alpha, learn_alpha, 0.0, 1.0)
        self.add_parameter("beta", beta, learn_beta, 0.0, 1.0)
        self.add_parameter("threshold", threshold, learn_threshold)
        self.reset = reset
        self.detach_reset = detach_reset

    def forward(self, x: torch.Tensor, state=None):
        result = synaptic(x, state, alpha=self.alpha.clamp(0, 1), beta=self.beta.clamp(0, 1),
                          threshold=self.threshold, reset=self.reset, surrogate=self.surrogate,
                          detach_reset=self.detach_reset, record_membrane=self.record_membrane,
                          backend=self.backend)
        return self.finish(result, result.spikes)

    def extra_repr(self) -> str:
        return (f"alpha={self.describe(self.alpha)}, beta={self.describe(self.beta)}, "
                f"threshold={self.describe(self.threshold)}, reset={self.reset!r}, "
                f"surrogate={self.surrogate.name}({self.surrogate.param:g}), backend={self.backend!r}")
