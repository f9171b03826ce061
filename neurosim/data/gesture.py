"""DVS Gesture (Amir et al. 2017) from a local folder in tonic's layout, read through tonic's own
``DVSGesture`` class without downloading, and a synthetic generator that writes that layout.

tonic's layout (its preprocessed release, ``ibmGestureTrain.tar.gz`` / ``ibmGestureTest.tar.gz``
unpacked)::

    ROOT/DVSGesture/ibmGestureTrain/user01_fluorescent/0.npy ... 10.npy
    ROOT/DVSGesture/ibmGestureTest/user24_led/...

each ``<label>.npy`` an ``[N, 4]`` array of (x, y, p, t in ms) on the 128x128 sensor, 11 classes.
"""

from __future__ import annotations

import os
import re
import unittest.mock
from typing import Dict, Optional, Sequence

import numpy as np

DVSGESTURE_SENSOR_SIZE = (128, 128, 2)
DVSGESTURE_CLASSES = 11
_SPLITS = {True: "ibmGestureTrain", False: "ibmGestureTest"}
_USER_DIR = re.compile(r"^user\d+_\w+$")
_LAYOUT = ("ROOT/DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy (and ibmGestureTest), "
           "or the DVSGesture folder itself")


def _locate(root: str, train: bool) -> str:
    """tonic's ``save_to`` for ``root`` (which may be the data set's parent folder or the
    ``DVSGesture`` folder itself); ValueError naming the path when the layout is wrong."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"DVS Gesture folder not found: {root}")
    if os.path.isdir(os.path.join(root, "DVSGesture")):
        save_to = root
    elif os.path.basename(os.path.normpath(root)) == "DVSGesture":
        save_to = os.path.dirname(os.path.normpath(root))
    else:
        raise ValueError(f"DVS Gesture folder {root}: no DVSGesture/ folder inside; expected tonic's layout {_LAYOUT}")
    split = os.path.join(save_to, "DVSGesture", _SPLITS[train])
    if not os.path.isdir(split):
        raise ValueError(f"DVS Gesture folder {root}: {split} is missing; expected tonic's layout {_LAYOUT}")
    found = 0
    for user in sorted(os.listdir(split)):
        path = os.path.join(split, user)
        if not os.path.isdir(path):
            continue
        if not _USER_DIR.match(user):
            raise ValueError(f"DVS Gesture folder {path}: expected user folders named userNN_<lighting>, "
                             f"got {user!r}")
        for name in os.listdir(path):
            if not name.endswith(".npy"):
                continue
            stem = name[:-4]
            if not stem.isdigit() or not 0 <= int(stem) < DVSGESTURE_CLASSES:
                raise ValueError(f"DVS Gesture file {os.path.join(path, name)}: expected <label>.npy with a label "
                                 f"in 0..{DVSGESTURE_CLASSES - 1}")
            found += 1
    if not found:
        raise ValueError(f"DVS Gesture folder {split} holds no userNN_<lighting>/<label>.npy files")
    return save_to


_COLUMNS = ("x", "y", "p", "t")
_MAX_T_MS = 2**53 // 1000  # t * 1000 µs stays exact in float64 and far inside int64


def load_gesture_npy(path) -> np.ndarray:
    """The ``[N, 4]`` (x, y, p, t in ms) array of one DVS Gesture ``.npy`` file, checked: a file
    that is unreadable (truncated, not a ``.npy``), of another shape or dtype, with non-finite
    values, coordinates off the 128x128 sensor, polarities other than 0/1 or negative or absurd
    times raises ValueError naming the file."""
    path = os.fspath(path)
    what = f"DVS Gesture file {path}"
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{what} is not a readable .npy array (truncated or corrupt): {reason}") from e
    if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name
        raise ValueError(f"{what} is not a single .npy array; expected [N, 4] rows of (x, y, p, t in ms)")
    if array.dtype.kind not in "iuf" or array.dtype.names:
        raise ValueError(f"{what}: array of dtype {array.dtype}; expected a numeric [N, 4] array of "
                         "(x, y, p, t in ms)")
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{what}: array of shape {tuple(array.shape)}; expected [N, 4] rows of (x, y, p, t in ms)")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = [c for c, col in zip(_COLUMNS, array.T) if not np.isfinite(col).all()]
        raise ValueError(f"{what}: column(s) {', '.join(bad)} hold NaN or inf")
    if len(array):
        for column, high in (("x", DVSGESTURE_SENSOR_SIZE[0] - 1), ("y", DVSGESTURE_SENSOR_SIZE[1] - 1), ("p", 1),
                             ("t", _MAX_T_MS)):
            values = array[:, _COLUMNS.index(column)]
            low, top = values.min(), values.max()
            if low < 0 or top > high:
                raise ValueError(f"{what}: column {column} has values in [{low}, {top}], outside [0, {high}]"
                                 + (" (ms)" if column == "t" else ""))
            if column != "t" and array.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
                raise ValueError(f"{what}: column {column} must hold whole numbers")
    return array


_DATASET_CLASS = None


def _dataset_class():
    """tonic's ``DVSGesture`` with :func:`load_gesture_npy` as its reader (made on first use, so
    that importing neurosim.data does not import tonic)."""
    global _DATASET_CLASS
    if _DATASET_CLASS is None:
        import numpy.lib.recfunctions
        import tonic

        # tonic finds the files under save_to/<class name>: the subclass keeps the name
        class DVSGesture(tonic.datasets.DVSGesture):
            """tonic's ``DVSGesture`` reading each file through :func:`load_gesture_npy`, so that a
            damaged or wrong-layout file raises ValueError naming it; otherwise tonic's own
            ``__getitem__`` (ms to µs, its dtype, its transforms)."""

            def __getitem__(self, index):
                events = load_gesture_npy(self.data[index]).copy()
                events[:, 3] *= 1000  # ms to µs, as tonic does
                events = numpy.lib.recfunctions.unstructured_to_structured(events, self.dtype)
                target = self.targets[index]
                if self.transform is not None:
                    events = self.transform(events)
                if self.target_transform is not None:
                    target = self.target_transform(target)
                if self.transforms is not None:
                    events, target = self.transforms(events, target)
                return events, target

        DVSGesture.__module__, DVSGesture.__qualname__ = __name__, "DVSGesture"
        _DATASET_CLASS = DVSGesture
    return _DATASET_CLASS


def __getattr__(name):  # pickling by reference finds the class (e.g. DataLoader worker processes)
    if name == "DVSGesture":
        return _dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def DVSGestureFolder(root, train: bool = True, transform=None):
    """tonic's ``tonic.datasets.DVSGesture`` on the local folder ``root`` (see the module
    docstring for the layout), never downloading: the layout is checked here (ValueError naming
    the path) and tonic's own download check, which wants the archive and at least 100 files, is
    bypassed as tonic's tests do. Items are ``(events, label)`` with tonic's events (x, y, p, t in µs);
    each file is read through :func:`load_gesture_npy`, so a damaged or wrong-layout one raises
    ValueError naming it (tonic's own reader gives an IndexError, or allocates without bound for a
    NaN time)."""
    import tonic

    save_to = _locate(root, train)

    def refuse_download(self):
        raise RuntimeError(f"neurosim: DVS Gesture would be downloaded to {self.location_on_system}; "
                           "neurosim reads local folders only")

    with unittest.mock.patch.object(tonic.datasets.DVSGesture, "_check_exists", return_value=True), \
            unittest.mock.patch.object(tonic.datasets.DVSGesture, "download", refuse_download):
        dataset = _dataset_class()(save_to=save_to, train=train, transform=transform)
    dataset.classes = sorted(set(dataset.targets))
    dataset.labels = list(dataset.targets)
    return dataset


def synthetic_gesture_events(label: int, rng: np.random.Generator, *, duration_ms: int = 1500,
                             events: int = 2500, noise_events: int = 300) -> np.ndarray:
    """One DVS-Gesture-like recording as tonic's ``[N, 4]`` (x, y, p, t in ms) int64 array: a
    blob of about 8 pixels radius moving along a class-specific path (a circle clockwise or
    counter-clockwise, a horizontal or vertical wave, a diagonal, ... at a class-specific place
    and speed), ON events on its leading edge and OFF events on its trailing edge, plus noise.
    The class is in the motion, not in any single frame."""
    proto = np.random.default_rng(30_011 + label)
    kind = label % 4
    centre = proto.uniform(40, 88, size=2)
    radius = proto.uniform(18, 30)
    turns = (1 + label // 4) * (1 if label % 2 == 0 else -1)
    phase0 = proto.uniform(0, 2 * np.pi)
    t = np.sort(rng.uniform(0, duration_ms, events))
    s = t / duration_ms
    angle = phase0 + 2 * np.pi * turns * s
    if kind == 0:  # circle
        path = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    elif kind == 1:  # horizontal wave
        path = np.stack([np.sin(angle), 0.3 * np.cos(2 * angle)], axis=1)
    elif kind == 2:  # vertical wave
        path = np.stack([0.3 * np.cos(2 * angle), np.sin(angle)], axis=1)
    else:  # diagonal
        path = np.stack([np.sin(angle), np.sin(angle) * (1 if label % 8 < 4 else -1)], axis=1)
    pos = centre + radius * path + rng.normal(0, 2.0, size=2)
    velocity = np.gradient(pos, axis=0)
    offset = rng.normal(0, 4.0, size=(events, 2))
    leading = (offset * velocity).sum(axis=1) > 0
    xy = np.clip(np.round(pos + offset), 0, 127)
    noise_t = rng.uniform(0, duration_ms, noise_events)
    noise_xy = rng.integers(0, 128, size=(noise_events, 2))
    x = np.concatenate([xy[:, 0], noise_xy[:, 0]])
    y = np.concatenate([xy[:, 1], noise_xy[:, 1]])
    p = np.concatenate([leading.astype(np.int64), rng.integers(0, 2, noise_events)])
    tt = np.concatenate([t, noise_t])
    order = np.argsort(tt, kind="stable")
    out = np.stack([x[order], y[order], p[order], np.floor(tt[order])], axis=1).astype(np.int64)
    return out


def make_synthetic_dvsgesture(root, users: Optional[Dict[bool, Sequence[int]]] = None,
                              lightings: Sequence[str] = ("fluorescent", "led"), seed: int = 0,
                              **event_options) -> str:
    """Writes a DVS-Gesture-layout folder ``root/DVSGesture/ibmGesture{Train,Test}/userNN_<lighting>/
    <label>.npy`` (one recording per class per user and lighting, as in the real set) plus
    empty placeholder archives, so that tonic's ``DVSGesture`` also accepts it unpatched once
    it holds 100 files. ``users`` maps train (True/False) to user numbers (default 1..4 / 5..6).
    Returns ``root``."""
    users = {True: range(1, 5), False: range(5, 7)} if users is None else users
    rng = np.random.default_rng(seed)
    base = os.path.join(os.fspath(root), "DVSGesture")
    for train, split in _SPLITS.items():
        for user in users[train]:
            for lighting in lightings:
                folder = os.path.join(base, split, f"user{user:02d}_{lighting}")
                os.makedirs(folder, exist_ok=True)
                for label in range(DVSGESTURE_CLASSES):
                    np.save(os.path.join(folder, f"{label}.npy"), synthetic_gesture_events(label, rng, **event_options))
        open(os.path.join(base, f"{split}.tar.gz"), "ab").close()
    return os.fspath(root)
