"""The phase of the native time gate (``floor_mod`` in phased.h) against torch.remainder's formula,
bit for bit, for quotients |a / b| up to 2^79, compiled with the host compiler both with and
without an FMA instruction (the baseline x86-64 copy of the CPU kernels has none). The C++ side is
``tests/cpp/floor_mod_check.cpp``; the library's own phase is checked in test_phased_scan.py."""

from __future__ import annotations

import platform
import subprocess

import pytest
from conftest import compile_host_program, needs_host_compiler

X86 = platform.machine() in ("x86_64", "AMD64")


def _has_fma() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return " fma " in f" {f.read()} ".replace("\n", " ")
    except OSError:
        return False


FORMS = [pytest.param([], id="default")]
if X86:
    FORMS = [pytest.param(["-march=x86-64"], id="no-fma"),
             pytest.param(["-march=x86-64-v3"], id="fma",
                          marks=pytest.mark.skipif(not _has_fma(), reason="this CPU has no FMA"))]


@needs_host_compiler
@pytest.mark.parametrize("march", FORMS)
@pytest.mark.parametrize("limit_log2", [20, 40, 79])
def test_floor_mod_is_torch_remainder(march, limit_log2, tmp_path):
    exe = compile_host_program("floor_mod_check.cpp", tmp_path / "floor_mod_check", "-O2", *march,
                               "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math")
    done = subprocess.run([exe, "200000", str(limit_log2)], capture_output=True, text=True, check=True)
    pairs, mismatches, outside = (int(v) for v in done.stdout.split())
    assert pairs == 200000
    assert mismatches == 0 and outside == 0, done.stdout
