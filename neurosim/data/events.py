"""Events to time-major frames, and the collate that batches them.

Any tonic data set (or any sequence of ``(events, label)`` pairs whose events carry tonic's
fields) becomes a data set of ``(frames[T, *features], label)`` tensors: :class:`EventFrames`
applies tonic's ``Denoise`` and ``Downsample`` and then :func:`frame_events`, which bins like
tonic's ``ToFrame`` but counts every event (``ToFrame`` drops the last one, and all of them when
they share one timestamp); :func:`time_major_collate` pads the samples of a batch to the longest T
and stacks them as ``[T, B, *features]``.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch

SPATIAL_FIELDS = ("x", "y")


def _tonic():
    try:
        import tonic
    except ImportError as e:
        raise ImportError("turning events into frames uses tonic's transforms: pip install tonic") from e
    return tonic


def check_sensor_size(sensor_size) -> Tuple[int, int, int]:
    """``sensor_size`` as (W, H, P) ints >= 1; ValueError naming it otherwise."""
    try:
        values = tuple(sensor_size)
    except TypeError:
        values = None
    if values is None or len(values) != 3 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1 for v in values):
        raise ValueError(f"sensor_size: expected (W, H, P), three ints >= 1, got {sensor_size!r}")
    return tuple(int(v) for v in values)


def check_binning(n_time_bins, time_window) -> None:
    """Exactly one of ``n_time_bins`` (an int >= 1) and ``time_window`` (a finite number of µs > 0);
    ValueError naming the argument otherwise."""
    if (n_time_bins is None) == (time_window is None):
        raise ValueError("n_time_bins, time_window: give exactly one of them")
    if n_time_bins is not None and (isinstance(n_time_bins, (bool, np.bool_))
                                    or not isinstance(n_time_bins, (int, np.integer)) or n_time_bins < 1):
        raise ValueError(f"n_time_bins: expected an int >= 1, got {n_time_bins!r}")
    if time_window is not None and (isinstance(time_window, (bool, np.bool_))
                                    or not isinstance(time_window, (int, float, np.integer, np.floating))
                                    or not np.isfinite(time_window) or not time_window > 0):
        raise ValueError(f"time_window: expected a finite number of µs > 0, got {time_window!r}")


def check_events(events, sensor_size: Sequence[int], what: str = "events") -> None:
    """Raises ValueError naming the field when ``events`` is not a structured array with the
    fields that a sensor of ``sensor_size`` (W, H, P) needs: t and x always, y when H > 1,
    p when P > 1; each of x, y, p it needs must hold whole numbers inside the sensor
    (``0 <= x < W``, ``0 <= y < H``, ``0 <= p < P``)."""
    sensor_size = check_sensor_size(sensor_size)
    names = getattr(getattr(events, "dtype", None), "names", None)
    if not isinstance(events, np.ndarray) or not names:
        raise ValueError(f"{what}: expected a NumPy structured array with tonic's fields (x, y, t, p), "
                         f"got {type(events).__name__}")
    needed = ["t", "x"] + (["y"] if sensor_size[1] > 1 else []) + (["p"] if sensor_size[2] > 1 else [])
    for field in needed:
        if field not in names:
            raise ValueError(f"{what}: event array is missing field {field!r} (has {list(names)}; "
                             f"sensor_size {tuple(sensor_size)} needs {needed})")
    for field, limit in zip(("x", "y", "p"), sensor_size):
        if field not in needed:
            continue
        v = np.asarray(events[field])
        if v.dtype.kind not in "biuf":
            raise ValueError(f"{what}: field {field!r} must hold numbers, got dtype {v.dtype}")
        if not len(v):
            continue
        if v.dtype.kind == "f" and not (np.isfinite(v).all() and (v == np.floor(v)).all()):
            raise ValueError(f"{what}: field {field!r} must hold whole numbers (pixel or polarity indices); "
                             "found NaN, inf or a fraction")
        if v.min() < 0 or v.max() >= limit:
            raise ValueError(f"{what}: field {field!r} has values in [{v.min()}, {v.max()}], outside "
                             f"the sensor range [0, {limit - 1}] of sensor_size {tuple(sensor_size)}")


def describe_sample(samples, index) -> str:
    """Where sample ``index`` of ``samples`` comes from, for error messages: through any
    ``Subset``\\ s (a split, a ``--limit``) to the data set that holds it, then its file
    (``"file <path>"``: N-MNIST folders, tonic's folder data sets such as DVS Gesture), or its file
    and its index there (``"file <path>, sample i"``: an SHD file); else ``"sample i"``."""
    try:
        index = int(index)
        while isinstance(samples, torch.utils.data.Subset):
            if index < 0:
                index += len(samples)
            index, samples = int(samples.indices[index]), samples.dataset
        if index < 0:
            index += len(samples)
        files = getattr(samples, "files", None)
        if files is None and isinstance(getattr(samples, "data", None), list):
            files = samples.data  # tonic's folder data sets list their files in .data
        if files is not None and 0 <= index < len(files) and isinstance(files[index], str):
            return f"file {files[index]}"
        path = getattr(samples, "path", None)
        if isinstance(path, str):
            return f"file {path}, sample {index}"
    except (TypeError, ValueError, IndexError):
        pass
    return f"sample {index}"


def downsampled_sensor_size(sensor_size: Sequence[int], spatial_factor) -> Tuple[int, int, int]:
    fx, fy = (spatial_factor, spatial_factor) if np.isscalar(spatial_factor) else spatial_factor
    w, h, p = sensor_size
    # the largest coordinate x*f is truncated to int by tonic's Downsample, hence (w-1)*f + 1
    return (int((w - 1) * fx) + 1, int((h - 1) * fy) + 1 if h > 1 else 1, p)


MAX_FRAME_ELEMENTS = 2**31
"""The most entries (T x P x H x W) :func:`frame_events` builds for one recording (8 GiB of float32):
more means timestamps that are not microseconds of one recording, and it refuses them."""
MAX_SPAN_US = 2**53
"""The longest time span :func:`frame_events` accepts (about 285 years of µs, where float64 stops
being exact); a longer one is a corrupt timestamp (NaN read as an integer becomes -2**63)."""


def _timestamps(events, what: str) -> np.ndarray:
    """Field t as int64, refusing non-finite, non-numeric and out-of-range values (ValueError)."""
    raw = np.asarray(events["t"])
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"{what}: timestamps (field 't') must be numbers, got dtype {raw.dtype}")
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all():
            raise ValueError(f"{what}: timestamps (field 't') must be finite; found NaN or inf")
        if raw.size and (raw.min() < -MAX_SPAN_US or raw.max() > MAX_SPAN_US):
            raise ValueError(f"{what}: timestamps (field 't') reach [{raw.min():.6g}, {raw.max():.6g}] µs, "
                             f"beyond +-2**53 µs")
    elif raw.dtype.kind == "u" and raw.size and int(raw.max()) > MAX_SPAN_US:
        raise ValueError(f"{what}: timestamps (field 't') reach {int(raw.max())} µs, beyond 2**53 µs")
    return raw.astype(np.int64)


def frame_events(events, sensor_size: Sequence[int], *, n_time_bins: Optional[int] = None,
                 time_window: Optional[float] = None, what: str = "events") -> np.ndarray:
    """Event counts per time bin and pixel, float32 ``[T, P, H, W]`` (``[T, P, W]`` without y),
    counting every event.

    ``n_time_bins``: T equal bins over ``[t_first, t_last + 1)`` µs, so the last event falls in
    bin T-1 and events that share one timestamp all land in bin 0. (tonic's ``ToFrame`` uses the
    bins ``[t_first + k w, t_first + (k+1) w)`` with ``w = (t_last - t_first) // T`` and loses the
    events from ``t_first + T w`` on — at least the last one, and all of them when they share one
    timestamp.) ``time_window``: bins of that many µs from the first event, as many as the last
    event needs (the incomplete last window included). Times need not be sorted; a single-polarity
    sensor counts every event as polarity 0, as tonic does.

    Raises ValueError naming the argument for a bad ``sensor_size``, ``n_time_bins`` or
    ``time_window`` (:func:`check_sensor_size`, :func:`check_binning`), and, prefixed by ``what``,
    for events that :func:`check_events` refuses (a missing field; x, y or p outside the sensor),
    timestamps that are not finite, span more than :data:`MAX_SPAN_US`, or would need more than
    :data:`MAX_FRAME_ELEMENTS` frame entries, instead of allocating for them.
    """
    w, h, polarities = check_sensor_size(sensor_size)
    check_binning(n_time_bins, time_window)
    check_events(events, (w, h, polarities), what=what)
    t = _timestamps(events, what)
    if t.size == 0:
        raise ValueError(f"{what}: the recording has no events, so it has no frames")
    first, last = int(t.min()), int(t.max())
    span = last - first + 1  # Python ints: no overflow
    if span > MAX_SPAN_US:
        raise ValueError(f"{what}: timestamps (field 't') span {span} µs ({first} to {last}), more than the "
                         f"2**53 µs any recording can; the timestamps are corrupt")
    per_step = polarities * h * w
    steps = n_time_bins if n_time_bins is not None else int(np.floor((span - 1) / float(time_window))) + 1
    if steps * per_step > MAX_FRAME_ELEMENTS:
        detail = f"{n_time_bins} time bins" if n_time_bins is not None else \
            f"a span of {span - 1} µs in windows of {time_window} µs gives {steps} frames"
        raise ValueError(f"{what}: {detail} of {per_step} entries each is more than the {MAX_FRAME_ELEMENTS} "
                         "frame entries one recording may need (timestamps not in µs?)")
    elapsed = t - first
    if n_time_bins is not None:
        # integer arithmetic: exact for any µs span that fits int64 after the multiplication
        if span <= np.iinfo(np.int64).max // max(n_time_bins, 1):
            bins = elapsed * n_time_bins // span
        else:
            bins = np.minimum((elapsed.astype(np.float64) * (n_time_bins / span)).astype(np.int64), n_time_bins - 1)
    else:
        bins = (elapsed // time_window).astype(np.int64) if float(time_window).is_integer() else \
            np.floor(elapsed / float(time_window)).astype(np.int64)
        bins = np.minimum(bins, steps - 1)  # float rounding must not add a frame
    p = np.zeros_like(t) if polarities == 1 else np.asarray(events["p"], dtype=np.int64)
    x = np.asarray(events["x"], dtype=np.int64)
    y = np.asarray(events["y"], dtype=np.int64) if "y" in events.dtype.names and h > 1 else np.zeros_like(t)
    flat = ((bins * polarities + p) * h + y) * w + x
    counts = np.bincount(flat, minlength=steps * per_step).astype(np.float32)
    shape = (steps, polarities, h, w) if "y" in events.dtype.names else (steps, polarities, w)
    return counts.reshape(shape)


def to_frames(events, sensor_size: Sequence[int], *, n_time_bins: Optional[int] = None,
              time_window: Optional[float] = None, denoise_us: Optional[float] = None, spatial_factor=None,
              flatten: bool = True) -> torch.Tensor:
    """One event array (tonic's fields) -> float32 frames ``[T, P*H*W]`` (or ``[T, P, H, W]``),
    through the same steps as :class:`EventFrames`."""
    frames = EventFrames([(events, 0)], sensor_size, n_time_bins=n_time_bins, time_window=time_window,
                         denoise_us=denoise_us, spatial_factor=spatial_factor, flatten=flatten)
    return frames[0][0]


class EventFrames(torch.utils.data.Dataset):
    """``(events, label)`` samples as ``(frames, label)`` tensors via tonic's transforms.

    Args:
        samples: a tonic data set, or any indexable of ``(events, label)`` pairs with tonic's
            structured events (fields x, y, t in µs, p).
        sensor_size: (W, H, P); defaults to ``samples.sensor_size`` (tonic data sets have it).
        n_time_bins: T, a fixed number of equal time bins per sample (see :func:`frame_events`); or
        time_window: frame length in µs, giving a T per sample
            that :func:`time_major_collate` pads.
        denoise_us: ``Denoise(filter_time)``: drop events with no neighbour within this many µs.
        spatial_factor: ``Downsample(spatial_factor)``, e.g. 0.1 turns SHD's 700 channels into 70.
        flatten: frames [T, P*H*W] instead of [T, P, H, W] (for fully connected networks).
        num_classes: when given, labels outside [0, num_classes) raise ValueError.
    """

    def __init__(self, samples, sensor_size: Optional[Sequence[int]] = None, *, n_time_bins: Optional[int] = None,
                 time_window: Optional[float] = None, denoise_us: Optional[float] = None,
                 spatial_factor=None, flatten: bool = True, num_classes: Optional[int] = None):
        sensor_size = sensor_size if sensor_size is not None else getattr(samples, "sensor_size", None)
        self.input_sensor_size = check_sensor_size(sensor_size)
        check_binning(n_time_bins, time_window)
        self.samples = samples
        steps = []
        tonic = _tonic() if denoise_us or (spatial_factor is not None and spatial_factor != 1) else None
        if denoise_us:
            steps.append(tonic.transforms.Denoise(filter_time=denoise_us))
        self.sensor_size = self.input_sensor_size
        if spatial_factor is not None and spatial_factor != 1:
            steps.append(tonic.transforms.Downsample(spatial_factor=spatial_factor))
            self.sensor_size = downsampled_sensor_size(self.input_sensor_size, spatial_factor)
        self.n_time_bins, self.time_window = n_time_bins, time_window
        self.transform = tonic.transforms.Compose(steps) if steps else None
        self.flatten = flatten
        self.denoise_us = denoise_us
        self.num_classes = num_classes
        w, h, p = self.sensor_size
        self.frame_shape = (p * h * w,) if flatten else (p, h, w)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        events, label = self.samples[index]
        what = describe_sample(self.samples, index)
        check_events(events, self.input_sensor_size, what=what)
        label = int(label)
        if self.num_classes is not None and not 0 <= label < self.num_classes:
            raise ValueError(f"{what}: label {label} is outside [0, {self.num_classes})")
        if len(events) == 0:
            raise ValueError(f"{what}: the recording has no events, so it has no frames "
                             "(drop empty recordings from the data set)")
        if self.transform is not None:
            events = self.transform(events)
            if len(events) == 0:
                raise ValueError(f"{what}: no events left after denoising (denoise_us={self.denoise_us})")
        frames = frame_events(events, self.sensor_size, n_time_bins=self.n_time_bins, time_window=self.time_window,
                              what=what)
        return torch.from_numpy(frames).reshape(frames.shape[0], *self.frame_shape), label


def time_major_collate(batch, pad: bool = True):
    """Stacks ``(x[T_i, *features], label)`` samples into ``(x[T, B, *features], labels[B])``.

    With ``pad`` the shorter sequences get zero frames at the end (T = the longest T_i);
    without it, different T_i raise ValueError listing them.
    """
    xs = [torch.as_tensor(x) for x, _ in batch]
    lengths = [x.shape[0] for x in xs]
    features = {tuple(x.shape[1:]) for x in xs}
    if len(features) != 1:
        raise ValueError(f"samples in a batch must share their feature shape, got {sorted(features)}")
    if not pad and len(set(lengths)) != 1:
        raise ValueError(f"sequences in a batch have different T {sorted(set(lengths))}; "
                         "use time_major_collate with pad=True to pad them")
    t_max = max(lengths)
    out = xs[0].new_zeros((t_max, len(xs), *xs[0].shape[1:]))
    for i, x in enumerate(xs):
        out[: x.shape[0], i] = x
    labels = torch.as_tensor([int(y) for _, y in batch], dtype=torch.long)
    return out, labels


strict_time_major_collate: Callable = partial(time_major_collate, pad=False)
