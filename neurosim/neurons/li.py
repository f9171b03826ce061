"""``neurosim.LI``: the module shell around :func:`neurosim.functional.li`."""

from __future__ import annotations

import torch

from neurosim.functional.li import li
from neurosim.neurons.base import NeuronModule


class LI(NeuronModule):
    """Leaky-integrator layer without spikes, ``u_t = beta*u_{t-1} + x_t`` (the usual readout).

    ``LI()(x)`` returns the membrane at every step, [T, B, *features] in the dtype of ``x``;
    ``LI(return_state=True)(x, state)`` returns ``LIResult(output, state)``. ``beta`` is a number
    or a tensor broadcastable to the feature shape; ``learn_beta`` makes it a parameter (clamped
    to [0, 1] in the forward pass).
    """

    def __init__(self, beta=0.9, backend: str = "auto", *, learn_beta: bool = False, return_state: bool = False,
                 v_leak=None, input_scale=None):
        super().__init__(backend, return_state)
        self.add_parameter("beta", beta, learn_beta, 0.0, 1.0)
        self.add_option("v_leak", v_leak)
        self.add_option("input_scale", input_scale)

    def forward(self, x: torch.Tensor, state=None):
        result = li(x, state, beta=self.beta.clamp(0, 1), backend=self.backend, v_leak=self.v_leak,
                    input_scale=self.input_scale)
        return self.finish(result, result.output)

    def extra_repr(self) -> str:
        return (f"beta={self.describe(self.beta)}, backend={self.backend!r}"
                + self.describe_options(("v_leak", "input_scale")))
