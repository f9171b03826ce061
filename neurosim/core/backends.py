"""Which kernels this install has, and how a backend name resolves for a tensor."""

from __future__ import annotations

import warnings

import torch

BACKENDS = ("auto", "cuda", "cpp", "torch")

try:  # importing the extension registers the torch.ops.neurosim.* ops
    from neurosim import _C as _native
except Exception as exc:  # noqa: BLE001 - missing or broken build: fall back to pure PyTorch
    _native = None
    warnings.warn(
        f"neurosim: native kernels unavailable ({exc}); using the pure-PyTorch 'torch' backend. "
        "Reinstall with `pip install --no-build-isolation -e .` against the torch you run with.",
        RuntimeWarning,
        stacklevel=2,
    )


def native_built() -> bool:
    return _native is not None


def cuda_built() -> bool:
    return _native is not None and bool(getattr(_native, "WITH_CUDA", 0))


def backends() -> list[str]:
    """The backends this install can run, fastest first (``auto`` not included)."""
    names = []
    if cuda_built() and torch.cuda.is_available():
        names.append("cuda")
    if native_built():
        names.append("cpp")
    names.append("torch")
    return names


def resolve_backend(backend: str, device: torch.device) -> str:
    """Maps ``backend`` to a concrete one for tensors on ``device`` or raises a clear error."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    on_cuda = device.type == "cuda"
    if backend == "auto":
        if on_cuda:
            return "cuda" if cuda_built() else "torch"
        return "cpp" if native_built() else "torch"
    if backend == "cuda":
        if not cuda_built():
            raise RuntimeError(
                "backend='cuda': this neurosim install has no CUDA kernels (built without a CUDA torch "
                f"or nvcc); available: {backends()}"
            )
        if not on_cuda:
            raise ValueError(f"backend='cuda' needs CUDA tensors, got tensors on {device}")
    if backend == "cpp":
        if not native_built():
            raise RuntimeError(f"backend='cpp': the native extension is not built; available: {backends()}")
        if on_cuda:
            raise ValueError(f"backend='cpp' runs on the CPU, got tensors on {device}; use 'cuda' or 'auto'")
    return backend
