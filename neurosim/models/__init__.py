"""Composite models built on neurosim's kernels."""

from neurosim.models import hippocampus
from neurosim.models.hippocampus import HelmholtzHippocampus, HippocampusConfig, ThetaGate

__all__ = ["HelmholtzHippocampus", "HippocampusConfig", "ThetaGate", "hippocampus"]
