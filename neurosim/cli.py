"""``neurosim`` command line: ``neurosim bench``, ``neurosim info``."""

from __future__ import annotations

import argparse
import sys

import torch


def _bench(args) -> int:
    from neurosim.bench import lif as bench

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        sizes, reps, linear_max_n, with_torch = (512,), 5, 512, False
    else:
        sizes = tuple(args.sizes) if args.sizes else ((512, 2048, 8192, 16384) if device == "cuda" else (512, 2048, 8192))
        reps, linear_max_n, with_torch = args.reps, args.linear_max_n, True
    print(f"neurosim bench: T={bench.T_STEPS} B={bench.BATCH} n={list(sizes)} on {device}, "
          f"{torch.get_num_threads()} threads")
    report = bench.run(sizes=sizes, device=device, reps=reps, include_peers=not args.no_peers,
                       include_torch_backend=with_torch, linear_max_n=linear_max_n,
                       progress=lambda row: print(row, flush=True))
    print()
    print(bench.table(report))
    paths = bench.write(report, args.out)
    print("\nwrote " + ", ".join(paths.values()))
    return 0


def _info(_args) -> int:
    import neurosim
    from neurosim.bench import peers

    print(f"neurosim {neurosim.__version__}, torch {torch.__version__}")
    print(f"backends: {', '.join(neurosim.backends())}")
    print(f"CUDA kernels built: {neurosim.core.cuda_built()}, GPU available: {torch.cuda.is_available()}")
    for p in peers.PEERS:
        print(f"peer {p}: {peers.peer_version(p) or 'not installed'}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="neurosim", description="Spiking neural networks on fused kernels")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="LIF and Linear+LIF benchmark (Open Neuromorphic workloads) vs peers")
    b.add_argument("--quick", action="store_true", help="about 30 s: n=512 only, 3 repetitions")
    b.add_argument("--sizes", type=int, nargs="+", help="neuron counts (default 512 2048 8192; +16384 on GPU)")
    b.add_argument("--reps", type=int, default=5, help="timed repetitions per measurement (median)")
    b.add_argument("--linear-max-n", type=int, default=None, help="skip Linear+LIF above this n (the GEMM dominates)")
    b.add_argument("--device", choices=["cpu", "cuda"], default=None)
    b.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    b.add_argument("--no-peers", action="store_true", help="neurosim only")
    b.add_argument("--out", default="bench_results", help="directory for JSON, table and PNG")
    b.set_defaults(func=_bench)
    i = sub.add_parser("info", help="backends and peers of this install")
    i.set_defaults(func=_info)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
