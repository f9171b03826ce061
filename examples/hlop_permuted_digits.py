"""HLOP (Hebbian-learning-based orthogonal projection, Xiao et al., ICLR 2024) on permuted digits.

Continual learning over tasks that share scikit-learn's 8x8 digits but each apply a fixed pixel
permutation. A small spiking network (64 -> 100 LIF -> 10, rate readout over T steps) learns the
tasks one after another, either plainly or with HLOP: after each task, a lateral Hebbian circuit per
layer (Oja's subspace rule) learns the principal subspace of that layer's input activity and
freezes it; later tasks update each layer only with the gradient projected off those subspaces.

Prints the accuracy matrix summaries ACC (mean final accuracy over tasks) and BWT (backward
transfer: mean over earlier tasks of final minus just-learned accuracy) for both. The paper's
PMNIST numbers (784-800-800-10, 10 tasks) are about ACC 95.2 / BWT -1.3 for HLOP vs 70.6 / -28.9 for
plain sequential training (read from the paper's Table 1 without the authors' logs to confirm
them); this is a much smaller problem, so compare the direction and size of the gap, not the values.

    python examples/hlop_permuted_digits.py [--tasks 5] [--epochs 5] [--seed 0] [--threads 1] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import neurosim
import neurosim.plasticity as plasticity
from neurosim.provenance import announce


class SpikingMLP(nn.Module):
    def __init__(self, n_in=64, hidden=100, classes=10, steps=5):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden, bias=False)
        self.lif = neurosim.LIF(beta=0.9, threshold=1.0)
        self.fc2 = nn.Linear(hidden, classes, bias=False)
        self.steps = steps

    def forward(self, x):
        current = self.fc1(x).unsqueeze(0).expand(self.steps, -1, -1)  # constant input current
        rate = self.lif(current).mean(0)                                 # firing rate [B, hidden]
        return self.fc2(rate), rate


def make_tasks(n_tasks, seed):
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    rng = np.random.default_rng(seed)
    perms = [np.arange(64)] + [rng.permutation(64) for _ in range(n_tasks - 1)]
    return [(x_tr[:, p], y_tr, x_te[:, p], y_te) for p in perms]


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x)[0].argmax(1) == y).float().mean())


def run(tasks, use_hlop, epochs, seed, components=(12, 15)):
    torch.manual_seed(seed)
    model = SpikingMLP()
    projections = [plasticity.HebbianProjection(64, lr=0.01), plasticity.HebbianProjection(100, lr=0.01)]
    layers = [model.fc1, model.fc2]
    acc = np.zeros((len(tasks), len(tasks)))
    for t, (x_tr, y_tr, _, _) in enumerate(tasks):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        for _ in range(epochs):
            for idx in torch.randperm(len(x_tr)).split(32):
                optimizer.zero_grad()
                logits, _ = model(x_tr[idx])
                nn.functional.cross_entropy(logits, y_tr[idx]).backward()
                if use_hlop:
                    for layer, proj in zip(layers, projections):
                        plasticity.project_gradient(layer.weight, proj)
                optimizer.step()
        if use_hlop and t < len(tasks) - 1:
            # Lateral Hebbian learning of this task's input subspaces, then freeze them.
            with torch.no_grad():
                _, rate = model(x_tr)
            for proj, k, activity in zip(projections, components, (x_tr, rate)):
                proj.add_components(k, generator=torch.Generator().manual_seed(seed + t))
                for _ in range(20):
                    for idx in torch.randperm(len(activity)).split(64):
                        proj.learn(activity[idx], iterations=5)
                proj.consolidate()
        for j, (_, _, x_te, y_te) in enumerate(tasks):
            acc[t, j] = accuracy(model, x_te, y_te)
    final = acc[-1]
    acc_mean = final.mean()
    bwt = np.mean([final[j] - acc[j, j] for j in range(len(tasks) - 1)])
    return acc, acc_mean, bwt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (results depend on it slightly)")
    parser.add_argument("--out", help="write ACC, BWT, the accuracy matrices and the settings as JSON here")
    args = parser.parse_args(argv)
    settings = announce(args.seed, args.threads)
    tasks = make_tasks(args.tasks, args.seed)
    print(f"permuted digits: {args.tasks} tasks, {len(tasks[0][0])} train / {len(tasks[0][2])} test images each, "
          f"64-100(LIF, T=5)-10, {args.epochs} epochs per task")
    rows = []
    for name, use_hlop in (("plain sequential", False), ("HLOP", True)):
        start = time.perf_counter()
        acc, acc_mean, bwt = run(tasks, use_hlop, args.epochs, args.seed)
        rows.append((name, acc_mean, bwt, time.perf_counter() - start, acc))
        print(f"\n{name}: accuracy on task j (columns) after learning task i (rows)")
        print(np.array2string(100 * acc, precision=1, suppress_small=True))
    print(f"\n{'method':18s} {'ACC %':>7s} {'BWT %':>7s} {'seconds':>8s}")
    for name, acc_mean, bwt, secs, _ in rows:
        print(f"{name:18s} {100 * acc_mean:7.1f} {100 * bwt:7.1f} {secs:8.1f}")
    print("paper (PMNIST, 10 tasks): HLOP 95.2 / -1.3, plain sequential 70.6 / -28.9")
    if args.out:
        settings.update(tasks=args.tasks, epochs=args.epochs)
        with open(args.out, "w") as f:
            json.dump({"settings": settings,
                       "methods": {name: {"acc": float(acc_mean), "bwt": float(bwt), "seconds": secs,
                                          "matrix": np.asarray(acc).tolist()}
                                   for name, acc_mean, bwt, secs, acc in rows}}, f, indent=2)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
