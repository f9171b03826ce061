"""Backend dispatch, torch.library op registration and the pure-PyTorch reference."""

from neurosim.core import models  # registers the models of the generic scan
from neurosim.core.backends import (
    BACKENDS,
    backends,
    build_info,
    cuda_built,
    native_built,
    resolve_backend,
    set_cpu_isa,
)
from neurosim.core.reference import alif_reference, li_reference, lif_reference, synaptic_reference
from neurosim.core.temporal import SCAN_MODELS, ScanModel, ScanOptions, run_scan
from neurosim.core.ultra_op import ultradlif_native
from neurosim.core.ultra_reference import ultradlif_reference, ultralif_reference

__all__ = ["BACKENDS", "backends", "build_info", "set_cpu_isa", "cuda_built", "native_built", "resolve_backend",
           "lif_reference", "synaptic_reference", "alif_reference", "li_reference", "SCAN_MODELS", "ScanModel",
           "ScanOptions", "run_scan", "models", "ultradlif_native", "ultralif_reference", "ultradlif_reference"]
