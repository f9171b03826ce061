"""Training throughput (samples/s) of the `neurosim train` digits network at T=25: neurosim's LIF
(fused whole-sequence kernel) vs the same network written with snnTorch's ``Leaky`` stepped in a
Python loop, as snnTorch's tutorials do. One run, interleaved repetitions, best of N.

    python benchmarks/train_throughput.py [--batch 128] [--reps 7] [--steps 10] [--threads 1]

Prints a table and writes benchmarks/results/train_throughput_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch
from torch import nn

import neurosim
from neurosim.data import digits_datasets
from neurosim.models import SpikingMLP
from neurosim.training import ce_count, rate

SIZES = (64, 256, 10)
BETA = 0.9


class SnnTorchMLP(nn.Module):
    """The digits network in snnTorch's idiom: Linear then Leaky at every time step."""

    def __init__(self, sizes=SIZES, beta=BETA):
        super().__init__()
        import snntorch
        from snntorch import surrogate

        self.fc1, self.fc2 = nn.Linear(sizes[0], sizes[1]), nn.Linear(sizes[1], sizes[2])
        grad = surrogate.fast_sigmoid(slope=25)
        self.lif1 = snntorch.Leaky(beta=beta, threshold=1.0, spike_grad=grad, reset_mechanism="subtract")
        self.lif2 = snntorch.Leaky(beta=beta, threshold=1.0, spike_grad=grad, reset_mechanism="subtract")

    def forward(self, x):
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        out = []
        for x_t in x.unbind(0):
            spk1, mem1 = self.lif1(self.fc1(x_t), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


def _copy_weights(src: SpikingMLP, dst: SnnTorchMLP) -> None:
    with torch.no_grad():
        for lin, fc in zip(src.linears, (dst.fc1, dst.fc2)):
            fc.weight.copy_(lin.weight)
            fc.bias.copy_(lin.bias)


def _batches(batch: int, steps: int, num_steps: int, device):
    train, _ = digits_datasets()
    x_all, y_all = train.tensors
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(steps):
        idx = torch.randint(0, len(x_all), (batch,), generator=g)
        out.append((rate(x_all[idx], num_steps, generator=g).to(device), y_all[idx].to(device)))
    return out


def _train_steps(model, optimizer, batches, device) -> float:
    """Seconds for one optimizer step per batch (forward, count loss, backward, Adam)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for x, y in batches:
        loss = ce_count(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--T", type=int, default=25)
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per timed repetition")
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions per model (best is kept)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    torch.manual_seed(0)
    models = {"neurosim LIF (auto backend)": SpikingMLP(list(SIZES), neuron_options={"beta": BETA})}
    models["neurosim LIF (torch reference backend)"] = SpikingMLP(list(SIZES), neuron_options={"beta": BETA, "backend": "torch"})
    models["neurosim LIF (torch reference backend)"].load_state_dict(models["neurosim LIF (auto backend)"].state_dict())
    try:
        snn = SnnTorchMLP()
        _copy_weights(models["neurosim LIF (auto backend)"], snn)
        import snntorch
        models[f"snnTorch {snntorch.__version__} Leaky (Python time loop)"] = snn
    except ImportError:
        print("snnTorch not installed: neurosim only")
    models = {k: m.to(device) for k, m in models.items()}
    batches = _batches(args.batch, args.steps, args.T, device)

    # same network: identical weights give the same loss on the first batch
    x0, y0 = batches[0]
    first_loss = {k: ce_count(m(x0), y0).item() for k, m in models.items()}

    optimizers = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    for k in models:  # warm-up
        _train_steps(models[k], optimizers[k], batches[:2], device)
    best = {k: float("inf") for k in models}
    for _ in range(args.reps):  # interleaved so that machine load hits every model alike
        for k in models:
            best[k] = min(best[k], _train_steps(models[k], optimizers[k], batches, device))
    samples = args.batch * args.steps
    rows = [{"model": k, "samples_per_s": samples / best[k], "ms_per_step": 1e3 * best[k] / args.steps,
             "first_batch_loss": first_loss[k]} for k in models]
    base = rows[0]["samples_per_s"]
    for r in rows:
        r["speed_vs_neurosim"] = r["samples_per_s"] / base

    print(f"training throughput, digits network {'-'.join(map(str, SIZES))}, T={args.T}, batch {args.batch}, "
          f"{args.threads} thread(s) on {device}; best of {args.reps} x {args.steps} steps")
    print(f"{'model':<48} {'samples/s':>10} {'ms/step':>9} {'rel.':>6} {'loss@1':>9}")
    for r in rows:
        print(f"{r['model']:<48} {r['samples_per_s']:>10.0f} {r['ms_per_step']:>9.2f} "
              f"{r['speed_vs_neurosim']:>6.2f} {r['first_batch_loss']:>9.5f}")
    report = {"workload": {"sizes": SIZES, "T": args.T, "batch": args.batch, "steps": args.steps, "reps": args.reps,
                           "threads": args.threads, "device": str(device), "loss": "ce_count", "optimizer": "Adam",
                           "encoding": "rate (Bernoulli), pre-encoded"},
              "machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "cpu_count": os.cpu_count()},
              "versions": {"torch": torch.__version__, "neurosim": neurosim.__version__,
                           "neurosim_backends": neurosim.backends()},
              "rows": rows}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"train_throughput_{device.type}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
