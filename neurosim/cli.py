"""``neurosim`` command line: ``neurosim train``, ``neurosim bench``, ``neurosim info``."""

from __future__ import annotations

import argparse
import sys

import torch


class _Parser(argparse.ArgumentParser):
    """Usage mistakes: one line on stderr and exit status 2, no usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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
    for key, value in neurosim.build_info().items():
        if value is not None:
            print(f"{key}: {value}")
    for p in peers.PEERS:
        print(f"peer {p}: {peers.peer_version(p) or 'not installed'}")
    return 0


def _train(args) -> int:
    from neurosim.training.job import TrainConfig, parse_dataset, run

    try:
        parse_dataset(args.dataset)  # an unknown name fails here, before any work
    except ValueError as e:
        print(f"neurosim train: error: {e}", file=sys.stderr)
        return 2
    on_cpu = not (args.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if args.threads:
        torch.set_num_threads(args.threads)
    elif on_cpu:
        # The default networks are small: one thread avoids the thread-pool overhead, which on a
        # busy 2-core machine made the digits job 20x slower (137 s vs 7 s measured).
        torch.set_num_threads(1)
    config = TrainConfig(dataset=args.dataset, neuron=args.neuron, model=args.model, channels=args.channels,
                         cache=not args.no_cache, cache_dir=args.cache_dir, epochs=args.epochs, T=args.T,
                         hidden=args.hidden, batch_size=args.batch_size, lr=args.lr, encoding=args.encoding,
                         tbptt=args.tbptt, clip=args.clip, limit=args.limit, seed=args.seed, device=args.device,
                         checkpoint=args.checkpoint, resume=args.resume, out=args.out,
                         progress=not args.no_progress, plots=not args.no_plots,
                         diagnose=args.diagnose, diagnose_every=args.every)
    from neurosim.training.checkpoint import CheckpointError

    try:
        run(config)
    except (ValueError, FileNotFoundError, CheckpointError, ImportError) as e:
        # bad data, names or files: one clear line rather than a traceback
        print(f"neurosim train: error: {e}", file=sys.stderr)
        return 2
    return 0


def _positive_int_list(text: str):
    """'12,32' -> (12, 32), each a positive int (argparse type: a bad value exits 2 with one line)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive ints such as 12,32, got {text!r}")
    return values


def _add_train_parser(sub) -> None:
    from neurosim.models import available_neurons
    from neurosim.models.stack import RECURRENT_NEURONS
    from neurosim.training.job import DATASET_FORMS, DEFAULT_MODELS, MODELS, TrainConfig

    d = TrainConfig()
    t = sub.add_parser("train", help="train a two-layer spiking network (default: LIF on scikit-learn digits)",
                       description="Train a spiking MLP with surrogate-gradient BPTT and report test accuracy. "
                                   "Runs under torchrun --nproc_per_node=N with DistributedDataParallel.")
    t.add_argument("--dataset", default=d.dataset, help=f"{DATASET_FORMS} (default: digits)")
    t.add_argument("--neuron", default=d.neuron, choices=sorted(set(available_neurons()) | set(RECURRENT_NEURONS)),
                   help="neuron model from the registry (default: lif; the recurrent model takes lif, synaptic or alif)")
    defaults = ", ".join(f"{k}: {v}" for k, v in DEFAULT_MODELS.items())
    t.add_argument("--model", default=None, choices=MODELS,
                   help=f"network: spiking MLP, conv net or recurrent net (default per data set: {defaults})")
    t.add_argument("--channels", type=_positive_int_list, default=None,
                   help="conv model: output channels per conv block, e.g. 12,32")
    t.add_argument("--no-cache", action="store_true", help="frame event data at every epoch, no disk cache")
    t.add_argument("--cache-dir", default=None,
                   help="folder of the event-frame cache (default: $NEUROSIM_CACHE or ~/.cache/neurosim/frames)")
    t.add_argument("--epochs", type=int, default=d.epochs, help=f"training epochs (default: {d.epochs})")
    t.add_argument("--T", type=int, default=d.T, help=f"time steps per sample (default: {d.T})")
    t.add_argument("--hidden", type=int, default=d.hidden, help=f"hidden neurons (default: {d.hidden})")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help="batch size per process")
    t.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (cosine schedule)")
    t.add_argument("--encoding", default=d.encoding, choices=["rate", "latency", "direct"],
                   help="spike code for static data (digits)")
    t.add_argument("--tbptt", type=int, default=None, help="truncated BPTT: detach the state every K steps")
    t.add_argument("--clip", type=float, default=None, help="clip the gradient norm to this value")
    t.add_argument("--limit", type=int, default=None, help="use at most this many train and test samples")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    t.add_argument("--checkpoint", default=None, help="write a checkpoint here after every epoch")
    t.add_argument("--resume", default=None, help="continue from this checkpoint")
    t.add_argument("--out", default=d.out, help="folder for results.json, metrics.csv and plots")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads (default on CPU: 1)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    t.add_argument("--diagnose", choices=["sharpness"], default=None,
                   help="track learning dynamics: sharpness (top Hessian eigenvalue) vs 2/lr, gradient norm and "
                        "spike rates -> diagnostics.csv, metrics.csv columns and sharpness.png")
    t.add_argument("--every", type=_positive_int, default=d.diagnose_every,
                   help=f"measure every K training steps (default: {d.diagnose_every})")
    t.set_defaults(func=_train)


def main(argv=None) -> int:
    parser = _Parser(prog="neurosim", description="Spiking neural networks on fused kernels")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
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
