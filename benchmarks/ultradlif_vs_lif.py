"""UltraDLIF (ring, library form) against neurosim's LIF on the LIF-alone workload (T=500, B=16,
one training step with loss = spikes.sum()), the two measured in one run with the implementations
interleaved round by round (best total per implementation). Target on the CPU: UltraDLIF
forward+backward <= 5x LIF at n = 2048. Prints a table and writes JSON + the table.

    python benchmarks/ultradlif_vs_lif.py [--sizes 512 2048 8192] [--rounds 3] [--label after]
        [--before benchmarks/results/cpu_ultradlif_vs_lif_before.json]

To compare two builds (the extension cannot be loaded twice in one process), run the script once
per build with its own --label, each run measuring LIF beside UltraDLIF, and pass the earlier
JSON as --before: the table then shows both runs' ratios to LIF.
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

TARGET_RATIO = 5.0
TARGET_N = 2048


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best total counts")
    parser.add_argument("--reps", type=int, default=2, help="timed steps per implementation and round")
    parser.add_argument("--label", default="after", help="names the build measured (file suffix)")
    parser.add_argument("--before", default=None, help="JSON of an earlier run to show beside this one")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    native = "cuda" if device.type == "cuda" else "cpp"
    impls = [f"neurosim-{native}", f"ultradlif-{native}"]
    best = {}
    for _ in range(args.rounds):
        for n in args.sizes:
            for impl in impls:
                r = measure(impl, "lif", n, device, reps=args.reps)
                key = (impl, n)
                if key not in best or r.best_total_ms < best[key].best_total_ms:
                    best[key] = r
    before = {}
    if args.before:
        with open(args.before) as f:
            for row in json.load(f)["rows"]:
                before[(row["impl"], row["n"])] = row
    rows, lines = [], []
    header = f"{'impl':<16} {'n':>6} {'fwd ms':>9} {'bwd ms':>9} {'best total ms':>14} {'x LIF':>7}"
    if before:
        header += f" {'x LIF before':>13} {'speed-up':>9}"
    lines.append(header)
    for (impl, n), r in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ratio = r.best_total_ms / best[(impls[0], n)].best_total_ms
        rows.append({**asdict(r), "ratio_to_lif": ratio})
        line = f"{impl:<16} {n:>6} {r.forward_ms:>9.1f} {r.backward_ms:>9.1f} {r.best_total_ms:>14.1f} {ratio:>7.2f}"
        if (impl, n) in before:
            old = before[(impl, n)]
            line += f" {old['ratio_to_lif']:>13.2f} {old['ratio_to_lif'] / ratio:>8.1f}x"
        lines.append(line)
    if (impls[1], TARGET_N) in best:
        ratio = best[(impls[1], TARGET_N)].best_total_ms / best[(impls[0], TARGET_N)].best_total_ms
        verdict = "meets" if ratio <= TARGET_RATIO else "misses"
        lines.append(f"UltraDLIF / LIF at n={TARGET_N}: {ratio:.2f}x ({verdict} the <= {TARGET_RATIO:g}x target)")
    table = "\n".join(lines)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"{device.type}_ultradlif_vs_lif_{args.label}")
    with open(stem + ".json", "w") as f:
        json.dump({"device": (platform.processor() or platform.machine()) if device.type == "cpu"
                   else torch.cuda.get_device_name(device), "threads": torch.get_num_threads(),
                   "torch": torch.__version__, "neurosim": neurosim.__version__, "label": args.label,
                   "rounds": args.rounds, "reps": args.reps, "rows": rows, "target": TARGET_RATIO}, f, indent=2)
    with open(stem + ".txt", "w") as f:
        f.write(table + "\n")
    print(f"wrote {stem}.json and .txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
