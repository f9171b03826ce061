"""Checkpoints written atomically and loaded with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict

import torch

REQUIRED_KEYS = ("model", "optimizer", "epoch", "rng")


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt, or not a neurosim training checkpoint."""


def save_checkpoint(path, payload: Dict[str, Any]) -> None:
    """Writes ``payload`` to ``path`` atomically: to a temporary file in the same folder, flushed
    to disk, then renamed over ``path`` — a crash leaves either the old or the new file, never a
    partial one."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path, map_location="cpu") -> Dict[str, Any]:
    """Loads a checkpoint written by :func:`save_checkpoint` with ``weights_only=True`` (no
    arbitrary code runs). Raises :class:`CheckpointError` naming the file when it is missing,
    truncated or corrupt, or lacks the keys a training checkpoint has."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt and cannot be loaded: "
                              f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    if not isinstance(payload, dict) or any(k not in payload for k in REQUIRED_KEYS):
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {path} is not a neurosim training checkpoint: expected keys "
                              f"{list(REQUIRED_KEYS)}, found {found}")
    return payload
