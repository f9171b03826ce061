"""What the order of memory accesses alone costs a time scan on this CPU, beside the bare pass.

Issue 10 asks for LIF, Synaptic, ALIF and LI within 1.25x of one bare elementwise pass. A scan
must carry each column's state from step to step, so the CPU twin walks a block of W adjacent
columns through all T steps (rows M = B * n floats apart) instead of streaming the tensor front to
back. ``benchmarks/native/access_pattern.cpp`` times, on the same arrays and without page faults:
the linear pass (x * 0.9), the same arithmetic in the scan's block order, a LIF step in the block
order, and a LIF step over whole rows (W = M, the state of every column streamed beside the rows).
It is compiled here with the build's flags for this CPU (``-march=native``). T = 500, B = 16.

    python benchmarks/scan_access_pattern.py [--sizes 512 2048 8192] [--widths 1024 4096] [--rounds 15]

Prints a table and writes benchmarks/results/cpu_scan_access_pattern.{json,txt}.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from native_probe import compile_probe, write_results  # noqa: E402

SOURCE = os.path.join(HERE, "native", "access_pattern.cpp")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--widths", type=int, nargs="+", default=[1024, 4096],
                        help="block widths W in columns (1024 is the CPU twin's for float32)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    if min(args.sizes + args.widths + [args.rounds]) <= 0:
        parser.error("--sizes, --widths and --rounds must be positive")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = compile_probe(SOURCE, tmp, ["-march=native"], "scan_access_pattern")
        for n in args.sizes:
            for width in args.widths:
                done = subprocess.run([exe, str(n), str(width), str(args.rounds)], capture_output=True, text=True,
                                      check=True)
                fields = done.stdout.split()
                linear, block_copy, block_lif, row_lif = (float(v) for v in fields[2:6])
                rows.append({"n": n, "width": width, "linear_ms": linear, "block_copy_ms": block_copy,
                             "block_lif_ms": block_lif, "row_lif_ms": row_lif,
                             "block_copy_x_linear": block_copy / linear, "block_lif_x_linear": block_lif / linear,
                             "row_lif_x_linear": row_lif / linear})
    lines = [f"T=500 B=16, one thread, best of {args.rounds}, {platform.processor() or platform.machine()}; "
             "x linear = time / the linear pass's",
             f"{'n':>5} {'W':>5} {'linear ms':>9} {'block copy':>18} {'block LIF':>18} {'row LIF (W=M)':>18}"]
    for r in rows:
        lines.append(f"{r['n']:>5} {r['width']:>5} {r['linear_ms']:9.2f} "
                     f"{r['block_copy_ms']:8.2f} ({r['block_copy_x_linear']:4.2f}x) "
                     f"{r['block_lif_ms']:8.2f} ({r['block_lif_x_linear']:4.2f}x) "
                     f"{r['row_lif_ms']:8.2f} ({r['row_lif_x_linear']:4.2f}x)")
    write_results(args.out, "cpu_scan_access_pattern", "\n".join(lines),
                  {"T": 500, "B": 16, "rounds": args.rounds, "rows": rows})


if __name__ == "__main__":
    main()
