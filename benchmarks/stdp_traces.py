"""STDP with exponential traces on one fully connected layer: neurosim's whole-sequence rule
(both traces in fused native calls, then the spike-driven weight change over all T x B samples)
against a plain PyTorch per-step loop, and SpikingJelly's STDPLearner when it imports.

All timings come from one run of this script on the same machine: best of ``--repeats`` wall-clock
times per contender, ratios relative to the plain loop. Writes a table and JSON to benchmarks/results/.

    python benchmarks/stdp_traces.py                 # 1000 x 1000 layer, T=1000, B=16
    python benchmarks/stdp_traces.py --steps 200     # shorter sequences
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import torch

import neurosim
import neurosim.plasticity as plasticity

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def plain_loop(pre, post, a_plus, a_minus, tau_plus, tau_minus):
    """What one writes by hand: traces and both outer products step by step."""
    steps, batch, n_in = pre.shape
    n_out = post.shape[-1]
    decay_pre, decay_post = math.exp(-1.0 / tau_plus), math.exp(-1.0 / tau_minus)
    x = torch.zeros(batch, n_in)
    y = torch.zeros(batch, n_out)
    dw = torch.zeros(n_out, n_in)
    for t in range(steps):
        x = decay_pre * x + pre[t]
        y = decay_post * y + post[t]
        dw.addmm_(post[t].T, x, alpha=a_plus / batch)
        dw.addmm_(y.T, pre[t], alpha=-a_minus / batch)
    return dw


def neurosim_stdp(pre, post, a_plus, a_minus, tau_plus, tau_minus):
    return plasticity.stdp(pre, post, a_plus=a_plus, a_minus=a_minus, tau_plus=tau_plus, tau_minus=tau_minus)


def spikingjelly_runner():
    """SpikingJelly's STDPLearner in multi-step mode, fed the same spikes: the synapse is a Linear
    layer and the 'neuron' a module that returns the recorded post spikes. None if it does not import."""
    try:
        from spikingjelly.activation_based import layer, learning
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        return None, f"{type(exc).__name__}: {exc}"

    class FixedSpikes(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.spikes = None
            self.step_mode = "m"

        def forward(self, x):
            return self.spikes

    def run(pre, post, a_plus, a_minus, tau_plus, tau_minus):
        synapse = layer.Linear(pre.shape[-1], post.shape[-1], bias=False, step_mode="m")
        neuron = FixedSpikes()
        neuron.spikes = post
        # SpikingJelly's traces decay by (1 - 1/tau) per step; f_pre scales LTD, f_post LTP.
        learner = learning.STDPLearner(step_mode="m", synapse=synapse, sn=neuron, tau_pre=tau_plus,
                                       tau_post=tau_minus, f_pre=lambda w: a_minus * torch.ones_like(w),
                                       f_post=lambda w: a_plus * torch.ones_like(w))
        with torch.no_grad():
            neuron(synapse(pre))
        synapse.weight.grad = None
        learner.step(on_grad=True)
        return -synapse.weight.grad / pre.shape[1]

    return run, None


def interleaved_best_times(contenders, repeats):
    """Best wall-clock time of each contender, run in alternating rounds so that every contender
    sees the same background load (the machine is shared)."""
    best = {name: float("inf") for name in contenders}
    results = {}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            results[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--n-in", type=int, default=1000)
    parser.add_argument("--n-out", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.05, help="spike probability per step")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sj-steps", type=int, default=100,
                        help="SpikingJelly runs this many steps (its cost is linear in T) and is scaled up")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", default=os.path.join(RESULTS, "cpu_2core_stdp"))
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    pre = (torch.rand(args.steps, args.batch, args.n_in) < args.rate).float()
    post = (torch.rand(args.steps, args.batch, args.n_out) < args.rate).float()
    rule = dict(a_plus=0.01, a_minus=0.012, tau_plus=20.0, tau_minus=20.0)

    contenders = {"loop": lambda: plain_loop(pre, post, **rule), "neurosim": lambda: neurosim_stdp(pre, post, **rule)}
    best, results = interleaved_best_times(contenders, args.repeats)
    loop_s, ours_s = best["loop"], best["neurosim"]
    err = float((results["neurosim"] - results["loop"]).abs().max() / results["loop"].abs().max())
    rows = [{"name": "plain PyTorch per-step loop", "seconds": loop_s, "steps_timed": args.steps},
            {"name": "neurosim plasticity.stdp (whole sequence)", "seconds": ours_s, "steps_timed": args.steps,
             "max_rel_diff_vs_loop": err}]

    sj_run, sj_error = spikingjelly_runner()
    sj_diff = None
    if sj_run is not None:
        steps = min(args.sj_steps, args.steps)
        sj_best, sj_results = interleaved_best_times({"sj": lambda: sj_run(pre[:steps], post[:steps], **rule)}, 1)
        row = {"name": "SpikingJelly STDPLearner (multi-step)", "seconds": sj_best["sj"] * args.steps / steps,
               "steps_timed": steps}
        if steps < args.steps:
            row["note"] = f"timed on the first {steps} steps, scaled by {args.steps / steps:g}"
        rows.append(row)
        # SpikingJelly's traces decay by (1 - 1/tau) per step: the same rule as ours with
        # tau' = -1 / ln(1 - 1/tau).
        same = dict(rule, tau_plus=-1 / math.log(1 - 1 / rule["tau_plus"]),
                    tau_minus=-1 / math.log(1 - 1 / rule["tau_minus"]))
        ours_prefix = neurosim_stdp(pre[:steps], post[:steps], **same)
        sj_diff = float((sj_results["sj"] - ours_prefix).abs().max() / ours_prefix.abs().max())
    for row in rows:
        row["speedup_vs_loop"] = loop_s / row["seconds"]

    header = (f"STDP with traces, {args.n_out} x {args.n_in} layer, T={args.steps}, B={args.batch}, "
              f"spike rate {args.rate}, best of {args.repeats}, {torch.get_num_threads()} threads")
    lines = [header, f"{'contender':44s} {'seconds':>9s} {'x vs loop':>10s}"]
    for row in rows:
        lines.append(f"{row['name']:44s} {row['seconds']:9.3f} {row['speedup_vs_loop']:10.2f}"
                     + (f"   ({row['note']})" if "note" in row else ""))
    lines.append(f"neurosim vs loop: max |dW difference| / max |dW| = {err:.2e}")
    if sj_error is not None:
        lines.append(f"SpikingJelly STDPLearner not run: {sj_error}")
    if sj_diff is not None:
        lines.append(f"neurosim vs SpikingJelly (same trace decay): max |dW difference| / max |dW| = {sj_diff:.2e}")
    table = "\n".join(lines)
    print(table)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".txt", "w") as f:
        f.write(table + "\n")
    with open(args.out + ".json", "w") as f:
        json.dump({"config": vars(args) | {"threads": torch.get_num_threads()},
                   "machine": {"platform": platform.platform(), "processor": platform.processor(),
                               "torch": torch.__version__, "neurosim": neurosim.__version__},
                   "results": rows, "spikingjelly_error": sj_error,
                   "spikingjelly_max_rel_diff": sj_diff}, f, indent=2)


if __name__ == "__main__":
    main()
