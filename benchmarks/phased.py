"""Phased LSTM against torch.nn.LSTM, and the phased LIF against neurosim's plain LIF: one training
step (forward + backward of a sum over the outputs) at T=500, B=16, measured in one run with the
implementations interleaved round by round (best time per implementation counts).
Targets (issue 15): PhasedLSTM (hidden 256) <= 1.5x torch.nn.LSTM; phased LIF <= 1.3x LIF, for the
fused native scan (gate computed in the scan from per-sample timestamps [T, B], gradients of tau,
shift and r_on included) at 512 and 2048 neurons; the step-by-step reference path (gate computed
first, Python loop over time: ``backend="torch"``) is shown at --hidden for scale. Prints a table,
writes JSON.

    python benchmarks/phased.py [--steps 500] [--batch 16] [--hidden 256] [--lif-sizes 512 2048]
                                [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

import neurosim


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def workloads(steps: int, batch: int, hidden: int, n_in: int, lif_sizes):
    torch.manual_seed(0)
    x = torch.randn(steps, batch, n_in, requires_grad=True)
    # per-sample timestamps (irregular sampling): every sequence has its own clock
    sample_times = torch.cumsum(torch.rand(steps, batch) * 2, 0)
    lstm = torch.nn.LSTM(n_in, hidden)
    plstm = neurosim.PhasedLSTM.from_lstm(lstm)
    current = (torch.randn(steps, batch, hidden) * 0.5 + 0.3).requires_grad_()
    lif = neurosim.LIF(beta=0.9)
    reference = neurosim.PhasedLIF(hidden, beta=0.9, backend="torch")

    def step(module, *args):
        def run():
            out = module(*args)
            out = out[0] if isinstance(out, tuple) else out
            out.sum().backward()
        return run

    backend = neurosim.backends()[0]
    runs = {
        "torch.nn.LSTM": (step(lstm, x), None, None),
        "neurosim.PhasedLSTM (step index)": (step(plstm, x), "torch.nn.LSTM", 1.5),
        "neurosim.PhasedLSTM ([T, B] times)": (step(plstm, x, sample_times), "torch.nn.LSTM", 1.5),
        f"neurosim.LIF n={hidden} ({backend})": (step(lif, current), None, None),
        f"neurosim.PhasedLIF n={hidden} (torch reference)": (step(reference, current, sample_times),
                                                             f"neurosim.LIF n={hidden} ({backend})", None),
    }
    for n in lif_sizes:
        current_n = (torch.randn(steps, batch, n) * 0.5 + 0.3).requires_grad_()
        fused = neurosim.PhasedLIF(n, beta=0.9)  # training mode: the leak alpha = 1e-3 is on
        plain = f"neurosim.LIF n={n} ({backend})"
        runs[plain] = (step(lif, current_n), None, None)
        runs[f"neurosim.PhasedLIF n={n} (fused {backend})"] = (step(fused, current_n, sample_times), plain, 1.3)
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--lif-sizes", type=int, nargs="*", default=[512, 2048])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "phased_cpu.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = workloads(args.steps, args.batch, args.hidden, args.input, args.lif_sizes)
    for fn, _, _ in runs.values():  # warm-up
        fn()
    best = {name: float("inf") for name in runs}
    for _ in range(args.rounds):
        for name, (fn, _, _) in runs.items():
            best[name] = min(best[name], timed(fn))
    names = list(runs)
    pairs = {name: (base, target) for name, (_, base, target) in runs.items() if base is not None}
    rows = []
    print(f"T={args.steps} B={args.batch} hidden={args.hidden} input={args.input} threads={args.threads}, "
          f"forward+backward, best of {args.rounds} interleaved rounds")
    print(f"{'implementation':<44} {'ms':>9} {'x baseline':>11} {'target':>7}")
    for name in names:
        base, target = pairs.get(name, (None, None))
        ratio = best[name] / best[base] if base else None
        rows.append({"implementation": name, "ms": best[name] * 1e3, "baseline": base, "ratio": ratio,
                     "target": target})
        print(f"{name:<44} {best[name] * 1e3:9.1f} {'' if ratio is None else f'{ratio:.2f}x':>11} "
              f"{'' if target is None else f'{target}x':>7}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"config": vars(args), "torch": torch.__version__, "machine": platform.machine(),
                   "processor": platform.processor(), "rows": rows}, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
