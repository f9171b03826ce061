"""Phased LSTM against torch.nn.LSTM, and the phased LIF against neurosim's plain LIF: one training
step (forward + backward of a sum over the outputs) at T=500, B=16, hidden 256, input 64, measured
in one process: each comparison (the LSTMs, then the LIFs) with its implementations interleaved
round by round.

Every round times each implementation once, as CPU time of the calling thread (what the work
costs; on a shared machine wall time also counts the time other jobs hold the core) and as wall
time. The table gives the median time, the median over rounds of the per-round ratio to the
baseline (which cancels most of the drift in machine load) and the median number of minor page
faults per call (fresh memory pages from the system, which cost CPU time too). Targets (issue
15): PhasedLSTM <= 1.5x torch.nn.LSTM; phased LIF <= 1.3x LIF for the fused native scan (gate
computed in the scan from per-sample timestamps [T, B], gradients of tau, shift and r_on
included) at --lif-sizes neurons; the step-by-step reference path (``backend="torch"``) is shown at
--hidden neurons for scale. Prints a table, writes JSON and the table as text.

    python benchmarks/phased.py [--steps 500] [--batch 16] [--hidden 256] [--lif-sizes 512 2048]
                                [--rounds 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

# measure the checkout this script is in, not whichever neurosim is installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import neurosim  # noqa: E402


def _minor_faults() -> int:
    """Minor page faults of this thread so far (fresh pages the allocator got from the system);
    0 where the platform does not count them."""
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    except (ImportError, AttributeError, OSError):
        return 0


def timed(fn) -> tuple:
    """(CPU seconds of this thread, wall seconds, minor page faults) of one call."""
    faults, cpu, wall = _minor_faults(), time.thread_time(), time.perf_counter()
    fn()
    return time.thread_time() - cpu, time.perf_counter() - wall, _minor_faults() - faults


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

    # groups measured one after the other, each with its baseline first and its members
    # interleaved round by round (the LIF runs leave the allocator in another state than the
    # LSTM runs, so they do not run between them); each group with its target ratio
    backend = neurosim.backends()[0]
    groups = [
        ({"torch.nn.LSTM": step(lstm, x),
          "neurosim.PhasedLSTM (step index)": step(plstm, x),
          "neurosim.PhasedLSTM ([T, B] times)": step(plstm, x, sample_times)}, 1.5),
        ({f"neurosim.LIF n={hidden} ({backend})": step(lif, current),
          f"neurosim.PhasedLIF n={hidden} (torch reference)": step(reference, current, sample_times)}, None),
    ]
    for n in lif_sizes:
        current_n = (torch.randn(steps, batch, n) * 0.5 + 0.3).requires_grad_()
        fused = neurosim.PhasedLIF(n, beta=0.9)  # training mode: the leak alpha = 1e-3 is on
        groups.append(({f"neurosim.LIF n={n} ({backend})": step(lif, current_n),
                        f"neurosim.PhasedLIF n={n} (fused {backend})": step(fused, current_n, sample_times)}, 1.3))
    return groups


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--lif-sizes", type=int, nargs="*", default=[512, 2048])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "phased_cpu.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    groups = workloads(args.steps, args.batch, args.hidden, args.input, args.lif_sizes)
    cpu, wall, faults, pairs = {}, {}, {}, {}
    for runs, target in groups:
        names = list(runs)
        pairs.update({name: (names[0], target) for name in names[1:]})
        for fn in runs.values():  # warm-up
            fn()
        for name in names:
            cpu[name], wall[name], faults[name] = [], [], []
        for _ in range(args.rounds):
            for name, fn in runs.items():
                c, w, f = timed(fn)
                cpu[name].append(c)
                wall[name].append(w)
                faults[name].append(f)
    names = list(cpu)

    def times_x(value, digits=".2f"):
        return "" if value is None else f"{value:{digits}}x"

    def ratio(times, name, base):
        return statistics.median(a / b for a, b in zip(times[name], times[base]))

    rows, lines = [], []
    lines.append(f"T={args.steps} B={args.batch} hidden={args.hidden} input={args.input} threads={args.threads}, "
                 f"forward+backward, {args.rounds} interleaved rounds, medians")
    lines.append(f"{'implementation':<44} {'CPU ms':>8} {'wall ms':>8} {'x base (CPU)':>13} {'x base (wall)':>14} "
                 f"{'target':>7} {'page faults':>12}")
    for name in names:
        base, target = pairs.get(name, (None, None))
        row = {"implementation": name, "cpu_ms": statistics.median(cpu[name]) * 1e3,
               "wall_ms": statistics.median(wall[name]) * 1e3, "baseline": base,
               "ratio_cpu": ratio(cpu, name, base) if base else None,
               "ratio_wall": ratio(wall, name, base) if base else None, "target": target,
               "minor_page_faults": statistics.median(faults[name]),
               "cpu_ms_rounds": [t * 1e3 for t in cpu[name]], "wall_ms_rounds": [t * 1e3 for t in wall[name]]}
        rows.append(row)
        lines.append(f"{name:<44} {row['cpu_ms']:8.1f} {row['wall_ms']:8.1f} {times_x(row['ratio_cpu']):>13} "
                     f"{times_x(row['ratio_wall']):>14} {times_x(target, ''):>7} {row['minor_page_faults']:12.0f}")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"config": vars(args), "torch": torch.__version__, "machine": platform.machine(),
                   "processor": platform.processor(), "rows": rows}, f, indent=2)
    with open(os.path.splitext(args.out)[0] + ".txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
