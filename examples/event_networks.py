"""The networks for event data on synthetic data sets in the real file layouts, three seeds each:

1. conv vs MLP on synthetic N-MNIST at 34x34x2 whose blobs move by up to ``--shift`` pixels per
   sample (so the class is a shape, not a place), same epochs, conv at fewer parameters;
2. a temporal task whose class is the *order* of two bursts of input (A then B, or B then A; the
   counts are the same; ``neurosim.data.temporal_order_task``, whose noise after the second burst
   keeps a time-averaged readout from reading the order off the sequence's end): the recurrent
   adaptive LIF network (RecurrentSNN, neuron="alif") against a feed-forward LIF network of the
   same size and readout;
3. the frame cache: one pass over the synthetic N-MNIST training set framing and storing (epoch
   1) against one pass reading back (epoch 2), and the cached frames against uncached ones.

    python examples/event_networks.py [--seeds 0 1 2] [--epochs 10] [--quick]

Prints the tables and writes benchmarks/results/event_networks.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch

from neurosim import data
from neurosim.models import RecurrentSNN, SpikingConvNet, SpikingMLP, parameter_count
from neurosim.provenance import announce
from neurosim.training import Trainer

HERE = os.path.dirname(os.path.abspath(__file__))


def batch_first_collate(batch):
    return torch.stack([b[0] for b in batch], 1), torch.tensor([int(b[1]) for b in batch])


def train(model, train_set, test_set, epochs, seed, lr, collate, batch_size=32):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    trainer = Trainer(model, opt, loss=getattr(model, "default_loss", "ce_count"), scheduler=sched,
                      batch_size=batch_size, collate_fn=collate, progress=False, seed=seed)
    started = time.perf_counter()
    trainer.fit(train_set, epochs=epochs)
    return trainer.evaluate(test_set)["accuracy"], time.perf_counter() - started


def conv_vs_mlp(args, workdir):
    root = data.make_synthetic_nmnist(os.path.join(workdir, "nmnist"), {"Train": args.per_class, "Test": 10},
                                      seed=123, max_shift=args.shift)
    sets = {}
    for flat, factor in ((False, None), (True, None), (True, 0.5)):
        kw = dict(sensor_size=data.NMNIST_SENSOR_SIZE, n_time_bins=args.T, flatten=flat, spatial_factor=factor,
                  num_classes=10)
        sets[(flat, factor)] = tuple(
            [f[i] for i in range(len(f))] for f in (data.EventFrames(data.NMNISTFolder(root, train=s), **kw)
                                                   for s in (True, False)))
    models = {
        "conv 34x34 (12,32)": (lambda: SpikingConvNet((2, 34, 34), 10, channels=(12, 32)), (False, None)),
        "MLP 34x34 h16": (lambda: SpikingMLP([2 * 34 * 34, 16, 10]), (True, None)),
        "MLP 17x17 h256 (train default)": (lambda: SpikingMLP([2 * 17 * 17, 256, 10]), (True, 0.5)),
    }
    rows = []
    for name, (build, key) in models.items():
        accs, secs = [], []
        for seed in args.seeds:
            torch.manual_seed(seed)
            model = build()
            acc, sec = train(model, *sets[key], args.epochs, seed, 2e-3, data.time_major_collate)
            accs.append(acc)
            secs.append(sec)
        rows.append({"model": name, "parameters": parameter_count(model), "accuracies": accs,
                     "mean": statistics.mean(accs), "seconds": statistics.mean(secs)})
        print(f"  {name:<32} {rows[-1]['parameters']:>8,} params  test acc {statistics.mean(accs):.3f} "
              f"({', '.join(f'{a:.2f}' for a in accs)})  {rows[-1]['seconds']:.0f} s/run", flush=True)
    return rows


def order(args):
    rows = []
    configs = {
        "recurrent ALIF (RALIF, 64)": lambda: RecurrentSNN(32, 2, hidden=(64,), neuron="alif",
                                                           neuron_options={"rho": 0.97, "gamma": 0.5}),
        "feed-forward LIF (64)": lambda: RecurrentSNN(32, 2, hidden=(64,), neuron="lif", recurrent=False),
    }
    for name, build in configs.items():
        accs = []
        for seed in args.seeds:
            train_set = data.temporal_order_task(args.order_samples, 1000 + seed)
            test_set = data.temporal_order_task(200, 2000 + seed)
            torch.manual_seed(seed)
            model = build()
            acc, _ = train(model, train_set, test_set, args.order_epochs, seed, 5e-3, batch_first_collate)
            accs.append(acc)
        rows.append({"model": name, "parameters": parameter_count(model), "accuracies": accs,
                     "mean": statistics.mean(accs)})
        print(f"  {name:<32} {rows[-1]['parameters']:>8,} params  test acc {statistics.mean(accs):.3f} "
              f"({', '.join(f'{a:.2f}' for a in accs)})", flush=True)
    return rows


def cache_timing(args, workdir):
    root = os.path.join(workdir, "nmnist")
    frames = data.EventFrames(data.NMNISTFolder(root, train=True), sensor_size=data.NMNIST_SENSOR_SIZE,
                              n_time_bins=args.T, flatten=False, num_classes=10)
    cache_dir = os.path.join(workdir, "cache")
    epochs = []
    for _ in range(2):
        cached = data.CachedFrames(frames, cache_dir)
        t0 = time.perf_counter()
        items = [cached[i] for i in range(len(cached))]
        epochs.append(time.perf_counter() - t0)
    identical = all(torch.equal(a, frames[i][0]) and la == frames[i][1] for i, (a, la) in enumerate(items))
    result = {"samples": len(frames), "epoch1_s": epochs[0], "epoch2_s": epochs[1], "speedup": epochs[0] / epochs[1],
              "bit_identical": identical, "files": len(os.listdir(cached.folder)),
              "stored_bytes": sum(os.path.getsize(os.path.join(cached.folder, f)) for f in os.listdir(cached.folder)),
              "frame_bytes": sum(x.numel() * x.element_size() for x, _ in items)}
    print(f"  {len(frames)} samples: epoch 1 (frame + store) {epochs[0]:.2f} s, epoch 2 (read) {epochs[1]:.3f} s, "
          f"{result['speedup']:.1f}x; cached frames bit-identical: {identical}; {result['stored_bytes'] / 2**20:.2f} MiB "
          f"on disk for {result['frame_bytes'] / 2**20:.1f} MiB of frames", flush=True)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--T", type=int, default=8)
    p.add_argument("--shift", type=int, default=6)
    p.add_argument("--per-class", type=int, default=20)
    p.add_argument("--order-samples", type=int, default=400)
    p.add_argument("--order-epochs", type=int, default=15)
    p.add_argument("--quick", action="store_true", help="one seed, fewer samples and epochs")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", default=os.path.join(HERE, "..", "benchmarks", "results", "event_networks.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.per_class, args.order_samples, args.order_epochs = [0], 4, 10, 200, 8
    settings = announce(args.seeds[0], args.threads)  # each run below seeds itself from --seeds
    results = {"config": vars(args), "settings": settings}
    with tempfile.TemporaryDirectory() as workdir:
        print(f"1. synthetic N-MNIST 34x34, blobs shifted by up to {args.shift} px, {args.epochs} epochs, "
              f"seeds {args.seeds}")
        results["conv_vs_mlp"] = conv_vs_mlp(args, workdir)
        print(f"2. order task (A then B vs B then A: bursts of 10 steps 30 apart, then at least 20 steps of noise; "
              f"T=100), {args.order_epochs} epochs")
        results["order_task"] = order(args)
        print("3. frame cache on the synthetic N-MNIST training set")
        results["cache"] = cache_timing(args, workdir)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
