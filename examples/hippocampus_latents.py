"""Experiment 1 of George et al. (NeurIPS 2023): the theta-gated Helmholtz model learns a generative
model of 5 slowly varying latents (Gaussian processes, RBF kernel, 1 s) seen through 50 random
linear features.

Prints the mismatch loss (EMA over 60 s of mean |basal - apical|) before and after training beside
the paper's, checks that in wake mode p's apical prediction tracks the sensory input, and that in
sleep mode the generated g activity has the latents' autocorrelation; saves PNG figures.

    python examples/hippocampus_latents.py                  # 30 simulated minutes, 1 simulation
    python examples/hippocampus_latents.py --minutes 5 --batch 8
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from neurosim.models.hippocampus import GaussianProcessLatents, HelmholtzHippocampus, HippocampusConfig, LatentMixing
from neurosim.models.hippocampus.analysis import autocorrelation, tracking_r2
from neurosim.provenance import announce

PAPER = {"p_before": 0.735, "g_before": 0.50, "p_after": 0.217, "g_after": 0.067, "p_wake": 0.165, "g_wake": 0.064}
# The authors' own code (HH_utils.py + ratinabox 1.6.3, figs12.ipynb's protocol) rerun over numpy seeds:
# (mean, sd); per seed in benchmarks/results/hippocampus/authors_code_latents.json. The paper's numbers
# are one run of it. See docs/hippocampus.md.
AUTHORS_CODE = {"seeds_before": 17, "seeds_trained": 7,
                "p_before": (0.694, 0.105), "g_before": (0.508, 0.114), "p_before_mean": (1.064, 0.163),
                "g_before_mean": (0.765, 0.170), "p_after": (0.249, 0.089), "g_after": (0.066, 0.003),
                "p_wake": (0.197, 0.088), "g_wake": (0.062, 0.005), "p_wake_mean": (0.155, 0.090),
                "g_wake_mean": (0.059, 0.007)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated training time (paper: 30)")
    parser.add_argument("--batch", type=int, default=1, help="independent simulations run side by side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (the results depend on it: float sums split differently)")
    parser.add_argument("--latent-start", default="zero", choices=GaussianProcessLatents.STARTS,
                        help="'zero': the authors' sampler, latents ramp up from 0 over ~2 s (their 'before' "
                             "loss depends on it); 'stationary': unit variance from the first step")
    parser.add_argument("--out", default="results/hippocampus_latents")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    settings = announce(args.seed, args.threads)
    os.makedirs(args.out, exist_ok=True)

    config = HippocampusConfig.latents()
    dt, S = config.dt, args.batch
    steps_per_minute = int(round(60 / dt))
    model = HelmholtzHippocampus(config, S, seed=args.seed, backend=args.backend)
    latents = GaussianProcessLatents(5, 1.0, dt, batch=S, seed=args.seed + 1, start=args.latent_start)
    mixing = LatentMixing(5, config.n_features, batch=S, seed=args.seed + 2)
    loss_start = int(round(2.0 / config.theta.frequency / dt))  # the EMA starts after 2 theta cycles

    def segment(minutes):
        z = latents.sample(int(round(minutes * steps_per_minute)))
        return z, mixing(z)

    # The notebook's protocol (figs12.ipynb), one continuous run whose loss EMA (60 s) carries over:
    # 1 min wake (constant_0) without learning -> "before"; 1 min sleep without learning; 30 min
    # training; 0.1 min theta without learning; 1 min wake -> "wake-only test"; then sleep.
    _, f = segment(1.0)
    rec = model.run(f, mode="wake", learn=False, record=())
    before_ema = rec.loss[-1].numpy()                          # the authors' statistic  [S, 2]
    before_mean = rec.mismatch[loss_start:].mean(0).numpy()    # plain mean over the same minute
    z_sleep0, f = segment(1.0)
    sleep_before = model.run(f, mode="sleep", learn=False, record=("g",))

    # Training, in one-minute chunks so memory stays flat for any length.
    loss_curve, t0 = [], time.perf_counter()
    train_steps = int(round(args.minutes * steps_per_minute))
    done = 0
    while done < train_steps:
        n = min(steps_per_minute, train_steps - done)
        _, f = segment(n / steps_per_minute)
        rec = model.run(f, record=())
        loss_curve.append(rec.loss[::40].numpy())  # one sample per second
        done += n
    train_seconds = time.perf_counter() - t0
    loss_curve = np.concatenate(loss_curve)  # [seconds, S, 2]
    final_loss = rec.loss[-1].numpy()

    # After training: a short theta reset without learning, then the wake-only test.
    _, f = segment(0.1)
    model.run(f, learn=False, record=())
    _, f = segment(1.0)
    wake = model.run(f, mode="wake", learn=False, record=("p",))
    wake_ema = wake.loss[-1].numpy()
    wake_mean = wake.mismatch.mean(0).numpy()
    r2 = [tracking_r2(wake.p[:, 1, s].numpy(), wake.p[:, 0, s].numpy()) for s in range(S)]

    # Sleep mode: pure generation; compare g's autocorrelation with the latents'.
    z_sleep, f = segment(3.0 + 0.1)
    model.run(f[:steps_per_minute // 10], learn=False, record=())
    sleep = model.run(f[steps_per_minute // 10:], mode="sleep", learn=False, record=("g",))
    max_lag = int(round(4.0 / dt))
    lags = np.arange(max_lag + 1) * dt
    window = int(round(50.0 / dt))  # the authors' 50 s window, averaged over the 3 minutes
    skip = steps_per_minute // 10
    acf_latents = np.mean([autocorrelation(z_sleep[skip:, s].numpy(), max_lag, window) for s in range(S)], axis=0)
    acf_g = np.array([autocorrelation(sleep.g[:, 2, s].numpy(), max_lag, window) for s in range(S)])
    # before training: the last 50 s of the untrained sleep minute, as the notebook plots it
    acf_g0 = np.array([autocorrelation(sleep_before.g[-window:, 2, s].numpy(), max_lag) for s in range(S)])
    acf_gap = np.abs(acf_g - acf_latents).max(axis=1)
    acf_gap0 = np.abs(acf_g0 - acf_latents).max(axis=1)

    def cross_zero(acf):
        below = np.flatnonzero(acf < 0)
        return float(lags[below[0]]) if len(below) else float("nan")

    def mean_sd(x):
        x = np.asarray(x, np.float64)
        return f"{x.mean():.3f}" + (f" +- {x.std(ddof=1):.3f}" if len(x) > 1 else "")

    def reference(key):
        if key not in AUTHORS_CODE:
            return ""
        mean, sd = AUTHORS_CODE[key]
        return f"{mean:.3f} +- {sd:.3f}"

    print(f"theta-gated Helmholtz model, experiment 1: {S} simulation(s), {args.minutes:g} simulated minutes, "
          f"latents start={args.latent_start!r}")
    print(f"training wall time {train_seconds:.1f} s ({train_steps} steps, "
          f"{train_seconds / train_steps * 1e6:.0f} us/step for the batch)")
    print(f"{'mismatch (mean |basal - apical|)':44s} {'ours':>16s} {'authors code':>16s} {'paper':>6s}")
    rows = [("p before training (EMA, wake 1 min)", "p_before", before_ema[:, 0]),
            ("g before training (EMA, wake 1 min)", "g_before", before_ema[:, 1]),
            ("p before training (plain mean, wake 1 min)", "p_before_mean", before_mean[:, 0]),
            ("g before training (plain mean, wake 1 min)", "g_before_mean", before_mean[:, 1]),
            ("p end of training (EMA 60 s)", "p_after", final_loss[:, 0]),
            ("g end of training (EMA 60 s)", "g_after", final_loss[:, 1]),
            ("p wake-only test (EMA)", "p_wake", wake_ema[:, 0]),
            ("g wake-only test (EMA)", "g_wake", wake_ema[:, 1]),
            ("p wake-only test (plain mean)", "p_wake_mean", wake_mean[:, 0]),
            ("g wake-only test (plain mean)", "g_wake_mean", wake_mean[:, 1])]
    for name, key, ours in rows:
        print(f"{name:44s} {mean_sd(ours):>16s} {reference(key):>16s} {PAPER.get(key, ''):>6}")
    print(f"(ours: mean +- sd over {S} simulation(s); authors' code: mean +- sd over "
          f"{AUTHORS_CODE['seeds_before']} seeds (before) / {AUTHORS_CODE['seeds_trained']} seeds (trained) of their "
          f"notebook's protocol, run with ratinabox 1.6.3; paper: the notebook's one run)")
    print(f"wake tracking: R^2 of p apical vs p basal (sensory input) {mean_sd(r2)}  (paper: tracks almost exactly)")
    print(f"sleep autocorrelation, max |ACF_g - ACF_latents| over lags 0-4 s: after training {mean_sd(acf_gap)}, "
          f"before {mean_sd(acf_gap0)}  (target < 0.15)")
    print(f"ACF at 1 s: latents {np.interp(1.0, lags, acf_latents):.2f}, generated g "
          f"{np.interp(1.0, lags, acf_g.mean(0)):.2f} (before training {np.interp(1.0, lags, acf_g0.mean(0)):.2f}); "
          f"first zero crossing: latents {cross_zero(acf_latents):.2f} s, g {cross_zero(acf_g.mean(0)):.2f} s")

    ours = {key: values.tolist() for _, key, values in rows}
    summary = {"settings": settings, "minutes": args.minutes, "batch": S, "latent_start": args.latent_start,
               "train_seconds": train_seconds, "paper": PAPER, "authors_code": AUTHORS_CODE, "ours": ours,
               "ours_mean_sd": {key: [float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0]
                                for key, v in ours.items()},
               "wake_r2": r2, "acf_gap": acf_gap.tolist(), "acf_gap_before": acf_gap0.tolist(),
               "acf_at_1s": {"latents": float(np.interp(1.0, lags, acf_latents)),
                             "generated_g": float(np.interp(1.0, lags, acf_g.mean(0))),
                             "generated_g_before": float(np.interp(1.0, lags, acf_g0.mean(0)))},
               "acf_zero_crossing_s": {"latents": float(cross_zero(acf_latents)),
                                       "generated_g": float(cross_zero(acf_g.mean(0)))}}
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(summary, fh, indent=2)

    if not args.no_plots:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3))
        minutes = np.arange(loss_curve.shape[0]) / 60
        for layer, color in ((0, "C2"), (1, "C0")):
            ax.plot(minutes, loss_curve[:, 0, layer], color=color, label=["p (HPC)", "g (MEC)"][layer])
            ax.axhline(PAPER[["p_after", "g_after"][layer]], color=color, ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("training time / min")
        ax.set_ylabel("loss (EMA of mean |B - A|)")
        ax.legend(frameon=False)
        ax.set_title("training (dotted: paper's end values)")
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "loss.png"), dpi=150)

        fig, axes = plt.subplots(3, 1, figsize=(6, 4.5), sharex=True)
        t = np.arange(wake.p.shape[0]) * dt
        window = t < 20
        for i, ax in enumerate(axes):
            ax.plot(t[window], wake.p[window, 0, 0, i].numpy(), color="k", lw=1, label="basal (sensory input)")
            ax.plot(t[window], wake.p[window, 1, 0, i].numpy(), color="C1", lw=1, ls="--", label="apical (prediction)")
        axes[0].legend(frameon=False, fontsize=7, loc="upper right")
        axes[-1].set_xlabel("time / s (wake mode, after training)")
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "wake_tracking.png"), dpi=150)

        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot(lags, acf_latents, color="C4", label="latents")
        ax.plot(lags, acf_g.mean(0), color="C0", label="generated g (after training)")
        ax.plot(lags, acf_g0.mean(0), color="C0", ls=":", label="generated g (before)")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("lag / s")
        ax.set_ylabel("autocorrelation")
        ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "sleep_autocorrelation.png"), dpi=150)
        print(f"figures and results.json saved under {args.out}/")


if __name__ == "__main__":
    main()
