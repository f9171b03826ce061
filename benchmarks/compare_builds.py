"""LIF and UltraLIF of two neurosim trees side by side: this checkout against another (e.g. a
copy of main before the generic scan), in interleaved rounds within one run.

Both trees register the same torch op namespace, so each runs in its own worker process; the
driver alternates one training step (T=500, B=16, loss = spikes.sum(), fwd + bwd) between the two
workers round by round and reports the minimum per tree and their ratio.

    python benchmarks/compare_builds.py --other /path/to/other/tree --sizes 512 2048 8192 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
import neurosim
assert neurosim.__file__.startswith(sys.argv[2]), neurosim.__file__
cache = {}
for line in sys.stdin:
    model, n = line.split()
    n = int(n)
    key = (model, n)
    if key not in cache:
        torch.manual_seed(0)
        neuron = neurosim.LIF(beta=0.9, backend="cpp") if model == "lif" else neurosim.UltraLIF(tau=0.9, eps=1.0, backend="cpp")
        x = torch.randn(500, 16, n, requires_grad=True)
        neuron(x).sum().backward()
        cache[key] = (neuron, x)
    neuron, x = cache[key]
    x.grad = None
    t0 = time.perf_counter()
    neuron(x).sum().backward()
    print(time.perf_counter() - t0, flush=True)
"""


def start(tree: str, threads: int):
    env = dict(os.environ, PYTHONPATH=tree)
    return subprocess.Popen([sys.executable, "-c", WORKER, str(threads), tree], cwd=tree, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def ask(worker, model, n) -> float:
    worker.stdin.write(f"{model} {n}\n")
    worker.stdin.flush()
    return float(worker.stdout.readline())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", required=True, help="root of the other tree (its neurosim/ has a built _C)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--models", nargs="+", default=["lif", "ultralif"], choices=["lif", "ultralif"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(HERE, "benchmarks", "results", "cpu_scan_vs_main.json"))
    args = parser.parse_args(argv)
    trees = {"this": HERE, "other": os.path.abspath(args.other)}
    workers = {name: start(tree, args.threads) for name, tree in trees.items()}
    rows = []
    try:
        for model in args.models:
            for n in args.sizes:
                times = {name: [] for name in trees}
                for w in workers.values():
                    ask(w, model, n)  # warm-up
                for r in range(args.rounds):
                    order = list(workers.items()) if r % 2 == 0 else list(workers.items())[::-1]
                    for name, w in order:
                        times[name].append(ask(w, model, n))
                best = {name: min(v) * 1e3 for name, v in times.items()}
                ratio = best["this"] / best["other"]
                rows.append({"model": model, "n": n, "this_ms": best["this"], "other_ms": best["other"], "ratio": ratio})
                print(f"{model:<9} n={n:>5}  this {best['this']:8.1f} ms  other {best['other']:8.1f} ms  "
                      f"this/other {ratio:5.3f}", flush=True)
    finally:
        for w in workers.values():
            w.stdin.close()
            w.wait()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"threads": args.threads, "rounds": args.rounds, "other": args.other, "rows": rows}, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
