"""Registers, spills and stack of every CUDA kernel, as ptxas reports them (no GPU needed).

Compiles each cuda_kernels/cuda/*.cu for one architecture with ``-Xptxas -v`` and torch's
half-conversion flags, and prints one row per kernel instantiation:

    python benchmarks/ptxas_report.py --arch sm_90 [--filter scan] [--out benchmarks/results/ptxas_sm90.txt]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_FLAGS = ["-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__",
               "-D__CUDA_NO_BFLOAT16_CONVERSIONS__", "-D__CUDA_NO_HALF2_OPERATORS__"]

ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(\w+)'")
USED = re.compile(r"Used (\d+) registers")
STACK = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
SMEM = re.compile(r"(\d+) bytes smem")


def demangle(names):
    tool = shutil.which("cu++filt") or shutil.which("c++filt")
    if not tool:
        return list(names)
    out = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    return out if len(out) == len(names) else list(names)


def short(name: str) -> str:
    """The kernel name and its template arguments, without namespaces and anonymous scopes."""
    name = name.replace("(anonymous namespace)::", "").replace("neurosim::", "")
    if name.endswith(")"):  # drop the parameter list: the last top-level parenthesised group
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    return re.sub(r"\s+", " ", name)


def report(path: str, arch: str):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["nvcc", "-std=c++17", "-O3", "-fmad=false", f"-arch={arch}", "-Xptxas", "-v", *TORCH_FLAGS,
               "-I", os.path.join(ROOT, "cuda_kernels", "include"), "-c", path, "-o", os.path.join(tmp, "k.o")]
        result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"nvcc failed on {path}:\n{result.stderr[-3000:]}")
    rows, current = [], None
    for line in result.stderr.splitlines():
        m = ENTRY.search(line)
        if m:
            current = {"kernel": m.group(1), "registers": None, "stack": 0, "spill_st": 0, "spill_ld": 0, "smem": 0}
            rows.append(current)
            continue
        if current is None:
            continue
        if (m := STACK.search(line)):
            current["stack"], current["spill_st"], current["spill_ld"] = map(int, m.groups())
        if (m := USED.search(line)):
            current["registers"] = int(m.group(1))
        if (m := SMEM.search(line)):
            current["smem"] = int(m.group(1))
    for row, name in zip(rows, demangle([r["kernel"] for r in rows])):
        row["kernel"] = short(name)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--filter", default="", help="only .cu files whose name contains this")
    parser.add_argument("--out", default=None, help="also write the table here")
    args = parser.parse_args(argv)
    if shutil.which("nvcc") is None:
        sys.exit("nvcc is not on the PATH")
    lines = [f"ptxas -v, {args.arch}: registers, stack frame, spill stores/loads (bytes), static shared memory",
             f"{'file':<16} {'regs':>5} {'stack':>6} {'spill st':>9} {'spill ld':>9} {'smem':>6}  kernel"]
    for path in sorted(glob.glob(os.path.join(ROOT, "cuda_kernels", "cuda", "*.cu"))):
        if args.filter not in os.path.basename(path):
            continue
        for r in report(path, args.arch):
            lines.append(f"{os.path.basename(path):<16} {r['registers']!s:>5} {r['stack']:>6} {r['spill_st']:>9} "
                         f"{r['spill_ld']:>9} {r['smem']:>6}  {r['kernel']}")
    worst = [line for line in lines[2:] if line.split()[3] != "0" or line.split()[2] != "0"]
    lines += ["", f"{len(lines) - 2} kernels; {len(worst)} with stack or spills" + (":" if worst else "")] + worst
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
