"""Seeding and capture/restore of every random number generator a training run draws from."""

from __future__ import annotations

import random
from typing import Dict

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seeds Python's ``random``, NumPy's global generator and torch (CPU and all GPUs)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> Dict:
    """The state of all global generators, as tensors and plain Python values only (so that a
    checkpoint holding it loads with ``torch.load(weights_only=True)``)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def check_rng_state(state) -> None:
    """Raises ValueError naming the entry when ``state`` is not what :func:`rng_state` captures
    (so that a damaged checkpoint is refused before any generator changes)."""
    if not isinstance(state, dict):
        raise ValueError(f"rng: expected a dict of generator states, got {type(state).__name__}")
    shapes = {"python": ("version", "internal", "gauss"), "numpy": ("kind", "keys", "pos", "has_gauss", "cached")}
    for name, keys in shapes.items():
        entry = state.get(name)
        if not isinstance(entry, dict) or any(k not in entry for k in keys):
            raise ValueError(f"rng: entry {name!r} is missing or malformed (expected keys {list(keys)})")
    if not isinstance(state["python"]["internal"], torch.Tensor) or state["python"]["internal"].numel() != 625:
        raise ValueError("rng: entry 'python' holds no Mersenne Twister state (625 integers)")
    if not isinstance(state["numpy"]["keys"], torch.Tensor) or state["numpy"]["keys"].numel() != 624:
        raise ValueError("rng: entry 'numpy' holds no Mersenne Twister state (624 integers)")
    gen = state.get("torch")
    if not isinstance(gen, torch.Tensor) or gen.dtype != torch.uint8:
        raise ValueError("rng: entry 'torch' must be torch's byte-tensor generator state")
    cuda = state.get("cuda")
    if cuda is not None and (not isinstance(cuda, (list, tuple))
                             or not all(isinstance(c, torch.Tensor) and c.dtype == torch.uint8 for c in cuda)):
        raise ValueError("rng: entry 'cuda' must be a list of byte-tensor generator states")


def set_rng_state(state: Dict) -> None:
    """Restores what :func:`rng_state` captured (ValueError naming the entry when it is malformed;
    nothing changes then)."""
    check_rng_state(state)
    previous = rng_state()
    try:
        _set_rng_state(state)
    except (ValueError, TypeError, RuntimeError, IndexError) as e:
        _set_rng_state(previous)
        raise ValueError(f"rng: the generator state cannot be restored: {e}") from e


def _set_rng_state(state: Dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
