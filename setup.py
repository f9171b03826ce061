"""Build script for neurosim and its native extension ``neurosim._C``.

The C++ CPU kernels are built whenever a C++ compiler is available; the CUDA kernels are added
when torch has CUDA and nvcc is found. Environment variables:

* ``NEUROSIM_CUDA=1|0``   force the CUDA kernels on or off (default: auto-detect).
* ``NEUROSIM_NO_EXT=1``   skip the native extension (pure-PyTorch backend only).
* ``NEUROSIM_MARCH=...``  value of ``-march`` for the CPU kernels (default ``native``; empty to omit).

A failed native build never fails the install: the package falls back to its ``torch`` backend
and warns once on import.
"""

import glob
import os
import shutil
import sys

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))
KERNELS = "cuda_kernels"


def _want_cuda(torch_module):
    flag = os.environ.get("NEUROSIM_CUDA", "").strip().lower()
    if flag in ("0", "false", "off", "no"):
        return False
    found = torch_module.version.cuda is not None and (
        shutil.which("nvcc") is not None or os.environ.get("CUDA_HOME")
    )
    if flag in ("1", "true", "on", "yes") and not found:
        raise RuntimeError("NEUROSIM_CUDA=1 but torch has no CUDA or nvcc was not found")
    return bool(found)


def _extensions():
    if os.environ.get("NEUROSIM_NO_EXT", "") == "1":
        return [], {}
    try:
        import torch
        from torch.utils import cpp_extension
    except Exception as exc:  # torch missing at build time: pure-Python install
        print(f"neurosim: torch not importable at build time ({exc}); skipping native kernels")
        return [], {}

    march = os.environ.get("NEUROSIM_MARCH", "native")
    cxx = ["-O3", "-std=c++17", "-ffp-contract=off", "-fopenmp", "-fno-math-errno", "-fno-trapping-math"]
    if march:
        cxx.append(f"-march={march}")
    sources = sorted(glob.glob(os.path.join(KERNELS, "cpu", "*.cpp")))
    sources += sorted(glob.glob(os.path.join(KERNELS, "bindings", "*.cpp")))
    include_dirs = [os.path.join(ROOT, KERNELS, "include")]
    kwargs = dict(include_dirs=include_dirs, extra_link_args=["-fopenmp"])
    if _want_cuda(torch):
        sources += sorted(glob.glob(os.path.join(KERNELS, "cuda", "*.cu")))
        ext = cpp_extension.CUDAExtension(
            "neurosim._C",
            sources,
            define_macros=[("NEUROSIM_WITH_CUDA", "1")],
            extra_compile_args={"cxx": cxx, "nvcc": ["-O3", "-std=c++17", "-fmad=false", "--expt-relaxed-constexpr"]},
            **kwargs,
        )
    else:
        ext = cpp_extension.CppExtension("neurosim._C", sources, extra_compile_args={"cxx": cxx}, **kwargs)
    return [ext], {"build_ext": _tolerant(cpp_extension.BuildExtension)}


def _tolerant(torch_build_ext):
    """Wraps torch's BuildExtension so that a failed native build leaves a working package."""

    class TolerantBuildExt(torch_build_ext):
        def build_extension(self, ext):
            try:
                super().build_extension(ext)
            except Exception as exc:  # noqa: BLE001 - any compiler failure
                print(f"neurosim: building {ext.name} failed ({exc}); the torch backend will be used",
                      file=sys.stderr)

    return TolerantBuildExt


ext_modules, cmdclass = _extensions()

setup(
    packages=find_packages(include=["neurosim", "neurosim.*"]),
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
