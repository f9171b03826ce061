"""The theta-gated Helmholtz model of the hippocampal formation (George et al., NeurIPS 2023):
three-compartment neurons, theta-gated wake/sleep local learning, and path integration by a
learned ring attractor. See docs/hippocampus.md."""

from neurosim.models.hippocampus.environments import GaussianProcessLatents, LatentMixing, RingSample, RingTrack
from neurosim.models.hippocampus.network import HelmholtzHippocampus, HippocampusConfig, HippocampusRecord
from neurosim.models.hippocampus.theta import ThetaGate

__all__ = ["GaussianProcessLatents", "HelmholtzHippocampus", "HippocampusConfig", "HippocampusRecord",
           "LatentMixing", "RingSample", "RingTrack", "ThetaGate"]
