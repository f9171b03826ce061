"""How neurosim's native extension is built: the facts setup.py, the tests and the GPU validation
script share. Standard library only, so setup.py can load this file before torch is imported
(torch reads ``CUDA_HOME`` once, when ``torch.utils.cpp_extension`` is first imported).
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess

# torch's CUDAExtension puts -D__CUDA_NO_HALF_CONVERSIONS__ and friends (its COMMON_NVCC_FLAGS)
# in front of ours. Our kernels convert explicitly (neurosim::convert in common.h); the -U flags
# keep older kernel code compiling too, as flash-attention and xformers do.
TORCH_NVCC_DEFINES = (
    "-D__CUDA_NO_HALF_OPERATORS__",
    "-D__CUDA_NO_HALF_CONVERSIONS__",
    "-D__CUDA_NO_BFLOAT16_CONVERSIONS__",
    "-D__CUDA_NO_HALF2_OPERATORS__",
)
NVCC_FLAGS = [
    "-O3",
    "-fmad=false",  # the CPU twin computes without FMA contraction: same rounding on both
    "--expt-relaxed-constexpr",
    *("-U" + flag[2:] for flag in TORCH_NVCC_DEFINES),
]

# Built when no GPU is visible and TORCH_CUDA_ARCH_LIST is unset: Ampere and Hopper, with PTX of
# the newest so later GPUs JIT-compile it.
DEFAULT_ARCH_LIST = "8.0;9.0+PTX"

# -fno-wrapv undoes the -fwrapv in Python's own CFLAGS (which setuptools puts first): with wrapping
# int arithmetic GCC cannot prove the scan's chunk indices (step * stride + lane) affine and
# leaves the backward's replay loops scalar (UltraLIF 3x, LIF 1.4x slower).
# -g0 drops the debug information Python's CFLAGS ask for: on the template-heavy scan files it
# was a good part of the compile time and most of a 500 MB library.
CXX_FLAGS = ["-O3", "-ffp-contract=off", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-fno-wrapv", "-g0"]

# The x86 levels the CPU kernels are compiled for; the widest the CPU runs is chosen at run time.
X86_ISA_LEVELS = {
    "baseline": ["-march=x86-64", "-mtune=generic"],
    "avx2": ["-march=x86-64-v3", "-mtune=generic"],
    "avx512": ["-march=x86-64-v4", "-mtune=generic", "-mprefer-vector-width=512"],
}


class BuildConfigError(RuntimeError):
    """A setting or a missing tool that makes the requested build impossible."""


def env_switch(name: str, environ=os.environ):
    """``1/true/on/yes`` -> True, ``0/false/off/no`` -> False, unset or empty -> None (auto)."""
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return None
    if raw in ("1", "true", "on", "yes"):
        return True
    if raw in ("0", "false", "off", "no"):
        return False
    raise BuildConfigError(f"{name}={environ.get(name)!r}: expected 1 or 0 (or unset for auto)")


def cxx_standard(torch_include_dirs) -> str:
    """The C++ standard the torch headers require, read from ATen.h's own #error line
    (C++17 up to torch 2.13, C++20 from 2.14)."""
    for include in torch_include_dirs:
        header = os.path.join(include, "ATen", "ATen.h")
        if os.path.exists(header):
            with open(header, encoding="utf-8", errors="replace") as f:
                match = re.search(r"C\+\+(\d\d) or later compatible compiler is required", f.read())
            if match:
                return f"c++{match.group(1)}"
    return "c++17"


def _toolkit_root(path: str | None) -> str | None:
    """``path`` if it is a CUDA toolkit (has bin/nvcc and include/cuda_runtime.h), else None."""
    if path and os.path.exists(os.path.join(path, "include", "cuda_runtime.h")) and (
        os.path.exists(os.path.join(path, "bin", "nvcc"))
    ):
        return os.path.realpath(path)
    return None


def find_cuda_home(environ=os.environ) -> str | None:
    """The CUDA toolkit folder: CUDA_HOME/CUDA_PATH, else the folder of the real nvcc on the PATH,
    also when that nvcc is a wrapper script (asked with ``nvcc --dryrun``), else /usr/local/cuda."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        root = _toolkit_root(environ.get(var))
        if root:
            return root
    nvcc = shutil.which("nvcc", path=environ.get("PATH"))
    if nvcc:
        root = _toolkit_root(os.path.dirname(os.path.dirname(os.path.realpath(nvcc))))
        if root:
            return root
        try:  # a wrapper: nvcc itself prints where it lives
            probe = subprocess.run([nvcc, "--dryrun", "--version"], capture_output=True, text=True, timeout=60)
            match = re.search(r"_HERE_=(\S+)", probe.stdout + probe.stderr)
        except (OSError, subprocess.SubprocessError):
            match = None
        if match:
            root = _toolkit_root(os.path.dirname(match.group(1)))
            if root:
                return root
    for candidate in ["/usr/local/cuda", *sorted(glob.glob("/usr/local/cuda-*"), reverse=True)]:
        root = _toolkit_root(candidate)
        if root:
            return root
    return None


def nvcc_version(cuda_home: str) -> str | None:
    """The toolkit's release, e.g. "13.0"."""
    try:
        out = subprocess.run([os.path.join(cuda_home, "bin", "nvcc"), "--version"], capture_output=True,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"release (\d+\.\d+)", out)
    return match.group(1) if match else None


def nvidia_wheel_include_dirs(torch_dir: str) -> list[str]:
    """Header folders of the ``nvidia-*`` wheels a CUDA build of torch installs beside it
    (cusparse.h, cublas_v2.h, ... that torch's CUDA headers include and a minimal toolkit lacks)."""
    site = os.path.dirname(torch_dir)
    found = glob.glob(os.path.join(site, "nvidia", "*", "include")) + glob.glob(
        os.path.join(site, "nvidia", "*", "*", "include"))
    return sorted({os.path.realpath(p) for p in found if os.path.isdir(p)})


def cpu_isa_levels(environ=os.environ) -> dict[str, list[str]]:
    """The ISA levels to compile the CPU kernels for: all x86 levels on Linux x86-64, else one
    build. ``NEUROSIM_MARCH=<value>`` builds once with ``-march=<value>`` (``native`` for this
    machine only; empty for the compiler's default)."""
    if "NEUROSIM_MARCH" in environ:
        march = environ["NEUROSIM_MARCH"].strip()
        return {"single": [f"-march={march}"] if march else []}
    if platform.system() == "Linux" and platform.machine().lower() in ("x86_64", "amd64"):
        return dict(X86_ISA_LEVELS)
    return {"single": []}
