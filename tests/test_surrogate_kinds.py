"""The native surrogate derivatives, both ways a kernel picks one: ``AnySurrogateGrad`` (the CUDA
kernels' run-time choice, which no CPU build compiles) and ``dispatch_surrogate`` (the CPU twin's),
compiled here with the host compiler and compared with :mod:`neurosim.surrogate` for every kind.
An unknown code falls back to fast_sigmoid in both."""

from __future__ import annotations

import subprocess

import pytest
import torch
from conftest import compile_host_program, needs_host_compiler

from neurosim import surrogate

pytestmark = needs_host_compiler


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    exe = compile_host_program("surrogate_kinds.cpp", tmp_path_factory.mktemp("surrogates") / "surrogate_kinds")
    done = subprocess.run([exe], capture_output=True, text=True, check=True)
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
