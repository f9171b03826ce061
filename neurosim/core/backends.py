"""Which kernels this install has, and how a backend name resolves for a tensor."""

from __future__ import annotations

import json
import os
import warnings

import torch

BACKENDS = ("auto", "cuda", "cpp", "torch")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build_record() -> dict:
    """What setup.py wrote about the native build (``neurosim/_build_info.json``), or {}."""
    try:
        with open(os.path.join(_PACKAGE_DIR, "_build_info.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def unavailable_reason(record: dict, import_error: str, torch_version: str) -> str:
    """Why the native extension did not load, from the build record and the import error."""
    if record.get("failure"):
        return f"the native build failed: {record['failure']} (compiler log: {record.get('failure_log')})"
    if record.get("torch") and record["torch"] != torch_version.split("+")[0]:
        return f"it was built against torch {record['torch']} but torch {torch_version} is running ({import_error})"
    return f"it could not be imported ({import_error})"


_import_error = None
try:  # importing the extension registers the torch.ops.neurosim.* ops
    from neurosim import _C as _native
except Exception as exc:  # noqa: BLE001 - missing or broken build: fall back to pure PyTorch
    _native = None
    _import_error = f"{type(exc).__name__}: {exc}"
    warnings.warn(
        f"neurosim: native kernels unavailable: {unavailable_reason(_build_record(), _import_error, torch.__version__)}. "
        "Using the pure-PyTorch 'torch' backend. Rebuild against the torch you run with: "
        "`pip install --no-build-isolation -e .` (add -v to see the compiler); "
        "neurosim.build_info() tells what this install has.",
        RuntimeWarning,
        stacklevel=2,
    )


def native_built() -> bool:
    return _native is not None


def cuda_built() -> bool:
    return _native is not None and bool(getattr(_native, "WITH_CUDA", 0))


def build_info() -> dict:
    """How this install's native kernels were built and what they run on.

    Keys: ``native`` (the C++ extension loads), ``cuda_kernels`` (it has the CUDA kernels),
    ``torch`` (the version built against), ``torch_runtime`` (the one running), ``cuda`` (the
    CUDA toolkit version built with, or None), ``arch_list`` (the GPU architectures compiled),
    ``cxx_standard``, ``cpu_isas`` (the CPU instruction-set levels compiled), ``cpu_isa`` (the one
    in use), ``cpu_isa_supported`` (the widest this CPU runs), ``gpu_available``, and when something
    is missing, why: ``cuda_skipped_because``, ``failure`` and ``failure_log`` (a failed build),
    ``import_error``; ``cpu_float32_only`` (built with ``NEUROSIM_CPU_FLOAT32_ONLY=1``: the CPU
    kernels hold float32 alone and other dtypes raise, a build-check configuration).
    """
    record = _build_record()
    native = _native is not None
    info = {
        "native": native,
        "cuda_kernels": cuda_built(),
        "torch": (getattr(_native, "BUILD_TORCH", None) if native else None) or record.get("torch"),
        "torch_runtime": torch.__version__,
        "cuda": (getattr(_native, "BUILD_CUDA", "") or None) if native else record.get("cuda"),
        "arch_list": (getattr(_native, "BUILD_ARCH_LIST", "") or None) if native else record.get("arch_list"),
        "cxx_standard": (f"c++{_native.BUILD_CXX_STANDARD}" if native and hasattr(_native, "BUILD_CXX_STANDARD")
                         else record.get("cxx_standard")),
        "cpu_isas": (_native.BUILD_CPU_ISAS.split(",") if native and hasattr(_native, "BUILD_CPU_ISAS")
                     else record.get("cpu_isas")),
        "cpu_isa": _native.cpu_isa() if native and hasattr(_native, "cpu_isa") else None,
        "cpu_isa_supported": _native.cpu_isa_supported() if native and hasattr(_native, "cpu_isa_supported") else None,
        "gpu_available": torch.cuda.is_available(),
        "cuda_skipped_because": record.get("cuda_skipped_because"),
        "failure": record.get("failure"),
        "failure_log": record.get("failure_log"),
        "import_error": _import_error,
        "cpu_float32_only": bool(record.get("cpu_float32_only", False)),
    }
    return info


def set_cpu_isa(level: str) -> None:
    """Runs the CPU kernels compiled for ``level`` ("baseline", "avx2" or "avx512"; at most the
    widest this CPU supports). For comparing levels; the default is already the widest."""
    if _native is None:
        raise RuntimeError(f"set_cpu_isa: the native extension is not built; {build_info()['import_error']}")
    if not isinstance(level, str):
        raise TypeError(f"level: expected a string, got {type(level).__name__}")
    _native.set_cpu_isa(level)


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
            info = build_info()
            why = info["failure"] or info["cuda_skipped_because"] or info["import_error"] or "built without CUDA"
            raise RuntimeError(
                f"backend='cuda': this neurosim install has no CUDA kernels ({why}); available: {backends()}. "
                "Reinstall with NEUROSIM_CUDA=1 pip install --no-build-isolation -e . against a CUDA build of "
                "torch with nvcc on the PATH; neurosim.build_info() has the details"
            )
        if not on_cuda:
            raise ValueError(f"backend='cuda' needs CUDA tensors, got tensors on {device}")
    if backend == "cpp":
        if not native_built():
            raise RuntimeError(
                f"backend='cpp': the native extension is not available ({build_info()['failure'] or _import_error}); "
                f"available: {backends()}. See neurosim.build_info()"
            )
        if on_cuda:
            raise ValueError(f"backend='cpp' runs on the CPU, got tensors on {device}; use 'cuda' or 'auto'")
    return backend
