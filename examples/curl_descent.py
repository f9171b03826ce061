"""Curl Descent (Ninou, Kadmon, Cayco-Gajic, NeurIPS 2025) reproduced at a size that runs here in
minutes, printed beside the paper's numbers (from the authors' released code and figures).

(a) Hidden-layer stability boundary. With a fraction alpha_h of the M inputs rule-flipped, the
    teacher's solution manifold of an M -> N -> 1 network is stable while the lowest eigenvalue of
    D1 + W W^T (W: M x N Gaussian, variance 1/M; D1 = diag(+-1)) stays positive. Printed: the
    critical alpha_h per c = M/N from that spectrum, and linear student-teacher runs at both ends:
    all inputs flipped still converges for c < 1/4, one flipped input fails for c >= 1.
(b) Speed-up in a contractive tanh network 100 -> 10 -> 1 with 1 of 10 hidden units flipped:
    epochs to 1e-3 training error at P = 2000, curl vs gradient descent.

    python examples/curl_descent.py            # everything (a few minutes on 2 cores)
    python examples/curl_descent.py --quick    # smaller spectrum and fewer seeds
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import neurosim.plasticity.curl_descent as cd
from neurosim.plasticity import flipped_signs
from neurosim.provenance import announce

# Critical alpha_h from the authors' L1_results.npy / L1_zoom_results.npy (M = 500).
PAPER_ALPHA_H = {0.25: 1.0, 0.28: 0.70, 0.30: 0.56, 0.32: 0.45, 0.35: 0.32, 0.40: 0.17, 0.45: 0.096,
                 0.50: 0.048, 0.60: 0.006, 0.70: 0.0}
# Fig 5 (tanh 100 -> 10 -> 1, 1 of 10 hidden units flipped, B = 10): epochs to 1e-3 training error.
PAPER_EPOCHS = {2000: (2972, 1090), 1600: (2889, 1248), 1400: (2748, 1186), 1000: (2575, 1563),
                500: (1250, 1061), 100: (191, 204)}


def paired(task: cd.Task) -> cd.Task:
    """The same teacher/student pairs twice: first half trained by GD, second half by curl."""
    twice = lambda w: torch.cat([w, w])  # noqa: E731
    return cd.Task(cd.Networks(*map(twice, task.teacher)), cd.Networks(*map(twice, task.student)),
                   task.x_train, task.x_test)


def spectrum_table(inputs, seeds):
    print(f"(a) critical alpha_h from the spectrum of D1 + W W^T (M = {inputs}, {seeds} draws per c; paper M = 500)")
    print(f"{'c = M/N':>8s} {'ours':>7s} {'paper':>7s}")
    rows = []
    for c, paper in PAPER_ALPHA_H.items():
        ours = cd.critical_alpha_h(c, inputs=inputs, seeds=seeds)
        print(f"{c:8.2f} {ours:7.3f} {paper:7.3f}")
        rows.append({"c": c, "critical_alpha_h": float(ours), "paper": paper})
    print("closed form: all inputs flipped (D1 = -I) is stable iff the Marchenko-Pastur edge (1-sqrt c)^2/c > 1, "
          "i.e. c < 1/4")
    return rows


def boundary_runs(seeds, epochs):
    print(f"\n(a) linear student-teacher, P = 250, B = 10, lr = 0.1, Frobenius rescaling, {epochs} epochs, "
          f"{seeds} seeds: median final test error")
    print(f"{'M':>4s} {'N':>4s} {'c':>6s} {'flipped':>8s} {'GD':>10s} {'curl':>10s}  paper / authors' code")
    rows = []
    cases = [(20, 199, 20, "converges (~1e-31), like GD"), (110, 110, 1, "stuck at 2-3e-2 (GD: 6e-14)")]
    for inputs, hidden, flipped, paper in cases:
        task = paired(cd.make_task(inputs, hidden, 250, networks=seeds, seed=inputs))
        d1 = torch.cat([torch.ones(seeds, inputs), flipped_signs(inputs, flipped / inputs).expand(seeds, inputs)])
        hist = cd.train(task, d1, torch.ones(hidden), epochs=epochs, batch=10, record_every=epochs)
        final = hist.test_error[-1]
        gd, curl = final[:seeds].median().item(), final[seeds:].median().item()
        print(f"{inputs:4d} {hidden:4d} {inputs / hidden:6.2f} {flipped:8d} {gd:10.2e} {curl:10.2e}  {paper}")
        rows.append({"inputs": inputs, "hidden": hidden, "flipped": flipped, "gd": gd, "curl": curl})
    return rows


def speedup(samples, seeds, max_epochs, rescale):
    print(f"\n(b) tanh 100 -> 10 -> 1, 1 of 10 hidden units flipped, P = {samples}, B = 10, lr = 0.1, student "
          f"init r = 2, {'with' if rescale else 'without'} Frobenius rescaling, {seeds} seeds, cap {max_epochs} "
          "epochs: epochs to 1e-3 training error (recorded every 10)")
    task = paired(cd.make_task(100, 10, samples, networks=seeds, student_scale=2.0, seed=1))
    d2 = torch.cat([torch.ones(seeds, 10), flipped_signs(10, 0.1).expand(seeds, 10)])
    hist = cd.train(task, torch.ones(100), d2, epochs=max_epochs, batch=10, nonlinearity="tanh", rescale=rescale,
                    stop_below=1e-3, record_every=10)
    reached = cd.epochs_to_reach(hist, 1e-3)
    gd, curl = reached[:seeds].numpy(), reached[seeds:].numpy()
    fmt = lambda v: ", ".join("never" if not np.isfinite(e) else f"{int(e)}" for e in v)  # noqa: E731
    paper_gd, paper_curl = PAPER_EPOCHS.get(samples, (float("nan"), float("nan")))
    print(f"{'':6s} {'median':>8s} {'paper':>7s}   per seed")
    print(f"{'GD':6s} {np.median(gd):8.0f} {paper_gd:7.0f}   {fmt(gd)}")
    print(f"{'curl':6s} {np.median(curl):8.0f} {paper_curl:7.0f}   {fmt(curl)}")
    print(f"speed-up GD / curl (median): ours {np.median(gd) / np.median(curl):.2f}, paper {paper_gd / paper_curl:.2f}")
    return {"samples": samples, "seeds": seeds, "epochs_gd": gd.tolist(), "epochs_curl": curl.tolist(),
            "speedup": float(np.median(gd) / np.median(curl)), "paper_speedup": float(paper_gd / paper_curl)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller spectrum, fewer seeds and epochs")
    parser.add_argument("--samples", type=int, default=2000, help="P for part (b)")
    parser.add_argument("--no-rescale", action="store_true", help="part (b) without the Frobenius rescaling")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (tiny matrices: one is fastest, and leaves the other core free)")
    parser.add_argument("--out", help="write the tables and the settings as JSON here")
    args = parser.parse_args(argv)
    settings = announce("fixed per part (see the code)", args.threads)
    start = time.perf_counter()
    results = {"settings": settings}
    results["critical_alpha_h"] = spectrum_table(inputs=200 if args.quick else 500, seeds=1 if args.quick else 2)
    results["boundary"] = boundary_runs(seeds=2 if args.quick else 3, epochs=300 if args.quick else 1000)
    results["speedup"] = speedup(args.samples, seeds=2 if args.quick else 4, max_epochs=2500 if args.quick else 4000,
                                 rescale=not args.no_rescale)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.out:
        settings.update(quick=args.quick, samples=args.samples, rescale=not args.no_rescale)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
