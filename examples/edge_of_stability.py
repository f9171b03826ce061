"""Edge of stability, weight decay and a spiking network: full-batch gradient descent on scikit-learn
digits with the sharpness (top Hessian eigenvalue) tracked by neurosim.diagnostics, printed beside the
papers' claims (Cohen et al., ICLR 2021; Saether, Kolic, Poggio & Beneventano, arXiv 2605.16622).

    python examples/edge_of_stability.py            # about 2-3 minutes on one CPU core
    python examples/edge_of_stability.py --quick    # about 30 s

Writes edge_of_stability.json beside eos_*.png in --out (default docs/figures/diagnostics).
"""

from __future__ import annotations

import argparse
import json
import os

from neurosim.diagnostics import experiments as ex
from neurosim.provenance import announce


def _plot(runs, path, title, label):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for i, run in enumerate(runs):
        color = f"C{i}"
        steps = [r["step"] for r in run["records"]]
        left.plot(steps, [r["sharpness"] for r in run["records"]], color=color, label=label(run))
        left.axhline(run["two_over_lr"], color=color, ls="--", lw=0.8)
        right.plot(run["losses"], color=color, lw=0.8)
    left.set(xlabel="step", ylabel="sharpness (dashed: 2/lr)", title=title)
    left.legend(fontsize=8)
    right.set(xlabel="step", ylabel="training loss", yscale="log", title="loss (full batch)")
    fig.savefig(path, dpi=110)


def _compact(runs, every: int = 10):
    """Runs for the JSON file: the loss every ``every`` steps, numbers to 6 significant digits."""
    def short(value):
        if isinstance(value, float):
            return float(f"{value:.6g}")
        if isinstance(value, list):
            return [short(v) for v in value]
        if isinstance(value, dict):
            return {k: short(v) for k, v in value.items()}
        return value

    out = {}
    for name, group in runs.items():
        group = group if isinstance(group, list) else [group]
        out[name] = [short(dict(r, losses=r["losses"][::every], loss_every=every)) for r in group]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and steps")
    parser.add_argument("--out", default=os.path.join("docs", "figures", "diagnostics"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small matrices: one is fastest)")
    args = parser.parse_args()
    settings = announce(0, args.threads)  # every network in this script is seeded with 0
    os.makedirs(args.out, exist_ok=True)
    samples, steps, every = (200, 1200, 40) if args.quick else (500, 3000, 50)
    x, y, _ = ex.digits_regression(samples)
    sizes = [64, 100, 100, 10]
    report = {"setup": {"samples": samples, "steps": steps, "every": every, "mlp": sizes, "loss": "0.5 ||f - y||^2"}}

    def mlp_run(lr, wd=0.0, alignment=False):
        net = ex.tanh_mlp(sizes, seed=0)
        return ex.full_batch_gd(net, lambda: ex.half_mse(net(x), y), lr, steps, every, weight_decay=wd,
                                alignment=alignment)

    # (a) edge of stability at three learning rates
    eos = [mlp_run(lr) for lr in (0.2, 0.1, 0.0667)]
    report["edge_of_stability"] = [ex.summarize(r) for r in eos]
    _plot(eos, os.path.join(args.out, "eos_mlp.png"), "tanh MLP, full-batch GD", lambda r: f"lr {r['lr']:g}")
    print("(a) edge of stability, tanh MLP 64-100-100-10, full-batch GD on digits")
    print("    paper (Cohen et al.): sharpness rises to 2/lr, then hovers there while the loss keeps falling, "
          "non-monotonically")
    print(f"    {'lr':>7} {'2/lr':>6} {'steps to 90%':>13} {'settled / (2/lr)':>17} {'loss up (frac)':>15} {'loss':>16}")
    for s in report["edge_of_stability"]:
        print(f"    {s['lr']:7.4g} {s['two_over_lr']:6.1f} {str(s['steps_to_90pct']):>13} {s['settled_ratio']:17.3f} "
              f"{s['loss_increases']:15.3f} {s['initial_loss']:7.3f} -> {s['final_loss']:.3f}")

    # (b) weight decay at lr 0.1
    wds = (0.0, 1e-3, 3e-3, 1e-2, 3e-2)
    decayed = [mlp_run(0.1, wd, alignment=True) for wd in wds]
    report["weight_decay"] = [ex.summarize(r) for r in decayed]
    _plot(decayed, os.path.join(args.out, "eos_weight_decay.png"), "lr 0.1 with weight decay",
          lambda r: f"wd {r['weight_decay']:g}")
    print("\n(b) weight decay, lr 0.1 (2/lr = 20)")
    print("    paper (Saether et al.): weight decay slows progressive sharpening; in MLPs a large enough decay "
          "makes sharpness settle clearly below 2/lr (a phase transition driven by the alignment of theta with "
          "grad sharpness)")
    print(f"    {'wd':>7} {'steps to 90%':>13} {'settled / (2/lr)':>17} {'cos(theta, grad S)':>19} {'final loss':>11}")
    for s in report["weight_decay"]:
        align = s["alignment"][0] if s["alignment"] else float("nan")
        print(f"    {s['weight_decay']:7.0e} {str(s['steps_to_90pct']):>13} {s['settled_ratio']:17.3f} "
              f"{align:19.3f} {s['final_loss']:11.4f}")
    below = [s["weight_decay"] for s in report["weight_decay"] if s["settled_ratio"] < 0.8]
    report["weight_decay_threshold"] = {
        "smallest_wd_settling_below_80pct": min(below) if below else None,
        "largest_wd_reaching_2_over_lr": max([s["weight_decay"] for s in report["weight_decay"]
                                              if s["steps_to_90pct"] is not None], default=None)}
    print(f"    threshold found: sharpness reaches 2/lr up to wd = "
          f"{report['weight_decay_threshold']['largest_wd_reaching_2_over_lr']}, settles below 80 % of it from wd = "
          f"{report['weight_decay_threshold']['smallest_wd_settling_below_80pct']}")

    # (c) a spiking network of LIF neurons, surrogate-gradient GD through the native kernels
    T = 10
    xs = x.unsqueeze(0).expand(T, -1, -1).contiguous()  # constant-current input: a deterministic loss
    snn_steps, snn_every = (200, 20) if args.quick else (400, 20)

    nets = {}

    def snn_run(lr, backend):
        net = nets[(lr, backend)] = ex.spiking_mlp([64, 100, 10], seed=0, backend=backend)
        return ex.full_batch_gd(net, lambda: ex.half_mse(net(xs).mean(0), y), lr, snn_steps, snn_every)

    import neurosim

    native = "cpp" if "cpp" in neurosim.backends() else "torch"
    spiking = [snn_run(lr, native) for lr in (2.0, 5.0)]
    reference = snn_run(2.0, "torch")  # same trajectory, second derivative by double backward
    report["spiking"] = [dict(ex.summarize(r), hvp_method=r["records"][0]["hvp_method"], backend=native)
                         for r in spiking]
    report["spiking_double_backward"] = dict(ex.summarize(reference), hvp_method=reference["records"][0]["hvp_method"],
                                             backend="torch", series=[r["sharpness"] for r in reference["records"]])
    for r, s in zip(spiking, report["spiking"]):
        s["peak_ratio"] = max(q["sharpness"] for q in r["records"]) / r["two_over_lr"]
        s["series"] = [q["sharpness"] for q in r["records"]]
    _plot(spiking + [reference], os.path.join(args.out, "eos_spiking.png"), f"LIF network 64-100-10, T={T}",
          lambda r: f"lr {r['lr']:g} ({r['records'][0]['hvp_method'].replace('_', ' ')})")
    print(f"\n(c) spiking network (LIF, fast-sigmoid surrogate, {native} backend), full-batch surrogate-gradient GD")
    print("    no published claim; the question: does sharpness saturate at 2/lr?")
    print(f"    {'lr':>5} {'2/lr':>5} {'HVP':>18} {'peak / (2/lr)':>14} {'settled / (2/lr)':>17} {'loss':>16}")
    for s in report["spiking"] + [report["spiking_double_backward"]]:
        peak = s.get("peak_ratio", max(s.get("series", [0])) / s["two_over_lr"])
        print(f"    {s['lr']:5.3g} {s['two_over_lr']:5.2f} {s['hvp_method']:>18} {peak:14.3f} "
              f"{s['settled_ratio']:17.3f} {s['initial_loss']:7.3f} -> {s['final_loss']:.3f}")
    # what the finite-difference sharpness of a spiking network means depends on the step: it averages
    # the surrogate-gradient field over the spike flips within the step
    from neurosim.diagnostics import sharpness

    net = nets[(2.0, native)]
    steps_fd = (5e-4, 5e-3, 5e-2)
    report["spiking_fd_step"] = {str(h): float(sharpness(lambda: ex.half_mse(net(xs).mean(0), y), net.parameters(),
                                                         hvp="finite_difference", fd_step=h))
                                 for h in steps_fd}
    print("    finite-difference sharpness at the end of the lr 2 run vs the relative step: "
          + ", ".join(f"{h}: {v:.3f}" for h, v in report["spiking_fd_step"].items()))
    runs = {"mlp": eos, "weight_decay": decayed, "spiking": spiking, "spiking_double_backward": reference}
    with open(os.path.join(args.out, "edge_of_stability.json"), "w") as f:
        json.dump({"settings": settings, "report": report, "runs": _compact(runs)}, f, indent=1)
    print(f"\nwrote {args.out}/edge_of_stability.json and eos_mlp.png, eos_weight_decay.png, eos_spiking.png")


if __name__ == "__main__":
    main()
