"""Synthetic neuromorphic data sets written in the real file formats, with class structure a
small network can learn: for tests, examples and CI, where the real data sets cannot be
downloaded."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from typing import Dict, Optional

import numpy as np

from neurosim.data import formats
from neurosim.data.formats import NMNIST_DTYPE, SHD_DTYPE, write_nmnist, write_shd

SYNTHETIC_MARKER = "neurosim_synthetic.json"
"""The file :func:`synthetic_nmnist_folder` writes last into a generated folder: the generator's
parameters and the number of files."""

_SACCADE_US = 105_000  # N-MNIST: three saccades of about 105 ms each


def synthetic_nmnist_events(label: int, rng: np.random.Generator, *, n_classes: int = 10,
                            events_per_pixel: float = 0.7, noise_events: int = 150, max_shift: int = 1) -> np.ndarray:
    """One N-MNIST-like recording: each class owns three fixed blobs of pixels (placed by a
    generator seeded with the label) that fire in each of the three saccades, shifted by up to
    ``max_shift`` pixels per sample (events shifted off the sensor are dropped), on a background
    of uniform noise events. A large ``max_shift`` makes the class a matter of shape, not place."""
    proto = np.random.default_rng(10_007 + label)
    centres = proto.integers(7, 27, size=(3, 2))
    yy, xx = np.mgrid[0:34, 0:34]
    blob = np.zeros((34, 34), dtype=bool)
    for cx, cy in centres:
        blob |= (xx - cx) ** 2 + (yy - cy) ** 2 <= 9
    py, px = np.nonzero(blob)
    dx, dy = rng.integers(-max_shift, max_shift + 1, size=2)
    xs, ys, ts, ps = [], [], [], []
    for saccade in range(3):
        counts = rng.poisson(events_per_pixel, size=len(px))
        inside = (px + dx >= 0) & (px + dx < 34) & (py + dy >= 0) & (py + dy < 34)
        x = np.repeat((px + dx)[inside], counts[inside])
        y = np.repeat((py + dy)[inside], counts[inside])
        xs.append(x)
        ys.append(y)
        ts.append(saccade * _SACCADE_US + rng.integers(0, _SACCADE_US, size=len(x)))
        ps.append(np.full(len(x), saccade % 2))
    xs.append(rng.integers(0, 34, noise_events))
    ys.append(rng.integers(0, 34, noise_events))
    ts.append(rng.integers(0, 3 * _SACCADE_US, noise_events))
    ps.append(rng.integers(0, 2, noise_events))
    x, y, t, p = (np.concatenate(a) for a in (xs, ys, ts, ps))
    order = np.argsort(t, kind="stable")
    events = np.empty(len(t), dtype=NMNIST_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x[order], y[order], t[order], p[order]
    return events


def make_synthetic_nmnist(root, splits: Optional[Dict[str, int]] = None, n_classes: int = 10,
                          seed: int = 0, **event_options) -> str:
    """Writes N-MNIST-layout ``.bin`` files ``root/<split>/<label>/<index>.bin``.

    ``splits`` maps a folder name to samples per class (default ``{"Train": 20, "Test": 10}``);
    ``event_options`` (``events_per_pixel``, ``noise_events``) set the difficulty, see
    :func:`synthetic_nmnist_events`.
    Returns ``root``; read it with :class:`neurosim.data.NMNISTFolder` or tonic's reader.
    """
    splits = {"Train": 20, "Test": 10} if splits is None else splits
    rng = np.random.default_rng(seed)
    for split, per_class in splits.items():
        for label in range(n_classes):
            folder = os.path.join(os.fspath(root), split, str(label))
            os.makedirs(folder, exist_ok=True)
            for i in range(per_class):
                events = synthetic_nmnist_events(label, rng, n_classes=n_classes, **event_options)
                write_nmnist(os.path.join(folder, f"{i:05d}.bin"), events)
    return os.fspath(root)


def _generator_parameters(splits, n_classes, seed, event_options) -> dict:
    try:
        code = "".join(inspect.getsource(f) for f in (synthetic_nmnist_events, make_synthetic_nmnist,
                                                      formats.encode_nmnist_bytes))
    except (OSError, TypeError):  # no source files (a frozen install): the version stands in for the code
        import neurosim

        code = neurosim.__version__
    parameters = {"generator": "make_synthetic_nmnist", "splits": splits, "n_classes": n_classes, "seed": seed,
                  "event_options": event_options, "code": hashlib.sha256(code.encode()).hexdigest()}
    return json.loads(json.dumps(parameters, sort_keys=True, default=repr))


def _count_files(root: str) -> int:
    return sum(name.endswith(".bin") for _, _, names in os.walk(root) for name in names)


def _holds(path: str, parameters: dict) -> bool:
    """Whether ``path`` is a complete folder generated with ``parameters`` (its marker says so and
    it still holds the files the marker counts)."""
    try:
        with open(os.path.join(path, SYNTHETIC_MARKER)) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return False
    return (isinstance(marker, dict) and marker.get("parameters") == parameters
            and marker.get("files") == _count_files(path))


def synthetic_nmnist_folder(path, splits: Optional[Dict[str, int]] = None, n_classes: int = 10, seed: int = 0,
                            **event_options) -> str:
    """``path`` holding :func:`make_synthetic_nmnist`'s data for these arguments, generated only
    when it does not hold them already. The data are generated into a temporary folder beside
    ``path``, a marker (:data:`SYNTHETIC_MARKER`: the parameters, a hash of the generator's code,
    the file count) is written last, and the folder is renamed into place; so a folder without a
    matching marker (an interrupted generation, another seed or size) is never used: it is
    replaced. Returns ``path``."""
    path = os.fspath(path)
    splits = {"Train": 20, "Test": 10} if splits is None else dict(splits)
    parameters = _generator_parameters(splits, n_classes, seed, event_options)
    if _holds(path, parameters):
        return path
    if os.path.lexists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"synthetic data folder {path} exists and is not a folder")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(os.path.normpath(path))
    fresh = tempfile.mkdtemp(dir=parent, prefix=f".{name}-new-")
    try:
        make_synthetic_nmnist(fresh, splits, n_classes=n_classes, seed=seed, **event_options)
        with open(os.path.join(fresh, SYNTHETIC_MARKER), "w") as f:
            json.dump({"parameters": parameters, "files": _count_files(fresh)}, f, indent=1, sort_keys=True)
        if os.path.lexists(path):  # stale or incomplete: moved aside, then removed
            stale = tempfile.mkdtemp(dir=parent, prefix=f".{name}-old-")
            os.rename(path, os.path.join(stale, name))
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(fresh, path)
        except OSError:
            if not _holds(path, parameters):  # not another process's identical copy: a real failure
                raise
    finally:
        if os.path.isdir(fresh):
            shutil.rmtree(fresh, ignore_errors=True)
    return path


def synthetic_shd_events(label: int, rng: np.random.Generator, *, n_channels: int = 700,
                         duration_us: int = 800_000, n_spikes: int = 600, noise_spikes: int = 150) -> np.ndarray:
    """One SHD-like sample: spikes along a class-specific sweep of channels over time (like a
    formant), jittered per sample, plus uniform noise spikes."""
    proto = np.random.default_rng(20_011 + label)
    start, end = proto.uniform(0.1, 0.9, size=2) * n_channels
    t = np.sort(rng.uniform(0, duration_us, n_spikes))
    centre = start + (end - start) * t / duration_us + rng.normal(0, 10)
    x = np.clip(np.round(centre + rng.normal(0, 12, n_spikes)), 0, n_channels - 1)
    tn = rng.uniform(0, duration_us, noise_spikes)
    xn = rng.integers(0, n_channels, noise_spikes)
    t, x = np.concatenate([t, tn]), np.concatenate([x, xn])
    order = np.argsort(t, kind="stable")
    events = np.empty(len(t), dtype=SHD_DTYPE)
    events["t"], events["x"], events["p"] = np.round(t[order]).astype(np.int64), x[order].astype(np.int64), 1
    return events


def make_synthetic_shd(path, n_samples: int = 200, n_classes: int = 20, seed: int = 0,
                       tonic_placeholder: bool = False) -> str:
    """Writes an SHD-layout ``.h5`` file of ``n_samples`` samples over ``n_classes`` classes.

    With ``tonic_placeholder`` an empty ``<name>.zip`` is written beside it, which is all that
    ``tonic.datasets.SHD`` checks before it uses a local file instead of downloading.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % n_classes
    rng.shuffle(labels)
    events = [synthetic_shd_events(int(c), rng) for c in labels]
    keys = [f"class-{c}" for c in range(n_classes)]
    write_shd(path, events, labels, keys=keys, speakers=rng.integers(0, 12, n_samples))
    if tonic_placeholder:
        open(os.fspath(path) + ".zip", "wb").close()
    return os.fspath(path)


def temporal_order_task(n_samples: int, seed: int = 0, *, steps: int = 100, channels: int = 32, group: int = 8,
                        gap: int = 30, burst: int = 10, delay: int = 20, rate: float = 0.5, noise: float = 0.02):
    """A two-class spike task whose class is the *order* of two bursts, not their counts.

    Channels ``0..group-1`` (A) and ``group..2*group-1`` (B) each fire one burst of ``burst``
    steps at ``rate``, the second burst ``gap`` steps after the first, at a random start; class 0
    is A then B, class 1 is B then A. Every channel has the same expected count in both classes
    (plus uniform noise at ``noise`` on all ``channels``), so a model that only sums spikes over
    time is at chance; telling the classes apart needs memory across the gap.

    At least ``delay`` steps of noise follow the second burst. Without them a feed-forward network
    whose readout averages over time could still tell the order from *when* the bursts occur: a
    burst near the end of the sequence is cut off before its response decays, so the later burst
    weighs less. With a delay of a few membrane time constants both responses are complete.

    Returns a ``TensorDataset`` of ``x[n_samples, steps, channels]`` (float 0/1, batch-first: use
    a collate that stacks on dim 1 for time-major models) and ``labels[n_samples]``.
    """
    import torch

    for name, value in (("n_samples", n_samples), ("steps", steps), ("channels", channels), ("group", group),
                        ("gap", gap), ("burst", burst)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    if 2 * group > channels:
        raise ValueError(f"group: two groups of {group} channels need channels >= {2 * group}, got {channels}")
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise ValueError(f"delay: expected a non-negative int, got {delay!r}")
    if gap < burst or steps <= gap + burst + delay:
        raise ValueError(f"need burst <= gap and steps > gap + burst + delay, got steps={steps}, gap={gap}, "
                         f"burst={burst}, delay={delay}")
    for name, value in (("rate", rate), ("noise", noise)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: expected a probability in [0, 1], got {value!r}")
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n_samples, steps, channels, generator=g) < noise).float()
    labels = torch.randint(0, 2, (n_samples,), generator=g)
    starts = torch.randint(0, steps - gap - burst - delay, (n_samples,), generator=g)
    a, b = slice(0, group), slice(group, 2 * group)
    for i in range(n_samples):
        first, second = (a, b) if labels[i] == 0 else (b, a)
        t0 = int(starts[i])
        x[i, t0:t0 + burst, first] = (torch.rand(burst, group, generator=g) < rate).float()
        x[i, t0 + gap:t0 + gap + burst, second] = (torch.rand(burst, group, generator=g) < rate).float()
    return torch.utils.data.TensorDataset(x, labels)
