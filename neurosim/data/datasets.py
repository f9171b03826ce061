"""Data sets on local files (N-MNIST folders, SHD/SSC files) and the embedded digits default."""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch

from neurosim.data.formats import NMNIST_SENSOR_SIZE, SHD_SENSOR_SIZE, read_nmnist, read_shd


class NMNISTFolder(torch.utils.data.Dataset):
    """N-MNIST-layout ``.bin`` files in class folders: ``root/<label>/*.bin``.

    When ``root`` holds ``Train/`` and ``Test/`` (the layout of the unpacked ``train.zip`` /
    ``test.zip``), ``train`` picks one of them. Items are ``(events, label)`` with tonic's N-MNIST
    events, so :class:`neurosim.data.EventFrames` and tonic's transforms apply; ``transform`` is
    called on the events as in tonic's data sets.
    """

    sensor_size = NMNIST_SENSOR_SIZE

    def __init__(self, root, train: bool = True, transform: Optional[Callable] = None):
        root = os.fspath(root)
        if os.path.exists(root) and not os.path.isdir(root):
            raise NotADirectoryError(f"N-MNIST folder {root} is a file; expected a folder of class folders")
        if not os.path.isdir(root):
            raise FileNotFoundError(f"N-MNIST folder not found: {root}")
        split = os.path.join(root, "Train" if train else "Test")
        self.root = split if os.path.isdir(split) else root
        self.transform = transform
        self.files: List[str] = []
        self.labels: List[int] = []
        class_dirs = sorted(d for d in os.listdir(self.root) if os.path.isdir(os.path.join(self.root, d)))
        for d in class_dirs:
            if not d.isdigit():
                raise ValueError(f"N-MNIST folder {self.root}: class folder {d!r} is not a label number "
                                 "(expected <root>/<label>/*.bin)")
            names = sorted(n for n in os.listdir(os.path.join(self.root, d)) if n.endswith(".bin"))
            self.files += [os.path.join(self.root, d, n) for n in names]
            self.labels += [int(d)] * len(names)
        if not self.files:
            raise FileNotFoundError(f"N-MNIST folder {self.root} holds no <label>/*.bin files")
        self.classes = sorted(set(self.labels))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index) -> Tuple[np.ndarray, int]:
        events = read_nmnist(self.files[index])
        if self.transform is not None:
            events = self.transform(events)
        return events, self.labels[index]


class SHDFile(torch.utils.data.Dataset):
    """The samples of one SHD/SSC ``.h5`` file as ``(events, label)`` (read once, kept in memory);
    ValueError naming the file when it holds no samples."""

    sensor_size = SHD_SENSOR_SIZE

    def __init__(self, path, transform: Optional[Callable] = None):
        self.path = os.fspath(path)
        self.events, labels = read_shd(self.path)
        if not len(self.events):
            raise ValueError(f"SHD file {self.path} holds no samples")
        self.labels = labels.tolist()
        self.transform = transform
        self.classes = sorted(set(self.labels))

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, index) -> Tuple[np.ndarray, int]:
        events = self.events[index]
        if self.transform is not None:
            events = self.transform(events)
        return events, self.labels[index]


def digits_datasets(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's digits (1,797 real 8x8 handwritten digits) as ``(train, test)``
    ``TensorDataset``\\ s of pixel intensities in [0, 1] ([64] float32) and labels, split with
    stratification. Spike-encode them per batch with :mod:`neurosim.training.encoders`."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise ImportError("the digits data set comes with scikit-learn: pip install scikit-learn") from e
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    to_ds = lambda a, b: torch.utils.data.TensorDataset(torch.from_numpy(a), torch.from_numpy(b))
    return to_ds(x_tr, y_tr), to_ds(x_te, y_te)
