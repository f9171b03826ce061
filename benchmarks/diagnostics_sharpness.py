"""Sharpness targets of issue 14, measured side by side in one run:

1. accuracy: top Hessian eigenvalue with <= 20 Hessian-vector products against the exact spectrum
   (a small float64 MLP) and against 200 Lanczos steps (a 116k-parameter MLP), for both HVP forms;
2. cost: one HVP (double backward; central differences) relative to one gradient on the 116k MLP;
3. the training monitor's overhead: `neurosim train` on the digits default with and without
   `--diagnose sharpness --every 100`, alternated.

    python benchmarks/diagnostics_sharpness.py [--quick]

Prints a table and writes benchmarks/results/diagnostics_sharpness.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch
from torch import nn

from neurosim.diagnostics import HessianVectorProduct, hessian_matrix, sharpness
from neurosim.diagnostics import experiments as ex


def _median_time(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def accuracy():
    rows = []
    torch.manual_seed(0)
    small = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4)).double()
    x, y = torch.randn(64, 8, dtype=torch.float64), torch.randint(0, 4, (64,))
    loss_small = lambda: nn.functional.cross_entropy(small(x), y)  # noqa: E731
    exact = float(torch.linalg.eigvalsh(hessian_matrix(loss_small, small.parameters()))[-1])
    for hvp in ("double_backward", "finite_difference"):
        r = sharpness(loss_small, small.parameters(), hvp=hvp, max_iter=20)
        rows.append({"model": f"MLP {sum(p.numel() for p in small.parameters())} params (float64)", "hvp": hvp,
                     "reference": "exact (full Hessian)", "ref": exact, "ours": float(r), "hvps": r.num_hvps,
                     "rel_error": abs(float(r) / exact - 1)})
    big = ex.tanh_mlp([64, 256, 256, 128, 10], seed=0)
    xd, yd, labels = ex.digits_regression(512)
    loss_big = lambda: nn.functional.cross_entropy(big(xd), labels)  # noqa: E731
    n = sum(p.numel() for p in big.parameters())
    ref = float(sharpness(loss_big, big.parameters(), max_iter=200, tol=0.0, hvp="double_backward"))
    for hvp in ("double_backward", "finite_difference"):
        r = sharpness(loss_big, big.parameters(), hvp=hvp, max_iter=20)
        rows.append({"model": f"MLP {n} params (float32)", "hvp": hvp, "reference": "200 Lanczos steps",
                     "ref": ref, "ours": float(r), "hvps": r.num_hvps, "rel_error": abs(float(r) / ref - 1)})
    return rows, (big, loss_big)


def cost(big, loss_big, reps: int):
    params = list(big.parameters())
    grad = lambda: torch.autograd.grad(loss_big(), params)  # noqa: E731
    v = torch.randn(sum(p.numel() for p in params))
    db = HessianVectorProduct(loss_big, params, method="double_backward")
    fd = HessianVectorProduct(loss_big, params, method="finite_difference")
    t_grad = _median_time(grad, reps)
    t_db = _median_time(lambda: db(v), reps)
    t_db_graph = _median_time(lambda: HessianVectorProduct(loss_big, params, method="double_backward")(v), reps)
    t_fd = _median_time(lambda: fd(v), reps)
    return {"gradient_s": t_grad, "hvp_double_backward_s": t_db, "hvp_double_backward_with_graph_s": t_db_graph,
            "hvp_finite_difference_s": t_fd, "ratio_double_backward": t_db / t_grad,
            "ratio_double_backward_with_graph": t_db_graph / t_grad, "ratio_finite_difference": t_fd / t_grad}


def monitor_overhead(epochs: int, pairs: int):
    from neurosim.training.job import TrainConfig, run

    torch.set_num_threads(1)
    plain, monitored, measured = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs):
            for diagnose in ((None, "sharpness") if i % 2 == 0 else ("sharpness", None)):
                config = TrainConfig(epochs=epochs, out=os.path.join(tmp, f"{i}-{diagnose}"), progress=False,
                                     plots=False, diagnose=diagnose, diagnose_every=100, device="cpu")
                started = time.perf_counter()
                results = run(config, log=lambda *_: None)
                (monitored if diagnose else plain).append(time.perf_counter() - started)
                if diagnose:
                    measured.append(results["diagnostics"])
    return {"epochs": epochs, "pairs": pairs, "plain_s": plain, "monitored_s": monitored,
            "overhead": statistics.median(monitored) / statistics.median(plain) - 1,
            "measurements": measured[-1]["measurements"], "hvp_method": measured[-1]["hvp_method"],
            "monitor_seconds": [m["seconds"] for m in measured]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and epochs")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, (big, loss_big) = accuracy()
    costs = cost(big, loss_big, reps=5 if args.quick else 15)
    overhead = monitor_overhead(epochs=10 if args.quick else 30, pairs=1 if args.quick else 2)
    print(f"{'model':<28} {'HVP':<18} {'reference':<22} {'ref':>9} {'ours':>9} {'HVPs':>5} {'rel err':>9}")
    for r in rows:
        print(f"{r['model']:<28} {r['hvp']:<18} {r['reference']:<22} {r['ref']:9.5g} {r['ours']:9.5g} "
              f"{r['hvps']:5d} {r['rel_error']:9.2e}")
    print("target: within 1 % using <= 20 HVPs\n")
    print(f"cost on the 116k MLP, batch 512, 1 thread: gradient {1e3 * costs['gradient_s']:.2f} ms; HVP by "
          f"double backward {costs['ratio_double_backward']:.2f}x a gradient ({costs['ratio_double_backward_with_graph']:.2f}x "
          f"when its graph is built for one product only); by central differences "
          f"{costs['ratio_finite_difference']:.2f}x. target: <= 3x\n")
    print(f"monitor: neurosim train (digits default, {overhead['epochs']} epochs) "
          f"{statistics.median(overhead['plain_s']):.1f} s without, {statistics.median(overhead['monitored_s']):.1f} s "
          f"with --diagnose sharpness --every 100 ({overhead['measurements']} measurements, {overhead['hvp_method']}): "
          f"overhead {100 * overhead['overhead']:+.1f} %. target: <= 10 %")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "diagnostics_sharpness.json")
    with open(path, "w") as f:
        json.dump({"accuracy": rows, "cost": costs, "monitor": overhead, "torch": torch.__version__,
                   "threads": torch.get_num_threads()}, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
