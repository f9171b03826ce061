"""NIR export and import time of a 3-layer conv + dense spiking network (the issue's target:
export + import under a second), with snnTorch's importer of the same graph beside it.

The network: Conv2d(2->16, 3x3) -> LIF -> SumPool2d(2) -> Conv2d(16->32, 3x3) -> LIF -> AvgPool2d(2)
-> Flatten -> Linear(32*8*8 -> 10) -> LIF, on 2 x 32 x 32 frames (per-neuron LIF parameters after
the convolutions). Each stage is timed best of ``--repeats`` in this one run; the round trip is
checked to give identical spikes. Writes a table and JSON to benchmarks/results/.

    python benchmarks/nir_interchange.py
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import tempfile
import time

import torch

import neurosim
from neurosim import layers as L
from neurosim.interop import SumPool2d, from_nir, to_nir

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def network(seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)

    def lif(shape):
        return neurosim.LIF(0.8 + 0.15 * torch.rand(shape, generator=gen), 0.5, reset="zero", reset_delay=False)

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        L.Conv2d(2, 16, 3, padding=1), lif((16, 32, 32)), SumPool2d(2),
        L.Conv2d(16, 32, 3, padding=1), lif((32, 16, 16)), L.AvgPool2d(2),
        L.Flatten(), torch.nn.Linear(32 * 8 * 8, 10), lif((10,)),
    )


def best(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = network()
    sample = torch.rand(1, 1, 2, 32, 32)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net.nir")
        import nir

        rows["to_nir"], graph = best(lambda: to_nir(model, sample), args.repeats)
        rows["nir.write"], _ = best(lambda: nir.write(path, graph), args.repeats)
        rows["nir.read"], read = best(lambda: nir.read(path), args.repeats)
        rows["from_nir (graph)"], imported = best(lambda: from_nir(read), args.repeats)
        rows["from_nir (file)"], _ = best(lambda: from_nir(path), args.repeats)
        rows["export + import (to_nir, write, from_nir(file))"], _ = best(
            lambda: (nir.write(path, to_nir(model, sample)), from_nir(path)), args.repeats)
        peer = None
        try:
            from snntorch.import_nir import import_from_nir

            def snntorch_import():
                with contextlib.redirect_stdout(io.StringIO()):
                    return import_from_nir(nir.read(path))

            rows["snnTorch import_from_nir (file)"], _ = best(snntorch_import, args.repeats)
            peer = "snntorch"
        except ImportError:
            pass

    x = torch.rand(20, 4, 2, 32, 32)
    with torch.no_grad():
        expected, got = model(x), imported(x)
    identical = bool(torch.equal(expected, got))
    params = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())

    print(f"NIR interchange, 3-layer conv+dense network ({params} parameters and buffers), "
          f"best of {args.repeats}, {args.threads} thread(s)")
    print(f"{'stage':<50} {'seconds':>10}")
    for name, seconds in rows.items():
        print(f"{name:<50} {seconds:>10.4f}")
    total = rows["export + import (to_nir, write, from_nir(file))"]
    print(f"round trip identical on x{tuple(x.shape)}: {identical}; export + import under 1 s: {total < 1.0}")

    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, "cpu_nir_interchange.json")
    with open(out, "w") as f:
        json.dump({"machine": platform.processor() or platform.machine(), "threads": args.threads,
                   "repeats": args.repeats, "torch": torch.__version__, "nir": nir.version,
                   "parameters_and_buffers": params, "seconds": rows, "round_trip_identical": identical,
                   "spikes": float(expected.sum()), "peer": peer}, f, indent=2)
    print(f"wrote {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
