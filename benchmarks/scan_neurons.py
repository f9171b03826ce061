"""The neurons of the generic scan side by side (T=500, B=16, one training step, loss = out.sum()).

For each n: LIF, Synaptic, ALIF and LI on the native backend against one bare elementwise pass
over the same tensors that allocates its outputs (x*0.9 forward, g*x backward), and Synaptic /
ALIF against snnTorch's ``Synaptic`` (a Python loop over time steps). Rounds are interleaved
(every implementation once per round) and the minimum over rounds is reported, the estimate least
disturbed by a shared machine. Peak memory of one training step: RSS growth on the CPU, each
implementation in a fresh process after one warm-up step.

    python benchmarks/scan_neurons.py --sizes 512 2048 8192 --rounds 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import neurosim  # noqa: E402
from neurosim.bench.lif import _Bare, _peak_rss_bytes, _release_free_heap, _reset_peak_rss, _rss_bytes  # noqa: E402
from neurosim.neurons.registry import NEURONS  # noqa: E402

T, B = 500, 16
NEURON_NAMES = ("lif", "synaptic", "alif", "li")


class _SnnTorchSynaptic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        import snntorch

        self.cell = snntorch.Synaptic(alpha=0.9, beta=0.8)

    def forward(self, x):
        syn, mem = self.cell.init_synaptic()
        out = []
        for x_t in x:
            spk, syn, mem = self.cell(x_t, syn, mem)
            out.append(spk)
        return torch.stack(out)


def build(impl: str):
    if impl == "bare-elementwise":
        return _Bare()
    if impl == "snntorch-synaptic":
        return _SnnTorchSynaptic()
    name, _, backend = impl.partition("-")
    return NEURONS[name].module(backend=backend)


def step(model, x):
    t0 = time.perf_counter()
    out = model(x)
    out.sum().backward()
    return time.perf_counter() - t0


def peak_mb(model, x):
    if not _reset_peak_rss():
        return None
    x.grad = None
    _release_free_heap()
    base = _rss_bytes()
    _reset_peak_rss()
    step(model, x)
    x.grad = None
    return max(0, _peak_rss_bytes() - base) / 2**20


def peak_mb_fresh(impl: str, n: int):
    """Peak RSS growth of one training step in a fresh process: in the timing process the heap
    already holds pages freed by the implementations before, which a later one reuses without
    growing RSS (snnTorch's many small per-step tensors read 1.4 GB there, 2.6-2.8 GB fresh)."""
    import subprocess
    script = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
              f"import scan_neurons as s, torch; torch.manual_seed(0); "
              f"x = torch.randn({T}, {B}, {n}, requires_grad=True); m = s.build({impl!r}); "
              f"s.step(m, x); x.grad = None; print(s.peak_mb(m, x))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    out = done.stdout.strip().splitlines()
    return float(out[-1]) if done.returncode == 0 and out and out[-1] != "None" else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--snntorch-max-n", type=int, default=512, help="snnTorch only up to this n (it is slow)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    backend = "cpp"
    rows = []
    lines = [f"T={T} B={B} threads={torch.get_num_threads()}, forward+backward, best of {args.rounds} interleaved "
             f"rounds; peak = RSS growth of one step in a fresh process"]
    for n in args.sizes:
        impls = [f"{name}-{backend}" for name in NEURON_NAMES] + ["bare-elementwise"]
        try:
            import snntorch  # noqa: F401

            if n <= args.snntorch_max_n or n == max(args.sizes):
                impls.append("snntorch-synaptic")
        except ImportError:
            pass
        torch.manual_seed(0)
        x = torch.randn(T, B, n, requires_grad=True)
        models = {impl: build(impl) for impl in impls}
        times = {impl: [] for impl in impls}
        for model in models.values():  # warm-up
            step(model, x)
            x.grad = None
        slow = {"snntorch-synaptic"}
        for r in range(args.rounds):
            for impl, model in models.items():
                if impl in slow and n > args.snntorch_max_n:
                    continue  # memory only at large n
                if impl in slow and r >= 2:
                    continue  # two rounds are enough for a Python loop 10x slower
                times[impl].append(step(model, x))
                x.grad = None
        mems = {impl: peak_mb_fresh(impl, n) for impl in models}
        bare = min(times["bare-elementwise"])
        for impl in impls:
            best = min(times[impl]) if times[impl] else None
            rows.append({"n": n, "impl": impl, "best_ms": None if best is None else best * 1e3,
                         "x_bare": None if best is None else best / bare, "peak_mb": mems[impl]})
            lines.append(f"n={n:>5} {impl:<20} " + ("" if best is None else f"{best * 1e3:9.1f} ms  {best / bare:5.2f}x bare")
                         + ("" if mems[impl] is None else f"  peak {mems[impl]:8.1f} MB"))
            print(lines[-1], flush=True)
    summary = []
    for n in args.sizes:
        by = {r["impl"]: r for r in rows if r["n"] == n}
        snn = by.get("snntorch-synaptic")
        for name in ("synaptic", "alif"):
            mine = by[f"{name}-{backend}"]
            if snn and snn["best_ms"]:
                summary.append(f"n={n}: {name} {snn['best_ms'] / mine['best_ms']:.1f}x faster than snnTorch Synaptic")
            if snn and snn["peak_mb"] and mine["peak_mb"] is not None:
                summary.append(f"n={n}: {name} training memory {mine['peak_mb'] / snn['peak_mb']:.2f}x of snnTorch's")
    print("\n".join(summary))
    os.makedirs(args.out, exist_ok=True)
    payload = {"device": f"CPU ({platform.processor() or platform.machine()})", "threads": torch.get_num_threads(),
               "torch": torch.__version__, "neurosim": neurosim.__version__, "T": T, "B": B, "rows": rows,
               "summary": summary}
    path = os.path.join(args.out, "cpu_scan_neurons.json")
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    with open(os.path.join(args.out, "cpu_scan_neurons.txt"), "w") as f:
        f.write("\n".join(lines + [""] + summary) + "\n")
    print(f"wrote {path} and the table as cpu_scan_neurons.txt")


if __name__ == "__main__":
    main()
