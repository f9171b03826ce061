"""Every .cu file compiles with nvcc (compile-only) under the flags a real build uses: torch's own
COMMON_NVCC_FLAGS (which remove the implicit half/bfloat16 conversions) followed by ours, and the
C++ standard the installed torch requires. So the GPU code is checked on machines without a GPU.
The .cu files take raw pointers and include no torch headers (a plain .cu compiles in seconds)."""

import glob
import os
import shutil
import subprocess

import pytest

from neurosim import _build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CU_FILES = sorted(glob.glob(os.path.join(ROOT, "cuda_kernels", "cuda", "*.cu")))


def torch_nvcc_flags():
    """torch's COMMON_NVCC_FLAGS as the installed torch defines them (also in CPU builds)."""
    from torch.utils import cpp_extension

    flags = list(getattr(cpp_extension, "COMMON_NVCC_FLAGS", []))
    assert set(_build.TORCH_NVCC_DEFINES) <= set(flags), (
        "torch's nvcc flags changed: update neurosim._build.TORCH_NVCC_DEFINES", flags)
    return flags


def test_there_are_cuda_sources():
    assert CU_FILES, "no .cu files found under cuda_kernels/cuda"


def test_nvcc_flags_undo_torch_half_defines():
    # our -U flags come after torch's -D flags in a CUDAExtension build
    for define in _build.TORCH_NVCC_DEFINES:
        assert "-U" + define[2:] in _build.NVCC_FLAGS


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.skipif(os.environ.get("NEUROSIM_CUDA_BUILD_CHECK_FOLLOWS") == "1",
                    reason="CI compiles every .cu right after the suite (.ci/cuda_build_check.sh, torch 2.14.1's "
                           "own build), so the suite does not compile them twice")
@pytest.mark.parametrize("path", CU_FILES, ids=os.path.basename)
def test_cu_file_compiles_with_torch_flags(path, tmp_path):
    import torch

    std = _build.cxx_standard([os.path.join(os.path.dirname(torch.__file__), "include")])
    cmd = ["nvcc", *torch_nvcc_flags(), *_build.NVCC_FLAGS, f"-std={std}", "-arch=sm_90",
           "-I", os.path.join(ROOT, "cuda_kernels", "include"), "-c", path, "-o", str(tmp_path / "out.o")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(path) as f:
        includes = [line for line in f if line.lstrip().startswith("#include")]
    assert not [i for i in includes if "torch" in i or "ATen" in i or "c10" in i], "keep torch headers out of .cu files"
