"""Local plasticity rules (pure functions returning the weight change dW), the Learner that writes
them into ``.grad`` for any torch optimizer, sign-diverse ("curl") plasticity, and Hebbian
orthogonal projection (HLOP) for continual learning.

Weights are shaped like ``nn.Linear.weight`` ([n_out, n_in]); activity is [B, n] for one step or
[T, B, n] for a whole sequence; changes are averaged over the batch and summed over time.
"""

from neurosim.plasticity.curl import curl, curl_gradient, flip_signs, flipped_signs
from neurosim.plasticity.hlop import HebbianProjection, project_gradient
from neurosim.plasticity.learner import Learner
from neurosim.plasticity.rules import (
    STDPTraces,
    ThreeFactorState,
    anti_hebbian,
    bcm,
    bcm_threshold,
    hebbian,
    oja,
    oja_subspace,
    stdp,
    stdp_per_sample,
    stdp_traces,
    three_factor,
)

__all__ = [
    "hebbian", "anti_hebbian", "oja", "oja_subspace", "bcm", "bcm_threshold", "stdp", "stdp_traces",
    "stdp_per_sample", "STDPTraces", "ThreeFactorState", "three_factor", "curl", "flip_signs", "curl_gradient", "flipped_signs",
    "Learner", "HebbianProjection", "project_gradient",
]
