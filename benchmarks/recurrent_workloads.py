"""Recurrent LIF layer (snnTorch's RLeaky, all-to-all) over T=500 steps, batch 16: neurosim's RLIF
against snnTorch's RLeaky stepped in a Python loop, on the same weights and the same input.

One training step = forward over the whole sequence, loss = spikes.sum(), backward. Reported per
implementation: median forward and backward time over the repetitions, the best total, and the
growth of the resident set during one step (peak reset through /proc/self/clear_refs). The
spikes and membranes of every implementation are compared bit for bit with snnTorch's.

    python benchmarks/recurrent_workloads.py [--n 512] [--steps 500] [--batch 16] [--reps 3] [--threads 1]

Prints a table and writes benchmarks/results/recurrent_<device>.json (and .txt).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time

import torch

import neurosim
from neurosim.bench.lif import _peak_rss_bytes, _release_free_heap, _reset_peak_rss, _rss_bytes

HERE = os.path.dirname(os.path.abspath(__file__))


def make(impl: str, n: int):
    torch.manual_seed(0)
    linear = torch.nn.Linear(n, n)
    if impl == "snntorch":
        import snntorch as snn

        layer = snn.RLeaky(beta=0.9, linear_features=n, spike_grad=snn.surrogate.fast_sigmoid(25))
        layer.recurrent.load_state_dict(linear.state_dict())

        def run(x):
            spk, mem = layer.reset_mem()
            spikes, mems = [], []
            for x_t in x:
                spk, mem = layer(x_t, spk, mem)
                spikes.append(spk)
                mems.append(mem)
            return torch.stack(spikes), torch.stack(mems)

        return layer, run
    backend = impl.split("-", 1)[1]
    layer = neurosim.RLIF(n, beta=0.9, surrogate="fast_sigmoid", backend=backend)
    layer.recurrent.load_state_dict(linear.state_dict())

    def run(x):
        out = layer(x)
        return out, None

    return layer, run


def step(run, x):
    t0 = time.perf_counter()
    spikes, _ = run(x)
    loss = spikes.sum()
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def measure_all(impls, n, steps, batch, reps):
    """Times every implementation in interleaved rounds (the machine's load drifts), then its
    memory and spikes one at a time."""
    built = {impl: make(impl, n) for impl in impls}
    x = torch.randn(steps, batch, n, generator=torch.Generator().manual_seed(1)).requires_grad_()

    def clear(layer):
        layer.zero_grad(set_to_none=True)
        x.grad = None

    times = {impl: [] for impl in impls}
    for round_ in range(reps + 1):
        for impl, (layer, run) in built.items():
            t = step(run, x)
            clear(layer)
            if round_ > 0:  # round 0 warms up
                times[impl].append(t)
    rows, spikes = [], {}
    for impl, (layer, run) in built.items():
        gc.collect()
        peak = None
        if _reset_peak_rss():
            _release_free_heap()
            base = _rss_bytes()
            _reset_peak_rss()
            step(run, x)
            peak = max(0, _peak_rss_bytes() - base) / 2**20
        clear(layer)
        with torch.no_grad():
            spikes[impl], _ = run(x.detach())
        fwd = statistics.median(t[0] for t in times[impl]) * 1e3
        bwd = statistics.median(t[1] for t in times[impl]) * 1e3
        best = min(a + b for a, b in times[impl]) * 1e3
        rows.append({"impl": impl, "n": n, "forward_ms": fwd, "backward_ms": bwd, "total_ms": fwd + bwd,
                     "best_total_ms": best, "peak_mb": peak, "spike_rate": spikes[impl].float().mean().item()})
    return rows, spikes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    impls = [f"neurosim-{b}" for b in neurosim.backends() if b != "cuda"] + ["snntorch"]
    rows, spikes = measure_all(impls, args.n, args.steps, args.batch, args.reps)
    ref = next(r for r in rows if r["impl"] == "snntorch")
    lines = [f"RLIF vs snnTorch RLeaky(all_to_all=True): n={args.n}, T={args.steps}, B={args.batch}, "
             f"{args.threads} thread(s), {platform.processor() or platform.machine()}, torch {torch.__version__}",
             f"{'impl':<16} {'fwd ms':>9} {'bwd ms':>9} {'total ms':>9} {'best ms':>9} {'peak MB':>8} "
             f"{'speed-up':>8} {'memory':>7} {'same spikes':>11}"]
    for r in rows:
        r["speedup_vs_snntorch"] = ref["best_total_ms"] / r["best_total_ms"]
        r["memory_vs_snntorch"] = (r["peak_mb"] / ref["peak_mb"]) if r["peak_mb"] and ref["peak_mb"] else None
        r["spikes_identical_to_snntorch"] = bool(torch.equal(spikes[r["impl"]], spikes["snntorch"]))
        mem = f"{r['memory_vs_snntorch']:.2f}x" if r["memory_vs_snntorch"] is not None else "-"
        lines.append(f"{r['impl']:<16} {r['forward_ms']:9.1f} {r['backward_ms']:9.1f} {r['total_ms']:9.1f} "
                     f"{r['best_total_ms']:9.1f} {r['peak_mb'] or 0:8.0f} {r['speedup_vs_snntorch']:7.1f}x "
                     f"{mem:>7} {str(r['spikes_identical_to_snntorch']):>11}")
    table = "\n".join(lines)
    print("\n" + table)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"recurrent_cpu_{args.threads}thread")
    with open(stem + ".json", "w") as f:
        json.dump({"n": args.n, "steps": args.steps, "batch": args.batch, "threads": args.threads,
                   "torch": torch.__version__, "rows": rows}, f, indent=2)
    with open(stem + ".txt", "w") as f:
        f.write(table + "\n")
    print(f"wrote {stem}.json, {stem}.txt")


if __name__ == "__main__":
    main()
