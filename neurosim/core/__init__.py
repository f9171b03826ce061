"""Backend dispatch, torch.library op registration and the pure-PyTorch reference."""

from neurosim.core.backends import BACKENDS, backends, cuda_built, native_built, resolve_backend
from neurosim.core.lif_op import lif_native
from neurosim.core.reference import lif_reference

__all__ = ["BACKENDS", "backends", "cuda_built", "native_built", "resolve_backend", "lif_native", "lif_reference"]
