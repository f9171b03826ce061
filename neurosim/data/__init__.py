"""Neuromorphic data: offline readers for N-MNIST ``.bin`` and SHD/SSC ``.h5`` files (tonic's event
format, no download), tonic-transform framing into time-major tensors, synthetic real-format
data sets, and scikit-learn's digits as the embedded default."""

from neurosim.data.cache import CachedFrames, cache_key, default_cache_dir
from neurosim.data.datasets import NMNISTFolder, SHDFile, digits_datasets
from neurosim.data.events import (
    EventFrames,
    check_events,
    frame_events,
    strict_time_major_collate,
    time_major_collate,
    to_frames,
)
from neurosim.data.formats import (
    NMNIST_DTYPE,
    NMNIST_SENSOR_SIZE,
    SHD_DTYPE,
    SHD_SENSOR_SIZE,
    decode_nmnist_bytes,
    encode_nmnist_bytes,
    read_nmnist,
    read_shd,
    write_nmnist,
    write_shd,
)
from neurosim.data.gesture import (
    DVSGESTURE_SENSOR_SIZE,
    DVSGestureFolder,
    make_synthetic_dvsgesture,
    synthetic_gesture_events,
)
from neurosim.data.synthetic import (
    make_synthetic_nmnist,
    make_synthetic_shd,
    synthetic_nmnist_events,
    synthetic_nmnist_folder,
    synthetic_shd_events,
    temporal_order_task,
)

__all__ = [
    "CachedFrames", "DVSGESTURE_SENSOR_SIZE", "DVSGestureFolder", "cache_key", "default_cache_dir",
    "make_synthetic_dvsgesture", "synthetic_gesture_events",
    "EventFrames", "NMNISTFolder", "NMNIST_DTYPE", "NMNIST_SENSOR_SIZE", "SHDFile", "SHD_DTYPE",
    "SHD_SENSOR_SIZE", "check_events", "frame_events", "decode_nmnist_bytes", "digits_datasets", "encode_nmnist_bytes",
    "make_synthetic_nmnist", "make_synthetic_shd", "read_nmnist", "read_shd", "strict_time_major_collate",
    "synthetic_nmnist_events", "synthetic_nmnist_folder", "synthetic_shd_events", "temporal_order_task", "time_major_collate", "to_frames", "write_nmnist", "write_shd",
]
