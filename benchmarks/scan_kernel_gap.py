"""The scan's CPU kernels alone against one bare elementwise pass: where the rest of the time goes.

``benchmarks/scan_neurons.py`` times whole training steps through PyTorch, where page faults on
fresh outputs (n >= 2048) and the per-call Python and autograd glue are part of both figures. This
script takes those out: ``benchmarks/native/kernel_gap.cpp`` runs the library's column functions
(``cuda_kernels/include/neurosim/scan.h``) for LIF, Synaptic, ALIF and LI over blocks of the
library's width, with the upstream gradient of ``out.sum()`` and every gradient wanted, on
prefaulted buffers, beside the bare pass (``x * 0.9`` forward, ``g * x`` backward). One thread,
compiled here with the flags of the CPU kernels' copy this machine runs (e.g. x86-64-v4 with
512-bit vectors). T = 500, B = 16.

    python benchmarks/scan_kernel_gap.py [--sizes 512 2048 8192] [--rounds 9] [--include DIR] [--probe FILE]
                                         [--name NAME]

``--include`` compiles against another copy of ``cuda_kernels/include`` (e.g. an earlier commit's,
``git archive``d), to compare builds side by side; ``--probe`` takes that commit's
``benchmarks/native/kernel_gap.cpp`` too where the probe has changed with the headers (it sizes the
chunk storage as the library does: ``kChunkRowStride`` exists from commit 5187246 on). Prints a table and writes
benchmarks/results/cpu_scan_kernel_gap[_NAME].{json,txt}.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from native_probe import compile_probe, write_results  # noqa: E402

from neurosim import _build  # noqa: E402

SOURCE = os.path.join(HERE, "native", "kernel_gap.cpp")
MODELS = ("lif", "synaptic", "alif", "li")


def isa_flags() -> list:
    """The flags of the CPU kernels' copy that this machine runs (the build's ISA level), so that
    the probe's code is the library's; -march=native where the build has no such level."""
    import neurosim

    level = neurosim.build_info().get("cpu_isa")
    return list(_build.X86_ISA_LEVELS.get(level, ["-march=native"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--include", default=os.path.join(ROOT, "cuda_kernels", "include"),
                        help="the kernel headers to compile against (default: this tree's)")
    parser.add_argument("--probe", default=SOURCE, help="the probe's source (default: this tree's)")
    parser.add_argument("--name", default="", help="suffix of the results files")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    if min(args.sizes + [args.rounds]) <= 0:
        parser.error("--sizes and --rounds must be positive")
    if not os.path.isfile(os.path.join(args.include, "neurosim", "scan.h")):
        parser.error(f"--include: no neurosim/scan.h under {args.include}")
    if not os.path.isfile(args.probe):
        parser.error(f"--probe: no file {args.probe}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = compile_probe(args.probe, tmp, isa_flags() + [f"-I{args.include}"], "scan_kernel_gap")
        for n in args.sizes:
            times = {}
            for model in ("bare",) + MODELS:
                done = subprocess.run([exe, model, str(n), str(args.rounds)], capture_output=True, text=True,
                                      check=True)
                fwd, bwd = (float(v) for v in done.stdout.split()[:2])
                times[model] = (fwd, bwd)
            bare_f, bare_b = times["bare"]
            for model in MODELS:
                fwd, bwd = times[model]
                rows.append({"n": n, "model": model, "fwd_ms": fwd, "bwd_ms": bwd, "bare_fwd_ms": bare_f,
                             "bare_bwd_ms": bare_b, "fwd_x_bare": fwd / bare_f, "bwd_x_bare": bwd / bare_b,
                             "x_bare": (fwd + bwd) / (bare_f + bare_b)})
    lines = [f"T=500 B=16, one thread, kernels only (prefaulted, no Python), best of {args.rounds}, "
             f"{platform.processor() or platform.machine()} {' '.join(isa_flags())}",
             f"{'n':>5} {'model':<9} {'fwd ms':>7} {'bwd ms':>7} {'bare fwd':>8} {'bare bwd':>8} "
             f"{'fwd x':>6} {'bwd x':>6} {'total x':>7}"]
    for r in rows:
        lines.append(f"{r['n']:>5} {r['model']:<9} {r['fwd_ms']:7.2f} {r['bwd_ms']:7.2f} {r['bare_fwd_ms']:8.2f} "
                     f"{r['bare_bwd_ms']:8.2f} {r['fwd_x_bare']:5.2f}x {r['bwd_x_bare']:5.2f}x {r['x_bare']:6.2f}x")
    write_results(args.out, "cpu_scan_kernel_gap" + (f"_{args.name}" if args.name else ""), "\n".join(lines),
                  {"T": 500, "B": 16, "rounds": args.rounds, "rows": rows})


if __name__ == "__main__":
    main()
