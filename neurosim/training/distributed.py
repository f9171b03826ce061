"""Multi-process data-parallel training under ``torchrun``: process group set-up from the
environment torchrun provides, and sums across processes."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import List, Optional

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


DEFAULT_TIMEOUT_S = 300.0


class RendezvousError(RuntimeError):
    """The torchrun environment is incomplete, or the other processes never joined."""


def _env_int(name: str, default=None) -> int:
    text = os.environ.get(name)
    if text is None:
        if default is None:
            raise RendezvousError(f"environment variable WORLD_SIZE={os.environ.get('WORLD_SIZE')} is set but "
                                  f"{name} is not: launch with torchrun (which sets RANK, LOCAL_RANK, "
                                  "MASTER_ADDR, MASTER_PORT), or unset WORLD_SIZE for one process")
        return default
    try:
        value = int(text)
    except ValueError:
        raise RendezvousError(f"environment variable {name} must be an integer, got {text!r}") from None
    if value < 0:
        raise RendezvousError(f"environment variable {name} must be >= 0, got {value}")
    return value


def init_distributed(device: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT_S,
                     log=None) -> DistContext:
    """Joins the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1): gloo on CPU,
    nccl on CUDA. Returns a single-process context otherwise.

    The environment is checked first (a stale ``WORLD_SIZE`` without ``RANK``, a rank outside the
    world, no ``MASTER_ADDR``/``MASTER_PORT``), and the rendezvous waits at most ``timeout``
    seconds (torch's own default is 30 minutes of silence): ``log`` (e.g. ``print``) is told what
    it waits for, and :class:`RendezvousError` says who did not come."""
    if os.environ.get("WORLD_SIZE") is None:
        return DistContext()
    world_size = _env_int("WORLD_SIZE")
    if world_size < 1:
        raise RendezvousError(f"environment variable WORLD_SIZE must be >= 1, got {world_size}")
    if world_size == 1:
        return DistContext()
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK", 0)
    if rank >= world_size:
        raise RendezvousError(f"environment variable RANK={rank} is outside WORLD_SIZE={world_size}")
    if not timeout > 0:
        raise ValueError(f"timeout: expected seconds > 0, got {timeout!r}")
    if not dist.is_initialized():
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if not os.environ.get(name):
                raise RendezvousError(f"WORLD_SIZE={world_size} and RANK={rank} are set but {name} is not: "
                                      "launch with torchrun, or unset WORLD_SIZE and RANK for one process")
        where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
        if log is not None:
            log(f"rank {rank}: waiting up to {timeout:g} s for all {world_size} processes to join at {where} "
                "(WORLD_SIZE/RANK from the environment)")
        use_cuda = (device or "").startswith("cuda")
        if use_cuda:
            torch.cuda.set_device(local_rank)
        try:
            dist.init_process_group(backend="nccl" if use_cuda else "gloo", timeout=timedelta(seconds=timeout))
        except (RuntimeError, ValueError, OSError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RendezvousError(f"rank {rank} of WORLD_SIZE={world_size}: the processes did not all join at "
                                  f"{where} within {timeout:g} s ({first}); start every rank with torchrun, "
                                  "raise the timeout, or unset WORLD_SIZE and RANK for one process") from e
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank)


def current_context() -> DistContext:
    """The context of an already joined process group (single process when none)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext()


def group_alive() -> bool:
    """Whether this process is in a process group now (not before init or after shutdown)."""
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum(values: List[float], device) -> List[float]:
    """Element-wise sum of ``values`` over all processes (the values themselves without a group)."""
    if not group_alive():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def shutdown() -> None:
    """Leaves the process group once every process got here (tearing gloo down while a peer is
    still talking to it aborted the process in about half of the runs). Close the trainers first
    (:meth:`Trainer.close`): a DDP wrapper freed during interpreter finalization can abort the
    process."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        gc.collect()  # free what was left in reference cycles now, not during interpreter finalization
