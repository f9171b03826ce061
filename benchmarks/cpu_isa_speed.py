"""Speed of the CPU kernels per instruction-set level, and against another build of neurosim.

The default build compiles the CPU kernels for x86-64, AVX2 and AVX-512 and picks the widest at run
time; this script checks that the portable build keeps the speed of a machine-specific one
(``NEUROSIM_MARCH=native``). LIF and UltraLIF forward+backward at T=500, B=16, n in --sizes.
Rounds alternate between the builds (one subprocess per round and build), so both see the same
machine load; the median over rounds is reported. Writes a table and JSON.

    python benchmarks/cpu_isa_speed.py --compare-build /path/to/other/checkout --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ONE_ROUND = r"""
import json, sys, time, torch, neurosim
torch.set_num_threads(int(sys.argv[1]))
sizes = [int(v) for v in sys.argv[2].split(",")]
levels = sys.argv[3].split(",")
out = {"build": neurosim.build_info()["cpu_isas"], "rows": []}
for level in levels:
    if level != "default":
        neurosim.core.set_cpu_isa(level)
    for n in sizes:
        x = torch.rand(500, 16, n, requires_grad=True)
        for name, fn in (("lif", lambda: neurosim.functional.lif(x, beta=0.9, backend="cpp").spikes),
                         ("ultralif", lambda: neurosim.functional.ultralif(x, tau=0.9, eps=1.0, backend="cpp").spikes)):
            fn().sum().backward()  # warm-up
            times = []
            for _ in range(3):
                x.grad = None
                t0 = time.perf_counter()
                fn().sum().backward()
                times.append(time.perf_counter() - t0)
            out["rows"].append({"level": level, "op": name, "n": n, "ms": 1e3 * min(times)})
print("RESULT" + json.dumps(out))
"""


def one_round(pythonpath: str, threads: int, sizes, levels) -> dict:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    proc = subprocess.run([sys.executable, "-c", ONE_ROUND, str(threads), ",".join(map(str, sizes)),
                           ",".join(levels)], env=env, capture_output=True, text=True, cwd=pythonpath, timeout=1800)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"round failed in {pythonpath}: {proc.stderr[-2000:]}")
    return json.loads(line[0][len("RESULT"):])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-build", help="another neurosim checkout with its extension built in place")
    parser.add_argument("--sizes", default="512,2048,8192")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--levels", default="avx512,avx2,baseline", help="levels of this build to time")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "cpu_isa_speed"))
    args = parser.parse_args(argv)
    sizes = [int(v) for v in args.sizes.split(",")]
    builds = {"portable": (ROOT, args.levels.split(","))}
    if args.compare_build:
        builds["compare"] = (os.path.abspath(args.compare_build), ["default"])
    samples: dict[tuple, list[float]] = {}
    for r in range(args.rounds):
        for label, (path, levels) in builds.items():
            result = one_round(path, args.threads, sizes, levels)
            for row in result["rows"]:
                samples.setdefault((label, row["level"], row["op"], row["n"]), []).append(row["ms"])
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    rows = [dict(build=k[0], level=k[1], op=k[2], n=k[3], ms=statistics.median(v), rounds=len(v))
            for k, v in sorted(samples.items())]
    lines = [f"{'build':10s} {'level':9s} {'op':9s} {'n':>6s} {'ms':>9s}"]
    lines += [f"{r['build']:10s} {r['level']:9s} {r['op']:9s} {r['n']:6d} {r['ms']:9.2f}" for r in rows]
    if "compare" in builds:
        for op in ("lif", "ultralif"):
            for n in sizes:
                a = samples[("portable", "avx512", op, n)]
                b = samples[("compare", "default", op, n)]
                lines.append(f"portable(avx512)/compare {op:9s} n={n:6d}: {statistics.median(a) / statistics.median(b):.3f}x")
    table = "\n".join(lines)
    print(table)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(dict(settings=vars(args), time=time.strftime("%Y-%m-%d %H:%M:%S"), rows=rows), f, indent=1)
    with open(args.out + ".txt", "w") as f:
        f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
