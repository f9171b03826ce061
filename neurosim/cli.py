"""``neurosim`` command line: ``neurosim train``, ``neurosim bench``, ``neurosim info``.

Every user mistake exits with status 2 and one line on stderr, never a traceback: numeric flags use
the range-checked argparse types below (:func:`int_range`, :func:`float_range`), paths are checked
before any work starts, and :func:`main` turns the errors a user can act on (:data:`USER_ERRORS`)
into that one line. New flags plug in by using the same types and raising :class:`UsageError` (or
ValueError) with a message that names the flag.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from typing import Optional

import torch

from neurosim.training.checkpoint import CheckpointError
from neurosim.training.distributed import RendezvousError


class UsageError(ValueError):
    """A command-line mistake; ``main`` prints its message as one line and exits 2."""


# Errors a user can act on (bad values, names, files, environment): one line, exit status 2.
USER_ERRORS = (UsageError, ValueError, CheckpointError, RendezvousError, OSError, ImportError)


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line (no usage block) so every mistake reads the same."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number_type(kind, low, high, low_open: bool, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if low is not None and (value <= low if low_open else value < low) or high is not None and value > high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def int_range(low: Optional[int] = None, high: Optional[int] = None):
    """An argparse type: an integer in [low, high] (either bound optional)."""
    bounds = ("an integer" + (f" >= {low}" if low is not None else "") +
              (f" and <= {high}" if high is not None else ""))
    return _number_type(int, low, high, False, bounds)


def float_range(low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False):
    """An argparse type: a finite number in [low, high] ((low, high] with ``low_open``)."""
    bounds = ("a finite number" + (f" {'>' if low_open else '>='} {low:g}" if low is not None else "") +
              (f" and <= {high:g}" if high is not None else ""))
    return _number_type(float, low, high, low_open, bounds)


POSITIVE_INT = int_range(1)
NON_NEGATIVE_INT = int_range(0)
POSITIVE_FLOAT = float_range(0.0, low_open=True)


def device_arg(text: str) -> str:
    """An argparse type: a torch device this install can use (cpu, cuda, cuda:N, ...)."""
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; expected cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"device {text!r} is not supported; expected cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"device {text!r} requested but CUDA is not available to this torch")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"device {text!r}: this machine has {torch.cuda.device_count()} GPUs")
    return text


def writable_dir(path: str, flag: str) -> str:
    """Creates ``path`` if needed and checks that a file can be written in it (before any work)."""
    if not path.strip():
        raise UsageError(f"argument {flag}: expected a folder path, got an empty string")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"argument {flag}: {path} exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise UsageError(f"argument {flag}: cannot write to {path}: {e.strerror or e}") from None
    return path


def writable_file(path: str, flag: str) -> str:
    """Checks that a file can be created at ``path`` (its folder exists or can be made, and is writable)."""
    from neurosim.training.checkpoint import check_writable

    if not path.strip():  # "" would pass the folder check (its folder is the parent of the cwd)
        raise UsageError(f"argument {flag}: expected a file path, got an empty string")
    try:
        check_writable(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except CheckpointError as e:
        raise UsageError(f"argument {flag}: {e}") from None
    except OSError as e:
        raise UsageError(f"argument {flag}: cannot write {path}: {e.strerror or e}") from None
    return path


def _set_threads(threads: Optional[int]) -> None:
    if threads:
        torch.set_num_threads(threads)


def _bench(args) -> int:
    from neurosim.bench import lif as bench

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    writable_dir(args.out, "--out")
    _set_threads(args.threads)
    if args.quick:
        sizes, reps, linear_max_n, with_torch = (512,), QUICK_REPS, 512, False
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


QUICK_REPS = 5


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
    from neurosim.training.checkpoint import load_checkpoint
    from neurosim.training.job import TrainConfig, parse_dataset, run

    parse_dataset(args.dataset)  # an unknown name fails here, before any work
    # every path is checked before training, so a mistake does not cost an epoch (reading first,
    # so that a bad --resume leaves no new folders behind)
    if args.resume is not None:
        try:
            payload = load_checkpoint(args.resume)
        except CheckpointError as e:
            raise UsageError(f"argument --resume: {e}") from None
        try:
            done = int(payload["epoch"])
        except (TypeError, ValueError):
            raise UsageError(f"argument --resume: checkpoint {args.resume} has a malformed 'epoch' entry: "
                             f"{payload['epoch']!r}") from None
        if done > args.epochs:
            raise UsageError(f"argument --epochs: the checkpoint {args.resume} has done {done} epochs; "
                             f"ask for at least that many (got {args.epochs})")
    if args.checkpoint is not None:
        writable_file(args.checkpoint, "--checkpoint")
    if args.cache_dir is not None and not args.cache_dir.strip():
        # an empty path would put the cache folders into the current directory
        raise UsageError("argument --cache-dir: expected a folder path, got an empty string")
    writable_dir(args.out, "--out")
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
                         progress=not args.no_progress, plots=not args.no_plots, dist_timeout=args.dist_timeout,
                         diagnose=args.diagnose, diagnose_every=args.every)
    run(config)
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
    from neurosim.training.job import DATASET_FORMS, DEFAULT_MODELS, MAX_HIDDEN, MAX_SEED, MODELS, TrainConfig

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
    t.add_argument("--epochs", type=POSITIVE_INT, default=d.epochs,
                   help=f"training epochs in total; with --resume the run continues to this count (default: {d.epochs})")
    t.add_argument("--T", type=POSITIVE_INT, default=d.T, help=f"time steps per sample (default: {d.T})")
    t.add_argument("--hidden", type=int_range(1, MAX_HIDDEN), default=d.hidden,
                   help=f"hidden neurons (default: {d.hidden}; at most {MAX_HIDDEN:,})")
    t.add_argument("--batch-size", type=POSITIVE_INT, default=d.batch_size, help="batch size per process")
    t.add_argument("--lr", type=POSITIVE_FLOAT, default=d.lr, help="Adam learning rate (cosine schedule)")
    t.add_argument("--encoding", default=d.encoding, choices=["rate", "latency", "direct"],
                   help="spike code for static data (digits)")
    t.add_argument("--tbptt", type=POSITIVE_INT, default=None, help="truncated BPTT: detach the state every K steps")
    t.add_argument("--clip", type=POSITIVE_FLOAT, default=None, help="clip the gradient norm to this value")
    t.add_argument("--limit", type=POSITIVE_INT, default=None, help="use at most this many train and test samples")
    t.add_argument("--seed", type=int_range(0, MAX_SEED), default=d.seed, help=f"0 to {MAX_SEED} (default: {d.seed})")
    t.add_argument("--device", type=device_arg, default=None,
                   help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    t.add_argument("--checkpoint", default=None, help="write a checkpoint here after every epoch")
    t.add_argument("--resume", default=None, help="continue from this checkpoint")
    t.add_argument("--out", default=d.out, help="folder for results.json, metrics.csv and plots")
    t.add_argument("--threads", type=POSITIVE_INT, default=None, help="torch CPU threads (default on CPU: 1)")
    t.add_argument("--dist-timeout", type=POSITIVE_FLOAT, default=d.dist_timeout,
                   help=f"under torchrun: seconds to wait for all processes to join (default: {d.dist_timeout:g})")
    t.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    t.add_argument("--diagnose", choices=["sharpness"], default=None,
                   help="track learning dynamics: sharpness (top Hessian eigenvalue) vs 2/lr, gradient norm and "
                        "spike rates -> diagnostics.csv, metrics.csv columns and sharpness.png")
    t.add_argument("--every", type=POSITIVE_INT, default=d.diagnose_every,
                   help=f"measure every K training steps (default: {d.diagnose_every})")
    t.set_defaults(func=_train)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurosim", description="Spiking neural networks on fused kernels")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train_parser(sub)
    b = sub.add_parser("bench", help="LIF and Linear+LIF benchmark (Open Neuromorphic workloads) vs peers")
    b.add_argument("--quick", action="store_true", help=f"about 30 s: n=512 only, {QUICK_REPS} repetitions")
    b.add_argument("--sizes", type=POSITIVE_INT, nargs="+", help="neuron counts (default 512 2048 8192; +16384 on GPU)")
    b.add_argument("--reps", type=POSITIVE_INT, default=5, help="timed repetitions per measurement (median)")
    b.add_argument("--linear-max-n", type=POSITIVE_INT, default=None,
                   help="skip Linear+LIF above this n (the GEMM dominates)")
    b.add_argument("--device", choices=["cpu", "cuda"], default=None)
    b.add_argument("--threads", type=POSITIVE_INT, default=None, help="torch CPU threads")
    b.add_argument("--no-peers", action="store_true", help="neurosim only")
    b.add_argument("--out", default="bench_results", help="directory for JSON, table and PNG")
    b.set_defaults(func=_bench)
    i = sub.add_parser("info", help="backends and peers of this install")
    i.set_defaults(func=_info)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse's one-line error (status 2), or --help (0)
        return e.code if isinstance(e.code, int) else 2
    if getattr(args, "device", None) == "cuda" and not torch.cuda.is_available():
        print(f"neurosim {args.command}: error: argument --device: CUDA is not available to this torch",
              file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except USER_ERRORS as e:
        # bad values, names, files or environment: one clear line rather than a traceback
        message = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, OSError) and e.filename and str(e.filename) not in message:
            message += f": {e.filename}"
        print(f"neurosim {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
