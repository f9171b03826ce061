"""Checkpoints written atomically and loaded with ``torch.load(weights_only=True)``.

Writing: a temporary file in the checkpoint's folder, ``fsync``, then a rename over the old file, so
a crash leaves the old or the new checkpoint, never a partial one; temporary files that killed
writers left behind are removed by the next writer. Loading: every member of the archive is checked
against its CRC-32 first, so a flipped byte raises :class:`CheckpointError` instead of loading
changed optimizer moments or RNG states.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
import zipfile
from typing import Any, Dict

import torch

REQUIRED_KEYS = ("model", "optimizer", "epoch", "rng")


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt, not a neurosim training checkpoint, does not
    fit the model, or cannot be written."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def _temp_prefix(path: str) -> str:
    return os.path.basename(path) + "."


def _temp_name_parts():
    # host and pid in the name let a later writer tell a dead writer's leftover from a live one
    return f"{socket.gethostname()}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path) -> list:
    """Deletes the temporary files of writers of ``path`` that died before their rename (same host,
    process gone). Returns the removed paths."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    prefix, host = _temp_prefix(path), socket.gethostname()
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        parts = name[len(prefix):].split(".")
        # <host>.<pid>.<random>.tmp; host names may hold dots, the pid is the third part from the end
        if len(parts) < 4 or ".".join(parts[:-3]) != host or not parts[-3].isdigit():
            continue
        pid = int(parts[-3])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            os.unlink(os.path.join(folder, name))
            removed.append(os.path.join(folder, name))
        except OSError:
            pass
    return removed


def _new_file_mode() -> int:
    """The mode ``open()`` gives a new file (0666 less the umask); mkstemp's 0600 would hide
    checkpoints from the rest of a group."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def check_writable(path) -> None:
    """Raises :class:`CheckpointError` naming ``path`` when a checkpoint could not be written there
    (a folder, a missing or read-only parent): called before training starts, so a bad path does not
    cost an epoch."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint path {path} is a directory; give a file name such as {path}/ck.pt")
    folder = os.path.dirname(os.path.abspath(path))
    parent = folder
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise CheckpointError(f"cannot write checkpoint {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CheckpointError(f"cannot write checkpoint {path}: {parent} is not writable")
    if os.path.exists(path) and not os.access(path, os.W_OK) and not os.access(folder, os.W_OK):
        raise CheckpointError(f"cannot write checkpoint {path}: the file and its folder are read-only")


def save_checkpoint(path, payload: Dict[str, Any]) -> None:
    """Writes ``payload`` to ``path`` atomically: to a temporary file in the same folder, flushed
    and fsynced, then renamed over ``path`` (and the folder fsynced) — a crash leaves either the old
    or the new file, never a partial one. Raises :class:`CheckpointError` naming the file when it
    cannot be written (full disk, read-only folder, a directory in the way)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint path {path} is a directory; give a file name such as {path}/ck.pt")
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path) + _temp_name_parts(), suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), _new_file_mode())
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(folder)
    except (OSError, RuntimeError) as e:
        # torch.save reports a full disk as RuntimeError "[enforce fail at inline_container.cc] ..."
        reason = _first_line(e)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC or "write failed" in str(e) \
                or "No space" in str(e):
            free = shutil.disk_usage(folder).free if os.path.isdir(folder) else 0
            reason = f"no space left on the device ({free} bytes free): {reason}"
        raise CheckpointError(f"cannot write checkpoint {path}: {reason}") from e
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _fsync_folder(folder: str) -> None:
    """Makes the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def verify_archive(path) -> None:
    """Checks that ``path`` is a zip archive (torch's format) whose every member matches its CRC-32.
    Raises :class:`CheckpointError` naming the file (and the damaged member)."""
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt: not a readable zip archive "
                              f"({_first_line(e)})") from e
    except Exception as e:  # zlib errors, bad compression types, an unreadable member: the archive is damaged
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt: {_first_line(e)}") from e
    if bad is not None:
        raise CheckpointError(f"checkpoint {path} is corrupt: member {bad!r} fails its CRC-32 check "
                              "(the file changed after it was written)")


def _check_readable(path: str, what: str = "checkpoint") -> None:
    if not os.path.exists(path):
        raise CheckpointError(f"{what} not found: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"{what} {path} is a directory, not a checkpoint file")
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"{what} {path} is not readable (permission denied)")


def load_checkpoint(path, map_location="cpu") -> Dict[str, Any]:
    """Loads a checkpoint written by :func:`save_checkpoint` with ``weights_only=True`` (no
    arbitrary code runs), after checking every archive member against its CRC-32. Raises
    :class:`CheckpointError` naming the file when it is missing, a directory, unreadable, truncated
    or corrupt, or lacks the keys a training checkpoint has."""
    path = os.fspath(path)
    _check_readable(path)
    verify_archive(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt and cannot be loaded: "
                              f"{_first_line(e)}") from e
    if not isinstance(payload, dict) or any(k not in payload for k in REQUIRED_KEYS):
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {path} is not a neurosim training checkpoint: expected keys "
                              f"{list(REQUIRED_KEYS)}, found {found}")
    return payload
