"""The native event-driven outer-product sum ``scale * events^T @ dense`` (CPU; see
cuda_kernels/include/neurosim/events.h): fake registration and the pure-PyTorch reference.

It is a plasticity accumulator, not part of a differentiable model, so it has no autograd formula.
"""

from __future__ import annotations

import torch

from neurosim.core.backends import native_built


def _fake_event_matmul(events, dense, scale):
    acc = torch.float64 if events.dtype == torch.float64 else torch.float32
    return events.new_empty((events.shape[1], dense.shape[1]), dtype=acc)


if native_built():
    torch.library.register_fake("neurosim::event_matmul")(_fake_event_matmul)


def event_matmul_reference(events: torch.Tensor, dense: torch.Tensor, scale: float) -> torch.Tensor:
    acc = torch.float64 if events.dtype == torch.float64 else torch.float32
    return scale * events.to(acc).transpose(0, 1).matmul(dense.to(acc))


def event_matmul_native(events: torch.Tensor, dense: torch.Tensor, scale: float) -> torch.Tensor:
    """``scale * events^T @ dense`` visiting only the nonzero entries of events [S, n_a] (contiguous)."""
    return torch.ops.neurosim.event_matmul(events, dense, scale)
