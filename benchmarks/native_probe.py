"""The C++ probes of ``benchmarks/native/``: compiled with the build's own compiler flags, their
table printed and recorded (shared by scan_access_pattern.py and scan_kernel_gap.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from neurosim import _build  # noqa: E402


def compile_probe(source: str, directory: str, extra_flags: list, script: str) -> str:
    """Compiles ``source`` into ``directory`` with the CPU kernels' flags (no OpenMP) plus
    ``extra_flags``; returns the executable. ``script`` names the caller in errors."""
    compiler = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        raise SystemExit(f"{script}: no C++ compiler found (set CXX)")
    exe = os.path.join(directory, os.path.splitext(os.path.basename(source))[0])
    flags = [f for f in _build.CXX_FLAGS if f != "-fopenmp"]
    done = subprocess.run([compiler, "-std=c++17", *flags, *extra_flags, source, "-o", exe],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{script}: compiling {source} failed:\n{done.stderr}")
    return exe


def write_results(out_dir: str, stem: str, table: str, payload: dict) -> None:
    """Prints ``table`` and writes it to ``out_dir/stem.txt``, ``payload`` to ``out_dir/stem.json``."""
    print(table)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, stem)
    with open(path + ".json", "w") as f:
        json.dump(payload, f, indent=2)
    with open(path + ".txt", "w") as f:
        f.write(table + "\n")
    print(f"wrote {path}.json and .txt")
