"""Every .cu file compiles with nvcc (compile-only), so the GPU code is checked on machines
without a GPU. The .cu files take raw pointers and include no torch headers."""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CU_FILES = sorted(glob.glob(os.path.join(ROOT, "cuda_kernels", "cuda", "*.cu")))


def test_there_are_cuda_sources():
    assert CU_FILES, "no .cu files found under cuda_kernels/cuda"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("path", CU_FILES, ids=os.path.basename)
def test_cu_file_compiles(path, tmp_path):
    cmd = ["nvcc", "-std=c++17", "-O2", "-fmad=false", "-I", os.path.join(ROOT, "cuda_kernels", "include"),
           "-c", path, "-o", str(tmp_path / "out.o")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(path) as f:
        includes = [line for line in f if line.lstrip().startswith("#include")]
    assert not [i for i in includes if "torch" in i or "ATen" in i or "c10" in i], "keep torch headers out of .cu files"
