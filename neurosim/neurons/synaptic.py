"""``neurosim.Synaptic``: the module shell around :func:`neurosim.functional.synaptic`."""

from __future__ import annotations

from typing import Optional

import torch

from neurosim import surrogate as surrogates
from neurosim.core.validation import RESETS, check_choice
from neurosim.functional.drive import check_nir_options, reset_detached
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

    ``reset_delay=False`` (with ``reset="zero"``), ``v_reset``, ``v_leak`` and ``input_scale`` give
    NIR's ``CubaLIF`` exactly (see :func:`neurosim.functional.synaptic`); None (the default) skips
    an option's arithmetic.
    """

    def __init__(self, alpha=0.9, beta=0.8, threshold=1.0, reset: str = "subtract", surrogate="fast_sigmoid",
                 backend: str = "auto", *, learn_alpha: bool = False, learn_beta: bool = False,
                 learn_threshold: bool = False, detach_reset: Optional[bool] = None, return_state: bool = False,
                 record_membrane: bool = False, reset_delay: bool = True, v_reset=None, v_leak=None,
                 input_scale=None):
        super().__init__(backend, return_state, record_membrane)
        check_choice(reset, RESETS, "reset")
        detach_reset = reset_detached(detach_reset, reset_delay)
        check_nir_options(reset, reset_delay, v_reset, v_leak, input_scale)
        if reset_delay and (v_reset is not None or v_leak is not None):
            raise ValueError("v_reset / v_leak: supported with reset_delay=False (NIR's CubaLIF), not with the "
                             "delayed reset")
        self.reset_delay = reset_delay
        self.add_option("v_reset", v_reset)
        self.add_option("v_leak", v_leak)
        self.add_option("input_scale", input_scale)
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
                          backend=self.backend, reset_delay=self.reset_delay, v_reset=self.v_reset,
                          v_leak=self.v_leak, input_scale=self.input_scale)
        return self.finish(result, result.spikes)

    def extra_repr(self) -> str:
        return (f"alpha={self.describe(self.alpha)}, beta={self.describe(self.beta)}, "
                f"threshold={self.describe(self.threshold)}, reset={self.reset!r}, "
                f"surrogate={self.surrogate.name}({self.surrogate.param:g}), backend={self.backend!r}"
                + self.describe_options(("v_reset", "v_leak", "input_scale")))
