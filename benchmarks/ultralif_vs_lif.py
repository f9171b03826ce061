"""UltraLIF and UltraDLIF against neurosim's LIF on the LIF-alone workload (T=500, B=16, one
training step with loss = spikes.sum()), measured in one run with the implementations interleaved
round by round (best total time per implementation). Target: UltraLIF forward+backward <= 1.5x
LIF at n = 8192. Prints a table and writes JSON.

    python benchmarks/ultralif_vs_lif.py [--sizes 512 2048 8192] [--rounds 5] [--ring-max-n 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import asdict

import torch

import neurosim
from neurosim.bench.lif import measure

TARGET_RATIO = 1.5


def implementations(n: int, device: torch.device, reference_max_n: int, ring_max_n: int = 0) -> list[str]:
    native = "cuda" if device.type == "cuda" else "cpp"
    names = [f"neurosim-{native}", f"ultralif-{native}"]
    if n <= ring_max_n:
        names.append(f"ultradlif-{native}")
    if n <= reference_max_n:  # the pure-PyTorch reference: what a hand-written UltraLIF costs
        names.append("ultralif-torch")
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 8192])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the best total counts")
    parser.add_argument("--reps", type=int, default=3, help="timed steps per implementation and round")
    parser.add_argument("--reference-max-n", type=int, default=512)
    parser.add_argument("--ring-max-n", type=int, default=2048, help="largest n for UltraDLIF")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    best = {}
    for _ in range(args.rounds):
        for n in args.sizes:
            for impl in implementations(n, device, args.reference_max_n, args.ring_max_n):
                r = measure(impl, "lif", n, device, reps=args.reps)
                key = (impl, n)
                if key not in best or r.best_total_ms < best[key].best_total_ms:
                    best[key] = r
    rows = []
    print(f"{'impl':<18} {'n':>6} {'fwd ms':>9} {'bwd ms':>9} {'best total ms':>14} {'peak MB':>8} {'x LIF':>6}")
    for (impl, n), r in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lif = best[(implementations(n, device, 0)[0], n)]
        ratio = r.best_total_ms / lif.best_total_ms
        rows.append({**asdict(r), "ratio_to_lif": ratio})
        mem = "-" if r.peak_mb is None else f"{r.peak_mb:.0f}"
        print(f"{impl:<18} {n:>6} {r.forward_ms:>9.1f} {r.backward_ms:>9.1f} {r.best_total_ms:>14.1f} {mem:>8} {ratio:>6.2f}")
    n_max = max(args.sizes)
    native = implementations(n_max, device, 0)
    ratio = best[(native[1], n_max)].best_total_ms / best[(native[0], n_max)].best_total_ms
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"UltraLIF / LIF at n={n_max}: {ratio:.2f}x ({verdict} the <= {TARGET_RATIO}x target)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{device.type}_ultralif_vs_lif.json")
    with open(path, "w") as f:
        json.dump({"device": (platform.processor() or platform.machine()) if device.type == "cpu"
                   else torch.cuda.get_device_name(device), "threads": torch.get_num_threads(),
                   "torch": torch.__version__, "neurosim": neurosim.__version__, "rows": rows,
                   "ultralif_over_lif_at_max_n": ratio, "target": TARGET_RATIO}, f, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
