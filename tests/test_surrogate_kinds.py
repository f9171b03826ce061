"""The native surrogate derivatives, both ways a kernel picks one: ``AnySurrogateGrad`` (the CUDA
kernels' run-time choice, which no CPU build compiles) and ``dispatch_surrogate`` (the CPU twin's),
compiled here with the host compiler and compared with :mod:`neurosim.surrogate` for every kind.
An unknown code falls back to fast_sigmoid in both."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import torch

from neurosim import surrogate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "tests", "cpp", "surrogate_kinds.cpp")
COMPILER = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")

pytestmark = pytest.mark.skipif(COMPILER is None, reason="needs a C++17 compiler")


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    exe = tmp_path_factory.mktemp("surrogates") / "surrogate_kinds"
    cmd = [COMPILER, "-std=c++17", "-O1", "-I", os.path.join(ROOT, "cuda_kernels", "include"), SOURCE, "-o", str(exe)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    done = subprocess.run([str(exe)], capture_output=True, text=True, check=True)
    return [line.split() for line in done.stdout.splitlines()]


NAME_OF = {code: name for name, code in surrogate._CODES.items()}


def test_every_kind_is_printed(rows):
    assert {int(r[0]) for r in rows} == set(NAME_OF) | {9}


@pytest.mark.parametrize("code", sorted(NAME_OF) + [9])
def test_native_surrogates_equal_the_python_ones(rows, code):
    mine = [r for r in rows if int(r[0]) == code]
    name = NAME_OF.get(code, "fast_sigmoid")  # unknown codes: fast_sigmoid
    for param in sorted({float(r[1]) for r in mine}):
        sel = [r for r in mine if float(r[1]) == param]
        x = torch.tensor([float(r[2]) for r in sel], dtype=torch.float64)
        want = surrogate.Surrogate(name, param).grad(x)
        any_kind = torch.tensor([float(r[3]) for r in sel], dtype=torch.float64)
        chosen = torch.tensor([float(r[4]) for r in sel], dtype=torch.float64)
        torch.testing.assert_close(any_kind, want, rtol=1e-12, atol=1e-15, msg=f"AnySurrogateGrad {name} p={param}")
        torch.testing.assert_close(chosen, want, rtol=1e-12, atol=1e-15, msg=f"dispatch_surrogate {name} p={param}")
