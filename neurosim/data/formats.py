"""Readers and writers for neuromorphic files on local disk (no download).

* N-MNIST / N-Caltech101 ``.bin`` (Orchard et al. 2015): 5 bytes per event, no header.
  Byte 0 = x, byte 1 = y, bit 7 of byte 2 = polarity, the remaining 23 bits = time in µs.
  An event with ``y == 240`` is a timestamp-overflow marker: 2**13 µs is added to every later time
  and the marker is dropped (the convention of the data set's own MATLAB reader and of tonic).
* SHD / SSC ``.h5`` (Cramer et al. 2020): ragged ``spikes/times`` (seconds, float16) and
  ``spikes/units`` (channel ids) per sample, ``labels``, and ``extra/*`` metadata.

Events come back as NumPy structured arrays with tonic's field names and dtypes, so tonic's
transforms accept them directly.
"""

from __future__ import annotations

import errno
import os
import zlib
from typing import List, Sequence, Tuple

import numpy as np

NMNIST_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
"""tonic.datasets.NMNIST.dtype"""
SHD_DTYPE = np.dtype([("t", np.int64), ("x", np.int64), ("p", np.int64)])
"""tonic.datasets.SHD.dtype: x is the channel (0..699), p is always 1."""
NMNIST_SENSOR_SIZE = (34, 34, 2)
SHD_SENSOR_SIZE = (700, 1, 1)

_OVERFLOW_Y = 240
_OVERFLOW_STEP_US = 1 << 13
_MAX_TIME_US = (1 << 23) - 1
_CRC_TIMES, _CRC_UNITS = "neurosim_crc32_times", "neurosim_crc32_units"
_MAX_INT64_US = float(2**63 - 1024)  # the largest float64 below 2**63: times at or above it overflow int64


def check_input_file(path, what: str) -> str:
    """``path`` as a string, or the OSError subclass a user can act on, naming the file: not found,
    a directory where a file belongs, or not readable."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path} is a directory; expected a file")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{what} {path} is not readable (permission denied)")
    return path


def decode_nmnist_bytes(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decodes the bytes of one N-MNIST ``.bin`` file into events (see :func:`read_nmnist`)."""
    if len(raw) % 5:
        raise ValueError(f"N-MNIST file {source} is truncated or corrupt: {len(raw)} bytes is not a "
                         "multiple of 5 (5 bytes per event)")
    b = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
    x, y = b[0::5], b[1::5]
    p = (b[2::5] & 0x80) >> 7
    t = ((b[2::5] & 0x7F) << 16) | (b[3::5] << 8) | b[4::5]
    overflow = y == _OVERFLOW_Y
    if overflow.any():
        # every marker shifts all events after it by one overflow period
        t = t + np.cumsum(overflow) * _OVERFLOW_STEP_US
        keep = ~overflow
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    events = np.empty(len(x), dtype=NMNIST_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t, p
    return events


def read_nmnist(path) -> np.ndarray:
    """Events of one N-MNIST (or N-Caltech101) ``.bin`` file.

    Returns a structured array with tonic's N-MNIST fields and dtypes: ``x``, ``y`` (pixels),
    ``t`` (microseconds) and ``p`` (1 = ON, 0 = OFF), all int64, in file order.
    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file when its
    size is not a whole number of 5-byte events.
    """
    path = check_input_file(path, "N-MNIST file")
    with open(path, "rb") as f:
        raw = f.read()
    return decode_nmnist_bytes(raw, source=path)


_UINT16_MAX = int(np.iinfo(np.uint16).max)
_FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504: SHD's float16 seconds hold no later time


def _numbers(values, name: str, what: str, *, whole: bool = True, lo=None, hi=None) -> np.ndarray:
    """``values`` as a NumPy array after checking, before any conversion, that they are numbers
    (finite; whole numbers when ``whole``) in ``[lo, hi]``: a cast to a narrower type must never
    wrap or truncate silently. ValueError naming ``name`` otherwise; int64 when ``whole``."""
    v = np.asarray(values)
    if v.dtype.kind not in "biuf":
        raise ValueError(f"{what}: {name} must be {'integers' if whole else 'numbers'}, got dtype {v.dtype}")
    if v.size and v.dtype.kind == "f":
        if not np.isfinite(v).all():
            raise ValueError(f"{what}: {name} must be finite; found NaN or inf")
        if whole and (v != np.floor(v)).any():
            raise ValueError(f"{what}: {name} must be whole numbers; found a fraction")
    if v.size and ((lo is not None and v.min() < lo) or (hi is not None and v.max() > hi)):
        raise ValueError(f"{what}: {name} must lie in [{lo if lo is not None else '-inf'}, "
                         f"{hi if hi is not None else 'inf'}], got [{v.min()}, {v.max()}]")
    return v.astype(np.int64) if whole else v


def _field(events: np.ndarray, name: str, what: str, **limits) -> np.ndarray:
    """Field ``name`` of a structured event array, checked by :func:`_numbers` (whole numbers unless
    ``whole=False``, within ``lo``/``hi``)."""
    names = getattr(getattr(events, "dtype", None), "names", None)
    if not isinstance(events, np.ndarray) or not names:
        raise ValueError(f"{what}: expected a NumPy structured array with tonic's fields, "
                         f"got {type(events).__name__}")
    if name not in names:
        raise ValueError(f"{what}: event array has no field {name!r} (fields: {list(names)}); "
                         "expected tonic's fields x, y, t, p")
    return _numbers(events[name], f"field {name!r}", what, **limits)


def encode_nmnist_bytes(events: np.ndarray) -> bytes:
    """The ``.bin`` bytes for events with fields x, y, t (µs), p; inverse of
    :func:`decode_nmnist_bytes` for events in time order with ``t < 2**23`` and ``y != 240``."""
    what = "write_nmnist"
    x, y, t, p = (_field(events, n, what, lo=0, hi=hi)
                  for n, hi in (("x", 255), ("y", 255), ("t", _MAX_TIME_US), ("p", 1)))
    if y.size and (y == _OVERFLOW_Y).any():
        raise ValueError(f"{what}: y == {_OVERFLOW_Y} is reserved for timestamp-overflow markers")
    if t.size > 1 and (np.diff(t) < 0).any():
        raise ValueError(f"{what}: field 't' must be sorted in time")
    out = np.empty(5 * len(x), dtype=np.uint8)
    out[0::5] = x
    out[1::5] = y
    out[2::5] = (p << 7) | ((t >> 16) & 0x7F)
    out[3::5] = (t >> 8) & 0xFF
    out[4::5] = t & 0xFF
    return out.tobytes()


def write_nmnist(path, events: np.ndarray) -> None:
    """Writes events (fields x, y, t in µs, p) as an N-MNIST ``.bin`` file."""
    data = encode_nmnist_bytes(events)
    with open(os.fspath(path), "wb") as f:
        f.write(data)


def _h5py():
    try:
        import h5py
    except ImportError as e:  # h5py is in the "train" extra
        raise ImportError("reading SHD/SSC .h5 files needs h5py: pip install h5py") from e
    return h5py


def read_shd(path) -> Tuple[List[np.ndarray], np.ndarray]:
    """Samples of an SHD or SSC ``.h5`` file: ``(events, labels)``.

    ``events[i]`` is a structured array with tonic's SHD fields ``t`` (microseconds), ``x``
    (channel) and ``p`` (always 1), all int64; ``labels`` is an int64 array. Times are upcast to
    float64 before scaling (the file stores seconds as float16, whose range ``times*1e6``
    would overflow). Raises ``FileNotFoundError``/``ValueError`` naming the file and the field.
    """
    h5py = _h5py()
    path = check_input_file(path, "SHD file")
    try:
        f = h5py.File(path, "r")
    except PermissionError as e:
        raise PermissionError(f"SHD file {path} is not readable (permission denied)") from e
    except (OSError, ValueError) as e:
        if getattr(e, "errno", None) == errno.EACCES or "Permission denied" in str(e):
            raise PermissionError(f"SHD file {path} is not readable (permission denied)") from e
        raise ValueError(f"SHD file {path} is not a readable HDF5 file (truncated or corrupt): {e}") from e
    with f:
        try:
            times_ds, units_ds, labels_ds = (f[name] for name in ("spikes/times", "spikes/units", "labels"))
        except (KeyError, ValueError, OSError) as e:
            raise ValueError(f"SHD file {path} lacks a required dataset (spikes/times, spikes/units, "
                             f"labels): {e}") from e
        try:
            raw_times = [np.asarray(v).reshape(-1) for v in times_ds[()]]
            units = [np.asarray(v).reshape(-1) for v in units_ds[()]]
            labels = np.asarray(labels_ds[()]).reshape(-1)
            crcs = {name: np.asarray(f["spikes"].attrs[name]) for name in (_CRC_TIMES, _CRC_UNITS)
                    if name in f["spikes"].attrs}
        except (OSError, ValueError, TypeError, KeyError) as e:
            # a Fletcher-32 mismatch lands here too ("Data error detected by Fletcher32 checksum")
            raise ValueError(f"SHD file {path}: cannot read spikes/labels (corrupt data): "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
        for name, values in ((_CRC_TIMES, raw_times), (_CRC_UNITS, units)):
            if name in crcs:
                stored = crcs[name]
                if len(stored) != len(values):
                    raise ValueError(f"SHD file {path}: corrupt data: {len(stored)} checksums for {len(values)} samples")
                for i, v in enumerate(values):
                    if zlib.crc32(v.tobytes()) != int(stored[i]):
                        field = "spikes/times" if name == _CRC_TIMES else "spikes/units"
                        raise ValueError(f"SHD file {path}: corrupt data: {field} of sample {i} fails its CRC-32 check")
        times = [v.astype(np.float64) for v in raw_times]
    if not (len(times) == len(units) == len(labels)):
        raise ValueError(f"SHD file {path}: spikes/times ({len(times)}), spikes/units ({len(units)}) and "
                         f"labels ({len(labels)}) must have one entry per sample")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0):
        raise ValueError(f"SHD file {path}: labels must be non-negative integers, got dtype {labels.dtype}")
    events = []
    for i, (t, u) in enumerate(zip(times, units)):
        if len(t) != len(u):
            raise ValueError(f"SHD file {path}: sample {i} has {len(t)} spikes/times but {len(u)} spikes/units")
        if not np.issubdtype(u.dtype, np.integer) or (u.size and u.min() < 0):
            raise ValueError(f"SHD file {path}: spikes/units of sample {i} must be non-negative integers")
        if t.size and (not np.isfinite(t).all() or t.min() < 0):
            raise ValueError(f"SHD file {path}: spikes/times of sample {i} must be finite and >= 0")
        if t.size and t.max() * 1e6 >= _MAX_INT64_US:
            raise ValueError(f"SHD file {path}: spikes/times of sample {i} reach {t.max():.6g} s, beyond the "
                             f"{_MAX_INT64_US / 1e6:.4g} s that int64 microseconds can hold")
        ev = np.empty(len(t), dtype=SHD_DTYPE)
        ev["t"] = np.round(t * 1e6).astype(np.int64)
        ev["x"] = u.astype(np.int64)
        ev["p"] = 1
        events.append(ev)
    return events, labels.astype(np.int64)


def write_shd(path, events: Sequence[np.ndarray], labels: Sequence[int], *, keys: Sequence[str] = (),
              speakers: Sequence[int] = ()) -> None:
    """Writes samples in the SHD/SSC layout: vlen float16 ``spikes/times`` (seconds), vlen
    uint16 ``spikes/units``, uint16 ``labels``, ``extra/keys`` (the class names) and
    ``extra/speaker`` (one per sample). ``labels`` and
    ``extra/*`` carry HDF5's Fletcher-32 checksum and every sample's spike times and units a CRC-32
    (attributes of ``spikes``), so :func:`read_shd` reports a corrupted file instead of returning
    changed spikes; other readers (tonic, h5py) read the file as before.

    Everything is checked before the file is opened, and what the layout cannot hold raises
    ValueError naming the argument: event times (field ``t``, µs) must be finite and within
    [0, 65504 s] (float16 seconds; they are rounded to float16, whose spacing is 2**-11 s below 2 s),
    units (field ``x``), ``labels`` and ``speakers`` whole numbers in [0, 65535]; ``speakers`` is
    empty or one per sample, ``keys`` strings."""
    h5py = _h5py()
    what = "write_shd"
    if len(events) != len(labels):
        raise ValueError(f"{what}: {len(events)} event arrays but {len(labels)} labels")
    if len(speakers) not in (0, len(events)):
        raise ValueError(f"{what}: speakers: expected one per sample ({len(events)}) or none, got {len(speakers)}")
    labels = _numbers(labels, "labels", what, lo=0, hi=_UINT16_MAX).reshape(-1)
    speakers = (_numbers(speakers, "speakers", what, lo=0, hi=_UINT16_MAX).reshape(-1) if len(speakers)
                else np.zeros(len(events), np.int64))
    if not all(isinstance(k, str) for k in keys):
        raise ValueError(f"{what}: keys: expected strings (the class names), got "
                         f"{sorted({type(k).__name__ for k in keys})}")
    samples = []
    for i, ev in enumerate(events):
        sample = f"{what}: events[{i}]"
        t = _field(ev, "t", sample, whole=False, lo=0, hi=_FLOAT16_MAX * 1e6)
        u = _field(ev, "x", sample, lo=0, hi=_UINT16_MAX)
        samples.append(((t.astype(np.float64) / 1e6).astype(np.float16), u.astype(np.uint16)))
    with h5py.File(os.fspath(path), "w") as f:
        # Fletcher-32 covers the fixed-size data sets; HDF5 filters cannot apply to the ragged spikes
        # (they live in its heap), so each sample gets a CRC-32 of its bytes instead (read_shd checks it)
        checked = dict(fletcher32=True, chunks=True) if len(events) else {}
        times = f.create_dataset("spikes/times", (len(events),), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(events),), dtype=h5py.vlen_dtype(np.uint16))
        crc_times, crc_units = np.zeros(len(events), np.uint32), np.zeros(len(events), np.uint32)
        for i, (t, u) in enumerate(samples):
            times[i], units[i] = t, u
            crc_times[i], crc_units[i] = zlib.crc32(t.tobytes()), zlib.crc32(u.tobytes())
        f["spikes"].attrs[_CRC_TIMES] = crc_times
        f["spikes"].attrs[_CRC_UNITS] = crc_units
        f.create_dataset("labels", data=labels.astype(np.uint16), **checked)
        if len(keys):
            f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys], dtype="S"), **checked)
        else:
            f["extra/keys"] = np.array([], dtype="S1")
        f.create_dataset("extra/speaker", data=speakers.astype(np.uint16), **checked)
