"""The ``neurosim train`` job: data set by name, a spiking MLP, the Trainer, results and plots."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Dict, Optional, Tuple

import torch

DATASET_FORMS = "digits | nmnist:DIR | dvsgesture:DIR | shd:FILE | synthetic"
MODELS = ("mlp", "conv", "recurrent")
DEFAULT_MODELS = {"digits": "mlp", "nmnist": "conv", "synthetic": "conv", "dvsgesture": "conv", "shd": "recurrent"}
"""The model ``neurosim train`` builds for each data set when ``--model`` is not given."""
MAX_SEED = 2**32 - 1
"""The largest seed: NumPy and scikit-learn (the digits split) take seeds below 2**32."""
MAX_HIDDEN = 1_000_000
"""The largest hidden layer: far beyond what these networks need, and a mistyped size fails here
instead of in a multi-gigabyte allocation."""
MAX_BATCH_SIZE = 1_000_000
"""The largest batch per process (the whole N-MNIST training set is 60,000 samples)."""
MAX_DIST_TIMEOUT = 7 * 24 * 3600.0
"""The longest rendezvous wait, in seconds (one week; torch's own default is 30 minutes)."""
RUN_FIELDS = ("dataset", "model", "neuron", "channels", "hidden", "T", "encoding", "beta", "batch_size", "lr",
              "tbptt", "clip", "limit", "seed")
"""The TrainConfig fields that define a run (its data, split, network and training): a checkpoint
records them, and a resumed run must have the same values. The others (``epochs``, ``out``,
``checkpoint``, ``device``, the cache, progress, plots, diagnostics) may change on resume."""
DIGITS_TRAIN_SAMPLES = 1437  # digits_datasets' default split: 1,797 less a stratified fifth (360)
SYNTHETIC_PER_CLASS = {"Train": 30, "Test": 10}
"""Samples per class (10 classes) of ``--dataset synthetic``'s folder, per split."""


class ConfigError(ValueError):
    """A TrainConfig mistake: ``fields`` names the TrainConfig fields (the CLI names its flags)."""

    def __init__(self, fields, reason: str):
        self.fields = tuple(fields)
        self.reason = reason
        super().__init__(f"{', '.join(self.fields)}: {reason}")


@dataclass
class TrainConfig:
    dataset: str = "digits"
    neuron: str = "lif"
    model: Optional[str] = None  # mlp | conv | recurrent; None: DEFAULT_MODELS[data set]
    channels: Optional[Tuple[int, ...]] = None  # conv blocks; None: per data set
    cache: bool = True  # cache event frames on disk (event data sets)
    cache_dir: Optional[str] = None  # None: neurosim.data.default_cache_dir()
    epochs: int = 30
    T: int = 25
    hidden: int = 256
    batch_size: int = 32
    lr: float = 2e-3
    encoding: str = "rate"
    beta: float = 0.9
    tbptt: Optional[int] = None
    clip: Optional[float] = None
    limit: Optional[int] = None
    seed: int = 0
    device: Optional[str] = None
    checkpoint: Optional[str] = None
    resume: Optional[str] = None
    out: str = "neurosim_train"
    progress: bool = True
    plots: bool = True
    dist_timeout: float = 300.0
    diagnose: Optional[str] = None
    diagnose_every: int = 100

    def validate(self) -> None:
        """ValueError naming the field for values no run can use (the CLI's flags have the same names)."""
        positive = {"epochs": self.epochs, "T": self.T, "hidden": self.hidden, "batch_size": self.batch_size,
                    "tbptt": self.tbptt, "limit": self.limit, "diagnose_every": self.diagnose_every}
        for name, value in positive.items():
            if value is None and name in ("tbptt", "limit"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        for name, value in (("lr", self.lr), ("clip", self.clip), ("dist_timeout", self.dist_timeout),
                            ("beta", self.beta)):
            if value is None and name == "clip":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed: expected an integer in [0, {MAX_SEED}], got {self.seed!r}")
        if self.hidden > MAX_HIDDEN:
            raise ValueError(f"hidden: expected at most {MAX_HIDDEN:,} neurons, got {self.hidden!r}")
        if self.batch_size > MAX_BATCH_SIZE:
            raise ValueError(f"batch_size: expected at most {MAX_BATCH_SIZE:,} samples, got {self.batch_size!r}")
        if self.dist_timeout > MAX_DIST_TIMEOUT:
            raise ValueError(f"dist_timeout: expected at most {MAX_DIST_TIMEOUT:g} s, got {self.dist_timeout!r}")
        if self.channels is not None and (not isinstance(self.channels, (tuple, list)) or not self.channels or any(
                isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.channels)):
            raise ValueError(f"channels: expected a sequence of positive ints or None, got {self.channels!r}")
        if self.tbptt is not None and self.tbptt >= self.T:
            raise ConfigError(("tbptt",), f"{self.tbptt} steps per chunk must be fewer than T={self.T} "
                                          "(one chunk of the whole sequence truncates nothing)")
        if self.cache_dir is not None and not str(self.cache_dir).strip():
            # an empty path would put the cache folders into the current directory
            raise ValueError("cache_dir: expected a folder path or None (the default cache), got an empty string")


@dataclass
class PreparedData:
    train: object
    test: object
    in_features: int
    num_classes: int
    encoder: Optional[object]
    collate_fn: Optional[object]
    description: str
    frame_shape: Tuple[int, ...] = ()


def _split(dataset, fraction: float, seed: int, name: str):
    if len(dataset) < 2:
        raise ValueError(f"data set {name!r} has {len(dataset)} sample(s): too few to split into train and "
                         "test sets (at least 2 are needed)")
    n_test = max(1, int(round(len(dataset) * fraction)))
    generator = torch.Generator().manual_seed(seed)
    train, test = torch.utils.data.random_split(dataset, [len(dataset) - n_test, n_test], generator=generator)
    return train, test


def _limit(dataset, limit: Optional[int], seed: int):
    if limit is None or limit >= len(dataset):
        return dataset
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:limit]
    return torch.utils.data.Subset(dataset, order.tolist())


def parse_dataset(spec: str) -> Tuple[str, Optional[str]]:
    """``"nmnist:/data/NMNIST"`` -> ("nmnist", "/data/NMNIST"); ValueError for unknown names."""
    name, _, path = spec.partition(":")
    if name in ("digits", "synthetic") and not path:
        return name, None
    if name in ("nmnist", "shd", "dvsgesture") and path:
        return name, path
    raise ValueError(f"unknown data set {spec!r}; expected {DATASET_FORMS}")


def shd_test_path(path: str) -> Optional[str]:
    """The test file that goes with the SHD training file ``path``: "train" replaced by "test" in
    the file name only, in the same folder (``/x/training/shd_train.h5`` -> ``/x/training/shd_test.h5``);
    None when the name has no "train"."""
    folder, name = os.path.split(path)
    return os.path.join(folder, name.replace("train", "test")) if "train" in name else None


def resolve_model(config: TrainConfig) -> str:
    """The model to train: ``config.model``, or the data set's default (DEFAULT_MODELS)."""
    name, _ = parse_dataset(config.dataset)
    model = config.model or DEFAULT_MODELS[name]
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    if model == "conv" and name in ("digits", "shd"):
        raise ValueError(f"--model conv needs image-shaped event frames (nmnist:, dvsgesture:, synthetic); "
                         f"{config.dataset!r} is 1-D data")
    return model


def conv_channels(config: TrainConfig) -> Tuple[int, ...]:
    """The conv blocks' output channels: ``config.channels`` or the data set's default."""
    if config.channels:
        return tuple(config.channels)
    return (16, 32, 32) if parse_dataset(config.dataset)[0] == "dvsgesture" else (12, 32)


def input_shape(config: TrainConfig) -> Tuple[int, ...]:
    """The shape of one time step of input, known from the data set's name before any file is read."""
    name, _ = parse_dataset(config.dataset)
    conv = resolve_model(config) == "conv"
    if name == "digits":
        return (64,)
    if name == "shd":
        return (70,)
    shape = (2, 32, 32) if name == "dvsgesture" else (2, 34, 34) if conv else (2, 17, 17)
    return shape if conv else (math.prod(shape),)


def uses_beta(neuron: str) -> bool:
    """Whether the neuron ``neuron`` has a ``beta`` (the ultra* neurons have none)."""
    from neurosim.models import NEURONS

    spec = NEURONS.get(neuron)
    return spec is None or "beta" in spec.params


def run_definition(config: TrainConfig) -> Dict:
    """The values of :data:`RUN_FIELDS` this run uses, with defaults resolved (the model, the conv
    channels) and None for what does not apply (``hidden`` of a conv net, ``channels`` of the
    others, ``encoding`` of event data, which is framed rather than encoded). A checkpoint records
    it; a resumed run must match it."""
    name, path = parse_dataset(config.dataset)
    model = resolve_model(config)
    return {
        "dataset": f"{name}:{os.path.realpath(path)}" if path else name,
        "model": model,
        "neuron": config.neuron,
        "channels": list(conv_channels(config)) if model == "conv" else None,
        "hidden": config.hidden if model != "conv" else None,
        "T": config.T,
        "encoding": config.encoding if name == "digits" else None,
        "beta": config.beta if uses_beta(config.neuron) else None,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "tbptt": config.tbptt,
        "clip": config.clip,
        "limit": config.limit,
        "seed": config.seed,
    }


def given_fields(config: TrainConfig):
    """The fields of ``config`` that differ from TrainConfig's defaults (what a caller asked for)."""
    default = TrainConfig()
    return {f for f in asdict(default) if getattr(config, f) != getattr(default, f)}


def check_neuron(config: TrainConfig, given=()) -> None:
    """ConfigError when ``config.neuron`` cannot be built into the model (the recurrent model takes
    only the neurons with a recurrent form), before any data work rather than in build_model.
    Names --model only when it was given (``given``: field names)."""
    from neurosim.models.stack import RECURRENT_NEURONS

    model = resolve_model(config)
    if model == "recurrent" and config.neuron not in RECURRENT_NEURONS:
        how = ("" if "model" in given else
               f" (the default model for {parse_dataset(config.dataset)[0]}; --model mlp takes any neuron)")
        raise ConfigError(("neuron", "model") if "model" in given else ("neuron",),
                          f"the recurrent model{how} takes the neurons {sorted(RECURRENT_NEURONS)}, "
                          f"not {config.neuron!r}")


def check_applicable(config: TrainConfig, given=None) -> None:
    """ConfigError for an option that was asked for (``given``: field names; default: those that
    differ from TrainConfig's defaults) but that this run would not use, rather than ignoring it
    and recording it in results.json as if it had been used."""
    given = given_fields(config) if given is None else set(given)
    name, _ = parse_dataset(config.dataset)
    model = resolve_model(config)
    check_neuron(config, given)
    if "channels" in given and config.channels is not None and model != "conv":
        raise ConfigError(("channels",), f"sets the blocks of the conv model; the {model} model has none "
                                         "(its size is --hidden)")
    if "hidden" in given and model == "conv":
        raise ConfigError(("hidden",), "the conv model has no hidden layer of that size (its sizes are --channels)")
    if "encoding" in given and name != "digits":
        raise ConfigError(("encoding",), f"spike-encodes static data (digits); {config.dataset!r} is event "
                                         "data, framed into T time bins without an encoder")
    if "beta" in given and not uses_beta(config.neuron):
        raise ConfigError(("beta",), f"the {config.neuron} neuron has no beta (its parameters are tau, eps and "
                                     "theta)")
    if "diagnose_every" in given and config.diagnose is None:
        raise ConfigError(("diagnose_every",), "sets how often --diagnose measures, and no --diagnose was given")
    if name == "digits":
        for field in ("cache", "cache_dir"):
            if field in given:
                raise ConfigError((field,), "the frame cache holds event-data frames; digits are not event "
                                            "data and are never cached")
    if "cache_dir" in given and config.cache_dir is not None and not config.cache:
        raise ConfigError(("cache_dir",), "the frame cache is turned off (--no-cache)")
    if "dist_timeout" in given and int(os.environ.get("WORLD_SIZE") or 1) <= 1:
        raise ConfigError(("dist_timeout",), "only a run of several processes (torchrun) waits for the others "
                                             "to join; this is one process (WORLD_SIZE is not above 1)")


OUT_FILES = ("results.json", "metrics.csv", "diagnostics.csv", "training_curves.png", "raster.png",
             "firing_rates.png", "membrane.png", "sharpness.png", "synthetic_nmnist")
"""What ``neurosim train`` writes into ``--out`` (besides TensorBoard's event files)."""


def check_checkpoint_path(config: TrainConfig) -> None:
    """ConfigError when ``config.checkpoint`` is a folder, is (or is inside a file of) the ``--out``
    folder the run makes, or is one of the files it writes there (:data:`OUT_FILES`, TensorBoard's
    ``events.out.tfevents.*``): found before training rather than after an epoch, or never, with the
    checkpoint silently overwritten."""
    if config.checkpoint is None:
        return
    path, out = os.path.realpath(config.checkpoint), os.path.realpath(config.out)
    if os.path.isdir(path) or path == out:
        what = "the --out directory" if path == out else "a directory"
        raise ConfigError(("checkpoint",), f"{config.checkpoint} is {what}; expected a file path")
    if os.path.dirname(path) == out and (os.path.basename(path) in OUT_FILES or
                                         os.path.basename(path).startswith("events.out.tfevents")):
        raise ConfigError(("checkpoint",), f"{config.checkpoint} is the run's {os.path.basename(path)} in --out "
                                           f"{config.out}, which the run writes; choose another file name")
    if path.startswith(os.path.join(out, "synthetic_nmnist") + os.sep):
        raise ConfigError(("checkpoint",), f"{config.checkpoint} is inside the synthetic data folder the run "
                                           f"writes into --out {config.out}")


def check_cache_dir(config: TrainConfig) -> None:
    """ConfigError when the cache folder of a cached event-data run (the given ``cache_dir``, or
    the default one: $NEUROSIM_CACHE or ~/.cache/neurosim/frames) is an existing file or a folder
    that cannot be written: the cache would fall back to no cache with a warning while
    results.json recorded it as used."""
    if not config.cache or parse_dataset(config.dataset)[0] == "digits":
        return
    if config.cache_dir is None:
        from neurosim.data import default_cache_dir

        path = default_cache_dir()
        shown = f"the default frame cache {path} ($NEUROSIM_CACHE; or give --cache-dir or --no-cache)"
    else:
        shown = str(config.cache_dir)
        path = os.path.expanduser(str(config.cache_dir))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(("cache_dir",), f"{shown} exists and is not a directory")
    if os.path.isdir(path) and not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(("cache_dir",), f"cannot write to {shown} (permission denied)")


def available_memory(device: str) -> int:
    """Bytes this process could still allocate on ``device``: free memory on a GPU, MemAvailable
    (/proc/meminfo) or physical memory on the CPU."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.mem_get_info(torch.device(device))[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 2**63


def sample_count(config: TrainConfig) -> Optional[int]:
    """At least as many samples as the data set's training split holds, counted cheaply before
    any data is read (digits: known; an N-MNIST or DVS Gesture folder: its event files; an SHD
    file: the length of its labels); None when it cannot be counted that way."""
    name, path = parse_dataset(config.dataset)
    if name == "digits":
        return DIGITS_TRAIN_SAMPLES
    if name == "synthetic":
        return 10 * SYNTHETIC_PER_CLASS["Train"]
    if name in ("nmnist", "dvsgesture"):
        if not os.path.isdir(path):
            return None
        suffix = ".bin" if name == "nmnist" else ".npy"
        return sum(n.endswith(suffix) for _, _, names in os.walk(path) for n in names)
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return int(f["labels"].shape[0])
    except Exception:  # unreadable here: prepare_data reports it; the estimate assumes nothing
        return None


def memory_estimate(config: TrainConfig) -> Tuple[int, int]:
    """Lower bounds on the bytes training needs, ``(per batch, parameters)``: per batch the input
    ``[T, B, features]`` and each layer's outputs, kept for the backward pass and matched by their
    gradients; the parameters with their gradients and Adam's two moments (float32 throughout).
    ``B`` is the batch size, or fewer when the data set (:func:`sample_count`) or ``limit`` has
    fewer samples; 1 when the data set's size is not known before it is read (a batch the data
    cannot fill is not refused: the allocation itself then reports what does not fit)."""
    name, _ = parse_dataset(config.dataset)
    model = resolve_model(config)
    shape = input_shape(config)
    features = math.prod(shape)
    classes = {"dvsgesture": 11, "shd": 20}.get(name, 10)
    if model == "conv":
        c, h, w = shape
        activations, parameters = 0, 0
        for out in conv_channels(config):
            activations += out * h * w
            parameters += c * out * 25 + 2 * out
            c, h, w = out, h // 2, w // 2
        parameters += c * h * w * classes
    else:
        activations = config.hidden + classes
        parameters = features * config.hidden + config.hidden * classes
        if model == "recurrent":
            parameters += config.hidden * config.hidden
    samples = sample_count(config)
    batch = min(config.batch_size, samples if samples is not None else 1)
    if config.limit is not None:
        batch = min(batch, config.limit)
    return 4 * config.T * batch * (features + 2 * activations), 4 * 4 * parameters


def check_memory(config: TrainConfig, device: str) -> None:
    """ConfigError naming the sizes when :func:`memory_estimate` exceeds what ``device`` has free:
    before any data is read, instead of an allocator's traceback mid-way."""
    per_batch, parameters = memory_estimate(config)
    have = available_memory(device)
    if per_batch + parameters <= have:
        return
    model = resolve_model(config)
    layer = "channels" if model == "conv" else "hidden"
    size = (f"channels {','.join(map(str, conv_channels(config)))}" if model == "conv" else
            f"{config.hidden} hidden neurons")
    if parameters > have:
        raise ConfigError((layer,), f"the {model} network with {size} does not fit in memory: its parameters "
                                    f"need at least {parameters / 2**30:,.1f} GiB with gradients and Adam's "
                                    f"moments, and {device} has {have / 2**30:,.1f} GiB free")
    raise ConfigError(("T", "batch_size", layer),
                      f"the {model} network with T={config.T}, batch size {config.batch_size} and {size} does "
                      f"not fit in memory: one batch needs at least {per_batch / 2**30:,.1f} GiB, and {device} "
                      f"has {(have - parameters) / 2**30:,.1f} GiB free beside the parameters (lower --T, "
                      "--batch-size or the layer sizes)")


def checkpoint_run(payload: Dict, path: str) -> Dict:
    """The run definition a checkpoint of ``neurosim train`` records (``metadata["run"]``), checked to
    be one a run can use; CheckpointError naming the file when it is missing or malformed."""
    from neurosim.training.checkpoint import CheckpointError

    metadata = payload.get("metadata")
    run = metadata.get("run") if isinstance(metadata, dict) else None
    if run is None:
        raise CheckpointError(f"checkpoint {path} records no run configuration (it was not written by "
                              "neurosim train), so it cannot be checked against this run's options")
    if not isinstance(run, dict) or set(run) != set(RUN_FIELDS) or not isinstance(run["dataset"], str):
        raise CheckpointError(f"checkpoint {path} has a malformed run configuration: expected the entries "
                              f"{list(RUN_FIELDS)}")
    world_size = metadata.get("world_size")
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise CheckpointError(f"checkpoint {path} has a malformed run configuration: 'world_size' must be an "
                              f"integer >= 1, got {world_size!r}")
    if isinstance(run.get("neuron"), str) and not uses_beta(run["neuron"]):
        run = {**run, "beta": None}  # older checkpoints recorded a beta the neuron did not have
    values = {k: v for k, v in run.items() if v is not None}
    if "channels" in values:
        values["channels"] = tuple(values["channels"]) if isinstance(values["channels"], list) else None
    try:
        config = TrainConfig(**values)
        config.validate()
        if run_definition(config) != run:
            raise ValueError("its entries are not those of a run")
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has a malformed run configuration: {e}") from None
    return run


def checkpoint_epochs(payload: Dict) -> Optional[int]:
    """The epoch count the run that wrote the checkpoint ``payload`` was to train: its recorded
    ``metadata["epochs"]``, or (older checkpoints) its cosine schedule's horizon ``T_max``; None
    when neither is there."""
    metadata = payload.get("metadata")
    scheduler = payload.get("scheduler")
    for value in ((metadata or {}).get("epochs") if isinstance(metadata, dict) else None,
                  scheduler.get("T_max") if isinstance(scheduler, dict) else None):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
    return None


def check_resume(config: TrainConfig, payload: Dict) -> None:
    """ConfigError naming every field of :data:`RUN_FIELDS` where ``config`` differs from the run
    that wrote the checkpoint ``payload`` (``config.resume``): a resumed run trains the same network
    on the same data and split, with the same optimizer settings."""
    recorded = checkpoint_run(payload, config.resume)
    ours = run_definition(config)
    differ = [f for f in RUN_FIELDS if ours[f] != recorded[f]]
    if differ:
        def show(d):
            return ", ".join(f"{f}={d[f]!r}" for f in differ)
        moved = ""
        if "dataset" in differ and ours["dataset"].partition(":")[0] == recorded["dataset"].partition(":")[0]:
            # the checkpoint records the data's real path: moved data is found at that path again
            moved = (f"; if the data moved, put it back at {recorded['dataset'].partition(':')[2]} (the real "
                     "path is compared, so a symbolic link does not do) and resume without --dataset")
        raise ConfigError(differ, f"the checkpoint {config.resume} was written by a run with {show(recorded)}; "
                                  f"a resumed run must keep them (got {show(ours)}); leave them out on the "
                                  "command line to continue with the checkpoint's values" + moved)


def _frames(config: TrainConfig, events, flatten: bool, workdir: str, **options):
    """EventFrames over ``events``, behind the on-disk frame cache when ``config.cache``."""
    from neurosim import data

    frames = data.EventFrames(events, n_time_bins=config.T, flatten=flatten, **options)
    if not config.cache:
        return frames
    return data.CachedFrames(frames, config.cache_dir)


def prepare_data(config: TrainConfig, workdir: str) -> PreparedData:
    """The train and test sets, input size, classes, encoder and collate for ``config.dataset``."""
    from neurosim import data
    from neurosim.training.encoders import make_encoder

    name, path = parse_dataset(config.dataset)
    model = resolve_model(config)
    if name == "digits":
        train, test = data.digits_datasets(seed=config.seed)
        return PreparedData(_limit(train, config.limit, config.seed), _limit(test, config.limit, config.seed + 1),
                            64, 10, make_encoder(config.encoding, config.T), None,
                            f"scikit-learn digits, {config.encoding}-encoded, T={config.T}", (64,))
    if name == "synthetic":
        # reused only when its marker shows a complete folder made with these parameters
        path = data.synthetic_nmnist_folder(os.path.join(workdir, "synthetic_nmnist"), SYNTHETIC_PER_CLASS,
                                            seed=config.seed)
        name = "nmnist"
    flatten = model != "conv"
    if name == "nmnist":
        split_dirs = os.path.isdir(os.path.join(path, "Train")) and os.path.isdir(os.path.join(path, "Test"))
        if split_dirs:
            train_events, test_events = data.NMNISTFolder(path, train=True), data.NMNISTFolder(path, train=False)
            classes = max(train_events.classes + test_events.classes) + 1
        else:
            events = data.NMNISTFolder(path)
            classes = max(events.classes) + 1
            train_events, test_events = _split(events, 0.2, config.seed, config.dataset)
        # the conv model sees the full 34x34 sensor; the MLP keeps its 17x17 input
        factor = None if model == "conv" else 0.5
        frames = dict(sensor_size=data.NMNIST_SENSOR_SIZE, spatial_factor=factor, num_classes=classes)
        size = "34x34x2 frames" if factor is None else "17x17x2 frames (tonic Downsample 0.5)"
        description = f"N-MNIST layout files in {path}, {size}, T={config.T}"
    elif name == "dvsgesture":
        train_events = data.DVSGestureFolder(path, train=True)
        test_events = data.DVSGestureFolder(path, train=False)
        classes = 11
        frames = dict(sensor_size=data.DVSGESTURE_SENSOR_SIZE, spatial_factor=0.25, num_classes=classes)
        description = f"DVS Gesture (tonic layout) in {path}, 32x32x2 frames (tonic Downsample 0.25), T={config.T}"
    else:  # shd
        shd = data.SHDFile(path)
        test_path = shd_test_path(path)
        if test_path and os.path.isfile(test_path):
            train_events, test_events = shd, data.SHDFile(test_path)
            classes = max(shd.classes + test_events.classes) + 1
            tested = f"tested on {test_path}"
        else:
            classes = max(shd.classes) + 1
            train_events, test_events = _split(shd, 0.2, config.seed, config.dataset)
            tested = "tested on a 20 % split of it"
        frames = dict(sensor_size=data.SHD_SENSOR_SIZE, spatial_factor=0.1, num_classes=classes)
        description = f"SHD layout file {path} ({tested}), 70 channels (tonic Downsample 0.1), T={config.T}"
    train = _frames(config, train_events, flatten, workdir, **frames)
    test = _frames(config, test_events, flatten, workdir, **frames)
    frame_shape = tuple(train.frame_shape)
    return PreparedData(_limit(train, config.limit, config.seed), _limit(test, config.limit, config.seed + 1),
                        math.prod(frame_shape), classes, None, data.time_major_collate, description, frame_shape)


def build_model(config: TrainConfig, prepared: PreparedData):
    """The network for ``config`` (model, neuron, sizes) and a short description of its layers."""
    from neurosim.models import NEURONS, RecurrentSNN, SpikingConvNet, SpikingMLP

    model = resolve_model(config)
    spec = NEURONS.get(config.neuron)
    options = {"beta": config.beta} if spec is not None and "beta" in spec.params else {}
    if model == "conv":
        channels = conv_channels(config)
        net = SpikingConvNet(prepared.frame_shape, prepared.num_classes, channels=channels, neuron=config.neuron,
                             neuron_options=options)
        return net, [prepared.in_features, *channels, prepared.num_classes]
    if model == "recurrent":
        net = RecurrentSNN(prepared.in_features, prepared.num_classes, hidden=(config.hidden,),
                           neuron=config.neuron, neuron_options=options)
        return net, [prepared.in_features, config.hidden, prepared.num_classes]
    net = SpikingMLP([prepared.in_features, config.hidden, prepared.num_classes], neuron=config.neuron,
                     neuron_options=options)
    return net, [prepared.in_features, config.hidden, prepared.num_classes]


@torch.no_grad()
def _record_sample(model, x: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Spikes (and LIF membranes) of every neuron layer for one input ``x[T, 1, F]``."""
    from neurosim.models.stack import neuron_output
    from neurosim.training.monitors import spiking_layers

    layers = spiking_layers(model)
    recorded: Dict[str, torch.Tensor] = {}
    handles = []
    for name, layer in layers.items():
        def hook(_m, _inp, out, name=name):
            recorded[name] = neuron_output(out)[0].detach().cpu()
            if getattr(out, "membrane", None) is not None:
                recorded[name + ".membrane"] = out.membrane.detach().cpu()
            elif hasattr(out, "output"):  # LI: the output is the membrane
                recorded[name + ".membrane"] = recorded[name]
        handles.append(layer.register_forward_hook(hook))
        if hasattr(layer, "record_membrane"):
            layer.record_membrane = True
    try:
        model.eval()
        model(x)
    finally:
        for h in handles:
            h.remove()
        for layer in layers.values():
            if hasattr(layer, "record_membrane"):
                layer.record_membrane = False
    return recorded


def write_plots(out_dir: str, history, model, sample: torch.Tensor, threshold: float) -> Dict[str, str]:
    """training_curves.png, raster.png (input and every layer for one test sample),
    firing_rates.png and membrane.png (when the neuron records its membrane)."""
    from matplotlib.figure import Figure

    from neurosim import viz

    paths = {}
    fig = viz.training_curves(history)
    paths["curves"] = os.path.join(out_dir, "training_curves.png")
    fig.savefig(paths["curves"], dpi=110)
    recorded = _record_sample(model, sample)
    layers = [k for k in recorded if not k.endswith(".membrane")]
    fig = Figure(figsize=(7, 2.2 * (len(layers) + 1)), layout="constrained")
    axes = fig.subplots(len(layers) + 1, 1, sharex=True)
    viz.spike_raster(sample.cpu() > 0, ax=axes[0], title="input", color="tab:gray")
    for i, (ax, name) in enumerate(zip(axes[1:], layers)):
        role = "output layer" if i == len(layers) - 1 else f"hidden layer {i + 1}"
        viz.spike_raster(recorded[name], ax=ax, title=f"{role} ({name})")
    paths["raster"] = os.path.join(out_dir, "raster.png")
    fig.savefig(paths["raster"], dpi=110)
    hidden = recorded[layers[0]]
    fig = viz.firing_rate_histogram(hidden, title=f"firing rates, layer {layers[0]} (one sample)")
    paths["rates"] = os.path.join(out_dir, "firing_rates.png")
    fig.savefig(paths["rates"], dpi=110)
    last_membrane = layers[-1] + ".membrane"
    if last_membrane in recorded:
        n_out = recorded[last_membrane].shape[-1]
        fig = viz.membrane_traces(recorded[last_membrane], neurons=range(min(n_out, 5)), threshold=threshold,
                                  title="output-layer membranes (one sample)")
        paths["membrane"] = os.path.join(out_dir, "membrane.png")
        fig.savefig(paths["membrane"], dpi=110)
    return paths


def extend_cosine_schedule(scheduler, epoch: int, total_epochs: int) -> None:
    """Makes a restored ``CosineAnnealingLR`` continue as if it had been built for ``total_epochs``.

    A checkpoint restores the schedule of the run that wrote it, whose horizon (``T_max``) is that
    run's epoch count: extending a finished 1-epoch run to 2 epochs would train epoch 2 at the
    schedule's end, learning rate 0. The learning rates become those an uninterrupted run of
    ``total_epochs`` has after ``epoch`` epochs (stepped the same way, so they match to the bit)."""
    if scheduler.T_max == total_epochs:
        return
    optimizer = scheduler.optimizer
    base = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    shadow = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in base])
    fresh = torch.optim.lr_scheduler.CosineAnnealingLR(shadow, T_max=total_epochs, eta_min=scheduler.eta_min)
    for _ in range(epoch):
        shadow.step()
        fresh.step()
    for group, shadow_group in zip(optimizer.param_groups, shadow.param_groups):
        group["lr"] = shadow_group["lr"]
    scheduler.T_max = total_epochs
    scheduler.last_epoch = fresh.last_epoch
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


@contextlib.contextmanager
def _sizes_that_do_not_fit(config: TrainConfig, device: str):
    """Turns an allocation failure (beyond :func:`check_memory`'s lower bound) into a ConfigError
    naming the sizes, one line rather than an allocator's traceback."""
    try:
        yield
    except (RuntimeError, MemoryError) as e:
        text = " ".join(str(e).split())
        if not isinstance(e, MemoryError) and "alloc" not in text and "out of memory" not in text:
            raise
        model = resolve_model(config)
        fields = ["T", "batch_size"] + (["channels"] if model == "conv" else ["hidden"])
        raise ConfigError(fields, f"the {model} network with T={config.T} and batch size {config.batch_size} does "
                                  f"not fit in the memory of {device} ({text[:200]})") from None


def recorded_config(config: TrainConfig, world_size: int = 1) -> Dict:
    """``config`` as results.json records it: the values this run used, with defaults resolved
    (model, conv channels) and None for what it did not use (see :func:`run_definition`; the
    diagnostics interval without ``--diagnose``; the frame cache of digits, which are never
    cached, and its folder with the cache off; the rendezvous timeout of a single process)."""
    recorded = asdict(config)
    recorded.update({k: v for k, v in run_definition(config).items() if k != "dataset"})
    if config.diagnose is None:
        recorded["diagnose_every"] = None
    if parse_dataset(config.dataset)[0] == "digits":
        recorded["cache"] = None
    if not recorded["cache"]:
        recorded["cache_dir"] = None
    if world_size <= 1:
        recorded["dist_timeout"] = None
    return recorded


def run(config: TrainConfig, log=print) -> Dict:
    """Trains and evaluates as ``config`` says; rank 0 writes ``results.json``, ``metrics.csv``
    and the plots to ``config.out``. Returns the results dictionary."""
    import neurosim
    from neurosim.models import parameter_count
    from neurosim.provenance import run_settings
    from neurosim.training.checkpoint import load_checkpoint
    from neurosim.training.distributed import init_distributed, shutdown
    from neurosim.training.seeding import seed_everything
    from neurosim.training.trainer import Trainer, check_training_state

    resumed = None
    if config.resume is not None:  # everything about the checkpoint is checked before any data work
        payload = load_checkpoint(config.resume)
        done = check_training_state(payload, config.resume)[0]
        check_resume(config, payload)  # before validate(): a differing option explains what it would refuse
    config.validate()
    check_applicable(config)
    check_checkpoint_path(config)
    check_cache_dir(config)
    started = time.perf_counter()
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available to this torch")
    if config.resume is not None:
        if done > config.epochs:
            raise ValueError(f"epochs: the checkpoint {config.resume} has done {done} epochs; ask for at "
                             f"least that many (got {config.epochs})")
        resumed = {"checkpoint": config.resume, "epoch": done,
                   "world_size": payload["metadata"].get("world_size")}
    dist = init_distributed(device, timeout=config.dist_timeout,
                            log=lambda m: print(m, file=sys.stderr, flush=True))
    if dist.enabled and device.startswith("cuda"):
        device = f"cuda:{dist.local_rank}"
    if resumed is not None and resumed["world_size"] != dist.world_size:
        # --batch-size is per process and the processes shard the data: another count is another run
        raise ConfigError(("resume",), f"the checkpoint {config.resume} was written by a run of "
                                       f"{resumed['world_size']} process(es); this run has {dist.world_size}")
    check_memory(config, device)
    if dist.is_main:
        os.makedirs(config.out, exist_ok=True)
    seed_everything(config.seed)
    with _sizes_that_do_not_fit(config, device):
        prepared = prepare_data(config, config.out)
    for split, part in (("train", prepared.train), ("test", prepared.test)):
        if len(part) == 0:
            raise ValueError(f"data set {config.dataset!r} has no {split} samples")
    model_name = resolve_model(config)
    try:
        model, layer_sizes = build_model(config, prepared)
    except (RuntimeError, MemoryError) as e:
        if not isinstance(e, MemoryError) and "alloc" not in str(e) and "out of memory" not in str(e):
            raise
        # sizes too large for this machine: one line naming them rather than an allocator traceback
        first = " ".join(str(e).split())[:200]
        sizes = (f"channels: a conv network with channels {','.join(map(str, config.channels))}"
                 if model_name == "conv" and config.channels else
                 f"hidden: a {model_name} network of {config.hidden} hidden neurons")
        raise ValueError(f"{sizes} does not fit in memory ({first})") from None
    if config.diagnose not in (None, "sharpness"):
        raise ValueError(f"unknown diagnostic {config.diagnose!r}; expected 'sharpness'")
    monitor = None
    if config.diagnose == "sharpness":
        from neurosim.diagnostics import SharpnessMonitor

        monitor = SharpnessMonitor(every=config.diagnose_every, log_dir=config.out if dist.is_main else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
    trainer = Trainer(model, optimizer, loss=getattr(model, "default_loss", "ce_count"), scheduler=scheduler, encoder=prepared.encoder,
                      device=device, tbptt_steps=config.tbptt, clip_grad_norm=config.clip,
                      batch_size=config.batch_size, collate_fn=prepared.collate_fn, seed=config.seed,
                      log_dir=config.out, progress=config.progress, callbacks=[monitor] if monitor else [],
                      checkpoint_metadata={"run": run_definition(config), "world_size": dist.world_size,
                                           "epochs": config.epochs})
    if dist.is_main:
        log(f"neurosim train: {prepared.description}; {len(prepared.train)} train / {len(prepared.test)} test "
            f"samples; {model_name} {config.neuron} network {'-'.join(map(str, layer_sizes))} "
            f"({parameter_count(model):,} parameters); "
            f"{config.epochs} epochs on {device}" + (f" x {dist.world_size} processes" if dist.enabled else ""))
    if config.resume is not None:
        trainer.load_checkpoint(config.resume)
        extend_cosine_schedule(scheduler, trainer.epoch, max(config.epochs, 1))
        if monitor is not None:
            monitor.resume(trainer.global_step)  # diagnostics.csv continues, as metrics.csv does
    with _sizes_that_do_not_fit(config, device):
        history = trainer.fit(prepared.train, prepared.test, epochs=config.epochs, checkpoint=config.checkpoint)
        # the same fixed test encoding as each epoch's val_* line (Trainer.evaluate draws it from its seed)
        test = trainer.evaluate(prepared.test)
    wall = time.perf_counter() - started
    results = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "epochs": trainer.epoch,
        "final_train_loss": history[-1]["train_loss"] if history else None,
        "final_train_accuracy": history[-1]["train_accuracy"] if history else None,
        "wall_time_s": wall,
        "dataset": config.dataset,
        "data": prepared.description,
        "train_samples": len(prepared.train),
        "test_samples": len(prepared.test),
        "neuron": config.neuron,
        "layers": layer_sizes,
        "model": model_name,
        "parameters": parameter_count(model),
        "world_size": dist.world_size,
        "device": device,
        "torch": torch.__version__,
        "neurosim": neurosim.__version__,
        "settings": run_settings(config.seed),
        "config": recorded_config(config, dist.world_size),
        "resumed_from": resumed,
        "history": history,
    }
    if monitor is not None and monitor.records:
        last = monitor.records[-1]
        results["diagnostics"] = {
            "measure": "sharpness", "every": config.diagnose_every, "measurements": len(monitor.records),
            "seconds": monitor.seconds, "fraction_of_wall_time": monitor.seconds / wall,
            "hvp_method": last["hvp_method"], "last_sharpness": last["sharpness"],
            "last_two_over_lr": last["two_over_lr"], "csv": os.path.join(config.out, "diagnostics.csv"),
            "note": "Adam: 2/lr is plain gradient descent's threshold; Adam's applies to preconditioned sharpness",
        }
    if dist.is_main:
        if monitor is not None and monitor.records and config.plots:
            try:
                results["plots_sharpness"] = os.path.join(config.out, "sharpness.png")
                monitor.plot(results["plots_sharpness"])
            except ImportError as e:
                log(f"sharpness plot skipped: {e}")
        if config.plots:
            try:
                x, _ = next(iter(torch.utils.data.DataLoader(prepared.test, batch_size=1,
                                                             collate_fn=prepared.collate_fn)))
                sample = trainer.prepare_inputs(x)
                results["plots"] = write_plots(config.out, history, trainer.module, sample, threshold=1.0)
            except ImportError as e:  # matplotlib is optional
                log(f"plots skipped: {e}")
        with open(os.path.join(config.out, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
        log(f"test accuracy {100 * results['test_accuracy']:.2f} % on {results['test_samples']} samples "
            f"after {results['epochs']} epochs; wall time {wall:.1f} s; wrote {config.out}/results.json")
    trainer.close()
    shutdown()
    return results
