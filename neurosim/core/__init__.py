"""Backend dispatch, torch.library op registration and the pure-PyTorch reference."""

from neurosim.core.backends import (
    BACKENDS,
    backends,
    build_info,
    cuda_built,
    native_built,
    resolve_backend,
    set_cpu_isa,
)
from neurosim.core.lif_op import lif_native
from neurosim.core.reference import lif_reference
from neurosim.core.ultra_op import ultradlif_native, ultralif_native
from neurosim.core.ultra_reference import ultradlif_reference, ultralif_reference

__all__ = ["BACKENDS", "backends", "build_info", "set_cpu_isa", "cuda_built", "native_built", "resolve_backend", "lif_native", "lif_reference",
           "ultralif_native", "ultradlif_native", "ultralif_reference", "ultradlif_reference"]
