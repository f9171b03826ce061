"""The headline of ``neurosim train``: its default job (two-layer LIF network on scikit-learn's
digits, 30 epochs) at several seeds, with the settings it ran under.

    python benchmarks/train_digits.py [--seeds 0 1 2] [--threads 1] [--out benchmarks/results/train_digits.json]

The README quotes these numbers; ``tests/test_docs.py`` checks the quote against this file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile

from neurosim.provenance import announce
from neurosim.training.job import TrainConfig, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CLI's default on CPU)")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "train_digits.json"))
    args = parser.parse_args(argv)
    settings = announce(args.seeds, args.threads)
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as out:
            result = run(TrainConfig(seed=seed, out=out, plots=False, progress=False), log=lambda m: None)
        runs.append({"seed": seed, "test_accuracy": result["test_accuracy"], "epochs": result["epochs"],
                     "final_train_loss": result["final_train_loss"], "wall_time_s": result["wall_time_s"],
                     "test_samples": result["test_samples"], "config": result["config"]})
        print(f"seed {seed}: test accuracy {100 * result['test_accuracy']:.2f} % on {result['test_samples']} "
              f"samples, {result['wall_time_s']:.1f} s")
    accuracies = [r["test_accuracy"] for r in runs]
    summary = {"min": min(accuracies), "max": max(accuracies), "mean": statistics.mean(accuracies)}
    print(f"seeds {args.seeds}: {100 * summary['min']:.1f}-{100 * summary['max']:.1f} %")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"settings": settings, "runs": runs, "summary": summary}, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
