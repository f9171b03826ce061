"""An on-disk cache of framed event data: each sample is framed once (per data set, transform
and T) and read back in later epochs and runs.

Why not tonic's ``DiskCachedDataset``: it is keyed only by the folder the user names, so a
changed transform (another T, downsampling factor or framing code) silently reuses stale frames
unless the user remembers to rename the folder; and it writes files in place and reads them back
unchecked, so a half-written or damaged file is trusted. Here the cache folder's name is a hash
of everything that determines the frames (the data files with their sizes and modification
times, the tonic transforms with their parameters, the data set's own ``transform=``, the framing
source code, the tonic and NumPy versions; a transform without a stable description, such as a
lambda, turns the cache off with a warning), every file is written to a temporary name and renamed into place, and every read
checks a SHA-256 of the content: a file that fails the check is framed again and rewritten.
A folder that cannot be written gives one warning and the data set runs uncached.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import struct
import sys
import tempfile
import warnings
import zlib
from typing import Optional

import numpy as np
import torch

CACHE_FORMAT = 2
_MAGIC = b"NSFRAME1"
_DIGEST = 32


def default_cache_dir() -> str:
    """``$NEUROSIM_CACHE``, else ``~/.cache/neurosim/frames``."""
    return os.environ.get("NEUROSIM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "neurosim", "frames")


def _stat(path: str):
    st = os.stat(path)
    return [os.path.abspath(path), st.st_size, st.st_mtime_ns]


_TRANSFORM_ATTRIBUTES = ("transform", "target_transform", "transforms")


class Uncacheable(Exception):
    """Why the frames of a data set cannot be keyed (raised inside :func:`dataset_fingerprint`)."""


def describe_transform(transform) -> Optional[str]:
    """A description of ``transform`` that is the same in every run and changes with its
    parameters, or None when there is none.

    tonic's transforms are dataclasses whose ``repr`` lists their parameters (``Compose`` lists its
    steps), so their ``repr`` is such a description. A ``repr`` holding a memory address (" at 0x":
    a lambda, a function, a ``functools.partial`` of one, an object without its own ``__repr__``)
    differs between runs and says nothing of what the code does, so it is not trusted."""
    if transform is None:
        return "None"
    try:
        text = repr(transform)
    except Exception:  # a broken __repr__ describes nothing
        return None
    if " at 0x" in text or re.search(r"\bobject at\b", text):
        return None
    return text


# tonic's transforms that draw at random on every call (augmentations): a cache would freeze one
# draw for every epoch, so a data set applying one is not cached
_RANDOM_TONIC_TRANSFORMS = ("DropEvent", "DropEventByArea", "DropEventByTime", "EventDrop", "RandomCrop",
                            "RandomDropPixel", "RandomFlipLR", "RandomFlipPolarity", "RandomFlipUD",
                            "RandomTimeReversal", "SpatialJitter", "TimeJitter", "TimeSkew", "UniformNoise",
                            "EventDrifting")
_RANDOM_PATTERN = re.compile(r"\b(" + "|".join(_RANDOM_TONIC_TRANSFORMS) + r")\(")


def _transforms(samples) -> dict:
    """The stable descriptions of the per-sample transforms of a data set (tonic's attribute
    names: transform, target_transform, transforms); Uncacheable for one without one."""
    out = {}
    for name in _TRANSFORM_ATTRIBUTES:
        if not hasattr(samples, name):
            continue
        value = getattr(samples, name)
        text = describe_transform(value)
        if text is None:
            raise Uncacheable(f"the {name}= of {type(samples).__name__} ({_short(value)}) has no description "
                              "that is stable across runs (a lambda or function; use tonic's transforms, whose "
                              "repr lists their parameters)")
        random = _RANDOM_PATTERN.search(text)
        if random is not None:
            raise Uncacheable(f"the {name}= of {type(samples).__name__} applies {random.group(1)}, a random "
                              "augmentation: cached frames would repeat one draw in every epoch (apply it to the "
                              "frames after the cache, or train uncached)")
        if value is not None:
            out[name] = text
    return out


def _short(value) -> str:
    try:
        text = repr(value)
    except Exception:
        text = type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def dataset_fingerprint(samples) -> Optional[list]:
    """What identifies the events of ``samples`` (JSON-able), or None when it cannot be told:
    the files of neurosim's and tonic's folder data sets (with size and mtime), the path of an
    SHD file, the indices of a ``Subset``, or the bytes of in-memory event arrays; and for the
    folder and file data sets their per-sample transforms (``transform``, ``target_transform``,
    ``transforms``), by :func:`describe_transform`. Raises :class:`Uncacheable` (with the
    reason) for a transform without a stable description."""
    if isinstance(samples, torch.utils.data.Subset):
        inner = dataset_fingerprint(samples.dataset)
        return None if inner is None else ["subset", inner, [int(i) for i in samples.indices]]
    files = getattr(samples, "files", None)
    if files is None and isinstance(getattr(samples, "data", None), list) and all(
            isinstance(p, str) for p in samples.data):
        files = samples.data  # tonic's folder data sets (DVSGesture, NMNIST) list their files in .data
    if files is not None:
        labels = getattr(samples, "labels", None) or getattr(samples, "targets", None) or []
        return [type(samples).__name__, [_stat(f) for f in files], [int(v) for v in labels], _transforms(samples)]
    path = getattr(samples, "path", None)
    if isinstance(path, str) and os.path.isfile(path):
        return [type(samples).__name__, _stat(path), _transforms(samples)]
    if isinstance(samples, (list, tuple)):
        h = hashlib.sha256()
        for events, label in samples:
            if not isinstance(events, np.ndarray):
                return None
            h.update(str(events.dtype).encode())
            h.update(np.ascontiguousarray(events).tobytes())
            h.update(str(int(label)).encode())
        return ["in-memory", h.hexdigest(), len(samples)]
    return None


def cache_key(frames) -> Optional[str]:
    """The hash naming the cache folder of an :class:`~neurosim.data.EventFrames`, or None when
    its frames cannot be identified (see :func:`dataset_fingerprint`)."""
    return _key_and_reason(frames)[0]


def _key_and_reason(frames):
    """(key, None), or (None, why the frames cannot be keyed)."""
    try:
        data = dataset_fingerprint(frames.samples)
        transform = describe_transform(frames.transform)
        if transform is None:
            raise Uncacheable(f"its transform ({_short(frames.transform)}) has no description that is stable "
                              "across runs")
    except Uncacheable as e:
        return None, str(e)
    if data is None:
        return None, f"cannot identify the files behind {type(frames.samples).__name__}"
    import tonic

    framing_source = inspect.getsource(sys.modules[type(frames).__module__])
    description = {
        "format": CACHE_FORMAT,
        "data": data,
        "transform": transform,
        # the time binning is not a tonic transform (frame_events bins in neurosim): key it explicitly
        "n_time_bins": getattr(frames, "n_time_bins", None),
        "time_window": getattr(frames, "time_window", None),
        "input_sensor_size": list(frames.input_sensor_size),
        "frame_shape": list(frames.frame_shape),
        "num_classes": frames.num_classes,
        "framing_code": hashlib.sha256(framing_source.encode()).hexdigest(),
        "tonic": tonic.__version__,
        "numpy": np.__version__,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:32], None


# A stored sample is MAGIC, SHA-256(payload), payload; the payload is a fixed header (label,
# dtype of the frames, dtype and layout of the stored values, shape) and the values, raw:
#   "sparse": the flat indices of the nonzero frame entries (int32) and their values;
#   "dense":  all entries, zlib-compressed.
# Event frames are mostly zeros (N-MNIST at T=8: ~2 % nonzero), so the sparse layout is ~20x
# smaller than the dense one and decodes with one scatter; a dense-enough sample (the smaller
# of the two wins) is compressed instead. Counts are stored in 16 bits when that is exact. No
# np.save/np.load: parsing its text header was most of the time of a cached epoch.
_HEADER = struct.Struct("<q8s8s8sB")  # label, frame dtype, stored dtype, layout, ndim
_LAYOUTS = (b"sparse", b"dense")


def _encode(frames: torch.Tensor, label: int) -> bytes:
    array = np.ascontiguousarray(frames.numpy())
    values = array
    compact = array.astype(np.int16)
    if np.array_equal(compact.astype(array.dtype), array):  # event counts: stored exactly in 16 bits
        values = compact
    flat = values.reshape(-1)
    nonzero = np.flatnonzero(flat)
    sparse_bytes = nonzero.size * (4 + flat.itemsize)
    if flat.size < 2**31 and sparse_bytes < flat.nbytes // 2:
        layout, body = b"sparse", nonzero.astype(np.int32).tobytes() + flat[nonzero].tobytes()
    else:
        layout, body = b"dense", zlib.compress(flat.tobytes(), 1)
    header = _HEADER.pack(int(label), array.dtype.str.encode(), flat.dtype.str.encode(), layout, array.ndim)
    payload = header + struct.pack(f"<{array.ndim}q", *array.shape) + body
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def _decode(blob: bytes):
    """(frames, label), or None when the content fails its checks."""
    if len(blob) < len(_MAGIC) + _DIGEST + _HEADER.size or not blob.startswith(_MAGIC):
        return None
    view = memoryview(blob)
    digest, payload = view[len(_MAGIC):len(_MAGIC) + _DIGEST], view[len(_MAGIC) + _DIGEST:]
    if hashlib.sha256(payload).digest() != digest:
        return None
    try:
        label, dtype, stored, layout, ndim = _HEADER.unpack_from(payload)
        dtype, stored, layout = np.dtype(dtype.rstrip(b"\0").decode()), np.dtype(stored.rstrip(b"\0").decode()), \
            layout.rstrip(b"\0")
        shape = struct.unpack_from(f"<{ndim}q", payload, _HEADER.size)
        body = payload[_HEADER.size + 8 * ndim:]
        size = int(np.prod(shape))
        if layout == b"sparse":
            count = len(body) // (4 + stored.itemsize)
            index = np.frombuffer(body, dtype=np.int32, count=count)
            flat = np.zeros(size, dtype=dtype)
            flat[index] = np.frombuffer(body, dtype=stored, count=count, offset=4 * count)
        elif layout == b"dense":
            flat = np.frombuffer(zlib.decompress(body), dtype=stored, count=size).astype(dtype)
        else:
            return None
    except (ValueError, IndexError, TypeError, UnicodeDecodeError, struct.error, zlib.error):
        return None
    return torch.from_numpy(flat.reshape(shape)), label


def _decode_file(path: str):
    """The decoded sample stored at ``path``, or None (missing, unreadable or failing its checks).
    os-level reads: a buffered file object costs more than reading a few kB does."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        blob = os.read(fd, size + 1)
        while len(blob) < size:  # a short read (rare; e.g. a network file system)
            more = os.read(fd, size - len(blob) + 1)
            if not more:
                break
            blob += more
    except OSError:
        return None
    finally:
        os.close(fd)
    return _decode(blob)


class CachedFrames(torch.utils.data.Dataset):
    """:class:`~neurosim.data.EventFrames` behind the disk cache (see the module docstring).

    ``CachedFrames(frames, cache_dir)`` gives the same ``(frames, label)`` items as ``frames``,
    bit for bit; the first access of a sample frames and stores it, later ones read it back.
    ``cache_dir`` defaults to :func:`default_cache_dir`; :attr:`folder` is the folder in use
    (None when uncached), :attr:`hits` / :attr:`misses` count reads and framings.
    """

    def __init__(self, frames, cache_dir: Optional[str] = None):
        self.frames = frames
        self.frame_shape = frames.frame_shape
        self.sensor_size = frames.sensor_size
        self.hits = self.misses = 0
        self.folder: Optional[str] = None
        key, reason = _key_and_reason(frames)
        root = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
        if key is None:
            warnings.warn(f"frame cache: {reason}; framing every epoch without a cache", RuntimeWarning,
                          stacklevel=2)
            return
        folder = os.path.join(root, key)
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
                pass
        except OSError as e:
            warnings.warn(f"frame cache folder {root} is not writable ({e.strerror or e}); training without a "
                          "frame cache", RuntimeWarning, stacklevel=2)
            return
        self.folder = folder

    def __len__(self) -> int:
        return len(self.frames)

    def _path(self, index: int) -> str:
        return os.path.join(self.folder, f"{index}.frames")

    def __getitem__(self, index):
        index = int(index)
        if index < 0:
            index += len(self)
        if self.folder is not None:
            item = _decode_file(self._path(index))
            if item is not None:
                self.hits += 1
                return item
        frames, label = self.frames[index]
        self.misses += 1
        if self.folder is not None:
            self._store(index, frames, label)
        return frames, label

    def _store(self, index: int, frames: torch.Tensor, label: int) -> None:
        try:
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{index}-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_encode(frames, label))
                os.replace(tmp, self._path(index))
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except OSError as e:
            warnings.warn(f"frame cache: writing to {self.folder} failed ({e.strerror or e}); continuing without "
                          "a frame cache", RuntimeWarning, stacklevel=2)
            self.folder = None
