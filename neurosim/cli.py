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
MAX_THREADS = os.cpu_count() or 1
"""``--threads`` is at most the machine's CPU count: more threads than CPUs only add overhead, and
a mistyped count would start threads until the process limit kills the run."""
THREADS = int_range(1, MAX_THREADS)


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


def _bench_memory(n: int, linear: bool) -> int:
    """A lower bound on the bytes one benchmark step of ``n`` neurons needs: input, spikes and
    their gradients ``[T, B, n]`` (float32), and with the Linear layer its ``n x n`` weight and
    gradient."""
    from neurosim.bench import lif as bench

    return 4 * 4 * bench.T_STEPS * bench.BATCH * n + (2 * 4 * n * n if linear else 0)


def _bench(args) -> int:
    from neurosim.bench import lif as bench
    from neurosim.training.job import available_memory

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.quick:
        for flag, value in (("--sizes", args.sizes), ("--reps", args.reps), ("--linear-max-n", args.linear_max_n)):
            if value is not None:
                raise UsageError(f"argument {flag}: --quick sets its own (n=512, {QUICK_REPS} repetitions); "
                                 f"leave out --quick to choose {flag}")
        sizes, reps, linear_max_n, with_torch = (512,), QUICK_REPS, 512, False
    else:
        sizes = tuple(args.sizes) if args.sizes else ((512, 2048, 8192, 16384) if device == "cuda" else (512, 2048, 8192))
        reps = args.reps if args.reps is not None else DEFAULT_REPS
        linear_max_n, with_torch = args.linear_max_n, True
    have = available_memory(device)
    for n in sizes:
        need = _bench_memory(n, linear_max_n is None or n <= linear_max_n)
        if need > have:
            raise UsageError(f"argument --sizes: n={n} needs at least {need / 2**30:,.1f} GiB per step "
                             f"(T={bench.T_STEPS}, B={bench.BATCH}"
                             f"{', the Linear layer n x n' if linear_max_n is None or n <= linear_max_n else ''}); "
                             f"{device} has {have / 2**30:,.1f} GiB free")
    writable_dir(args.out, "--out")
    _set_threads(args.threads)
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
DEFAULT_REPS = 5


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


# `neurosim train`'s options: argparse destination -> TrainConfig field (None: not a field)
_TRAIN_DESTS = {"dataset": "dataset", "neuron": "neuron", "model": "model", "channels": "channels",
                "no_cache": "cache", "cache_dir": "cache_dir", "epochs": "epochs", "T": "T", "hidden": "hidden",
                "batch_size": "batch_size", "lr": "lr", "encoding": "encoding", "tbptt": "tbptt", "clip": "clip",
                "limit": "limit", "seed": "seed", "device": "device", "checkpoint": "checkpoint",
                "resume": "resume", "out": "out", "threads": None, "dist_timeout": "dist_timeout",
                "no_progress": "progress", "no_plots": "plots", "diagnose": "diagnose", "every": "diagnose_every"}
_INVERTED = {"no_cache", "no_progress", "no_plots"}  # store_true flags that turn a field off
TRAIN_FLAGS = {field: "--" + dest.replace("_", "-") if dest not in ("T", "every") else f"--{dest}"
               for dest, field in _TRAIN_DESTS.items() if field is not None}
"""TrainConfig field -> the ``neurosim train`` flag that sets it (errors name flags, not fields)."""


def _train_flags(fields) -> str:
    return "/".join(TRAIN_FLAGS.get(f, f) for f in fields)


def _train(args) -> int:
    """Options left out take TrainConfig's defaults, or with --resume the checkpoint's run
    configuration; options given must apply to this run and, with --resume, match the checkpoint."""
    from neurosim.training import job
    from neurosim.training.checkpoint import load_checkpoint
    from neurosim.training.trainer import check_training_state

    given = {}  # the options on the command line, as TrainConfig fields
    for dest, field in _TRAIN_DESTS.items():
        value = getattr(args, dest)
        if field is not None and value is not None and value is not False:
            given[field] = not value if dest in _INVERTED else value
    if "dataset" in given:
        job.parse_dataset(given["dataset"])  # an unknown name fails here, before any work
    values = dict(given)
    # every path and the checkpoint are checked before training, so a mistake does not cost an epoch
    # (reading first, so that a bad --resume leaves no new folders behind)
    payload = None
    if args.resume is not None:
        try:
            payload = load_checkpoint(args.resume)
            done = check_training_state(payload, args.resume)[0]
            recorded = job.checkpoint_run(payload, args.resume)
        except CheckpointError as e:
            raise UsageError(f"argument --resume: {e}") from None
        # what the command line leaves out continues as the checkpoint's run did
        for field in job.RUN_FIELDS:
            if field not in values and recorded[field] is not None:
                values[field] = tuple(recorded[field]) if field == "channels" else recorded[field]
        if "epochs" not in values:  # the interrupted run's own total, not TrainConfig's default
            total = job.checkpoint_epochs(payload)
            if total is None:
                raise UsageError(f"argument --resume: the checkpoint {args.resume} does not record how many "
                                 "epochs its run was to train; give --epochs")
            values["epochs"] = max(total, done)
        elif done > values["epochs"]:
            raise UsageError(f"argument --epochs: the checkpoint {args.resume} has done {done} epochs; "
                             f"ask for at least that many (got {values['epochs']})")
    config = job.TrainConfig(**values)
    if payload is not None:  # a differing run option first: it explains the checks below that would fail
        job.check_resume(config, payload)
    try:
        config.validate()
    except job.ConfigError:
        raise
    except ValueError as e:  # "field: reason" -> "argument --flag: reason"
        field, _, reason = str(e).partition(": ")
        if field not in TRAIN_FLAGS:
            raise
        raise UsageError(f"argument {TRAIN_FLAGS[field]}: {reason}") from None
    job.check_applicable(config, given=set(given))
    job.check_memory(config, config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    job.check_checkpoint_path(config)
    job.check_cache_dir(config)
    if args.checkpoint is not None:
        writable_file(args.checkpoint, "--checkpoint")
    writable_dir(config.out, "--out")
    on_cpu = not (args.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if args.threads:
        torch.set_num_threads(args.threads)
    elif on_cpu:
        # The default networks are small: one thread avoids the thread-pool overhead, which on a
        # busy 2-core machine made the digits job 20x slower (137 s vs 7 s measured).
        torch.set_num_threads(1)
    job.run(config)
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
    from neurosim.training.job import (
        DATASET_FORMS,
        DEFAULT_MODELS,
        MAX_BATCH_SIZE,
        MAX_DIST_TIMEOUT,
        MAX_HIDDEN,
        MAX_SEED,
        MODELS,
        TrainConfig,
    )

    # Every default is None here and comes from TrainConfig (or, with --resume, the checkpoint) in
    # _train, which so knows which options were given: those must apply to the run.
    d = TrainConfig()
    t = sub.add_parser("train", help="train a two-layer spiking network (default: LIF on scikit-learn digits)",
                       description="Train a spiking MLP with surrogate-gradient BPTT and report test accuracy. "
                                   "Runs under torchrun --nproc_per_node=N with DistributedDataParallel. "
                                   "With --resume, the options that define the run (data set, split, seed, "
                                   "network, T, encoding, batch size, lr, tbptt, clip, limit) are the "
                                   "checkpoint's: leave them out or give the same values.")
    t.add_argument("--dataset", default=None, help=f"{DATASET_FORMS} (default: {d.dataset})")
    t.add_argument("--neuron", default=None, choices=sorted(set(available_neurons()) | set(RECURRENT_NEURONS)),
                   help=f"neuron model from the registry (default: {d.neuron}; the recurrent model takes lif, "
                        "synaptic or alif)")
    defaults = ", ".join(f"{k}: {v}" for k, v in DEFAULT_MODELS.items())
    t.add_argument("--model", default=None, choices=MODELS,
                   help=f"network: spiking MLP, conv net or recurrent net (default per data set: {defaults})")
    t.add_argument("--channels", type=_positive_int_list, default=None,
                   help="conv model only: output channels per conv block, e.g. 12,32")
    t.add_argument("--no-cache", action="store_true",
                   help="event data only: frame event data at every epoch, no disk cache")
    t.add_argument("--cache-dir", default=None,
                   help="event data only: folder of the event-frame cache "
                        "(default: $NEUROSIM_CACHE or ~/.cache/neurosim/frames)")
    t.add_argument("--epochs", type=POSITIVE_INT, default=None,
                   help=f"training epochs in total; with --resume the run continues to this count (default: {d.epochs}; "
                        "with --resume, the checkpoint's run's total)")
    t.add_argument("--T", type=POSITIVE_INT, default=None,
                   help=f"time steps per sample (default: {d.T}); sizes that cannot fit in memory are refused")
    t.add_argument("--hidden", type=int_range(1, MAX_HIDDEN), default=None,
                   help=f"mlp and recurrent models: hidden neurons (default: {d.hidden}; at most {MAX_HIDDEN:,})")
    t.add_argument("--batch-size", type=int_range(1, MAX_BATCH_SIZE), default=None,
                   help=f"batch size per process (default: {d.batch_size}; at most {MAX_BATCH_SIZE:,})")
    t.add_argument("--lr", type=POSITIVE_FLOAT, default=None,
                   help=f"Adam learning rate (cosine schedule; default: {d.lr:g})")
    t.add_argument("--encoding", default=None, choices=["rate", "latency", "direct"],
                   help=f"digits only: spike code for the static images (default: {d.encoding})")
    t.add_argument("--tbptt", type=POSITIVE_INT, default=None,
                   help="truncated BPTT: detach the state every K steps (K < T)")
    t.add_argument("--clip", type=POSITIVE_FLOAT, default=None, help="clip the gradient norm to this value")
    t.add_argument("--limit", type=POSITIVE_INT, default=None, help="use at most this many train and test samples")
    t.add_argument("--seed", type=int_range(0, MAX_SEED), default=None,
                   help=f"0 to {MAX_SEED} (default: {d.seed})")
    t.add_argument("--device", type=device_arg, default=None,
                   help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    t.add_argument("--checkpoint", default=None, help="write a checkpoint here after every epoch")
    t.add_argument("--resume", default=None,
                   help="continue from this checkpoint of neurosim train (options left out take its values)")
    t.add_argument("--out", default=None, help=f"folder for results.json, metrics.csv and plots (default: {d.out})")
    t.add_argument("--threads", type=THREADS, default=None,
                   help=f"torch CPU threads (default on CPU: 1; at most {MAX_THREADS}, this machine's CPU count)")
    t.add_argument("--dist-timeout", type=float_range(0.0, MAX_DIST_TIMEOUT, low_open=True), default=None,
                   help=f"under torchrun only: seconds to wait for all processes to join (default: {d.dist_timeout:g})")
    t.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    t.add_argument("--diagnose", choices=["sharpness"], default=None,
                   help="track learning dynamics: sharpness (top Hessian eigenvalue) vs 2/lr, gradient norm and "
                        "spike rates -> diagnostics.csv, metrics.csv columns and sharpness.png")
    t.add_argument("--every", type=POSITIVE_INT, default=None,
                   help=f"with --diagnose: measure every K training steps (default: {d.diagnose_every})")
    t.set_defaults(func=_train)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurosim", description="Spiking neural networks on fused kernels")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train_parser(sub)
    b = sub.add_parser("bench", help="LIF and Linear+LIF benchmark (Open Neuromorphic workloads) vs peers")
    b.add_argument("--quick", action="store_true",
                   help=f"about 30 s: n=512 only, {QUICK_REPS} repetitions (not with --sizes, --reps, --linear-max-n)")
    b.add_argument("--sizes", type=POSITIVE_INT, nargs="+",
                   help="neuron counts (default 512 2048 8192; +16384 on GPU); sizes whose tensors cannot fit "
                        "in memory are refused")
    b.add_argument("--reps", type=POSITIVE_INT, default=None,
                   help=f"timed repetitions per measurement (median; default {DEFAULT_REPS})")
    b.add_argument("--linear-max-n", type=POSITIVE_INT, default=None,
                   help="skip Linear+LIF above this n (the GEMM dominates)")
    b.add_argument("--device", choices=["cpu", "cuda"], default=None)
    b.add_argument("--threads", type=THREADS, default=None,
                   help=f"torch CPU threads (at most {MAX_THREADS}, this machine's CPU count)")
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
        from neurosim.training.job import ConfigError

        message = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, ConfigError) and args.command == "train":  # fields -> the flags that set them
            message = f"argument {_train_flags(e.fields)}: {' '.join(e.reason.split())}"
        if isinstance(e, OSError) and e.filename and str(e.filename) not in message:
            message += f": {e.filename}"
        print(f"neurosim {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
