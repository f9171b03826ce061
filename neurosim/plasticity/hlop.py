"""HLOP: Hebbian-learning-based orthogonal projection for continual learning
(Xiao, Meng, Zhang, He, Lin, ICLR 2024).

Each layer gets k lateral neurons with weights H [k, n_in] driven by the layer's presynaptic
activity x. Oja's subspace rule (Hebbian ``y x^T`` plus anti-Hebbian ``-y y^T H``, with ``y = H x``)
makes the rows of H an orthonormal basis of the principal subspace of x. After a task its rows
are frozen; while later tasks are learned, the weight update uses the presynaptic activity with
that subspace removed, ``x~ = x - H^T (H x)``, so old tasks' inputs see (almost) no change.
For a linear layer ``dW = -lr delta x~^T = -lr grad (I - H^T H)``: projecting the weight gradient
is exactly the same as projecting the presynaptic activity.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from neurosim.plasticity._checks import check_finite, check_number, check_tensor
from neurosim.plasticity.rules import hebbian


class HebbianProjection(nn.Module):
    """The lateral subspace circuit of one layer with ``n_in`` presynaptic neurons.

    ``frozen`` holds the rows learned on earlier tasks (the protected subspace), ``active`` the
    rows being learned on the current task. Typical use per task: :meth:`add_components`, then
    :meth:`learn` on batches of the task's presynaptic activity (while the layer trains with
    :func:`project_gradient`), then :meth:`consolidate`.

    Args:
        n_in: presynaptic size.
        lr: Hebbian learning rate (the paper's beta: 0.001 for input layers, 0.01 for hidden ones).
        clip: bound on each element of one update (the authors clip to +-10).
    """

    def __init__(self, n_in: int, lr: float = 0.01, clip: float = 10.0):
        super().__init__()
        if isinstance(n_in, bool) or not isinstance(n_in, int) or n_in < 1:
            raise ValueError(f"n_in: expected a positive int, got {n_in!r}")
        self.n_in = n_in
        self.lr = check_number(lr, "lr", positive=True)
        self.clip = check_number(clip, "clip", positive=True)
        self.register_buffer("frozen", torch.zeros(0, n_in))
        self.register_buffer("active", torch.zeros(0, n_in))

    @property
    def basis(self) -> torch.Tensor:
        """All lateral weights H [k_frozen + k_active, n_in]."""
        return torch.cat([self.frozen, self.active])

    def add_components(self, k: int, generator: Optional[torch.Generator] = None) -> None:
        """Adds k new lateral neurons, initialised orthonormal to each other and to the frozen rows."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k: expected a non-negative int, got {k!r}")
        if self.frozen.shape[0] + self.active.shape[0] + k > self.n_in:
            raise ValueError(f"k: {k} more components would exceed the input dimension {self.n_in}")
        rows = torch.randn(k, self.n_in, generator=generator, dtype=self.frozen.dtype).to(self.frozen.device)
        previous = self.basis
        if previous.shape[0]:
            rows = rows - rows @ previous.T @ previous
        q, _ = torch.linalg.qr(rows.T)
        self.active = torch.cat([self.active, q.T.contiguous()])

    def learn(self, x: torch.Tensor, iterations: int = 1) -> None:
        """Oja-subspace updates of the active rows from presynaptic activity x [..., n_in]:
        ``y = H x`` over all rows, ``dH_active = lr <y_a x^T - y_a y^T H>`` (clipped)."""
        check_tensor(x, "x", (2, 3))
        if x.shape[-1] != self.n_in:
            raise ValueError(f"x: expected {self.n_in} features in the last dim, got {x.shape[-1]}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"iterations: expected a non-negative int, got {iterations!r}")
        # one NaN/inf sample would make every row NaN for good (the clip keeps NaN), and with them
        # every gradient projected for all later tasks
        check_finite(x, "x")
        if self.active.shape[0] == 0:
            return
        samples = x.detach().reshape(-1, self.n_in).to(self.active.dtype)
        k_frozen = self.frozen.shape[0]
        for _ in range(iterations):
            h = self.basis
            y = samples @ h.T
            y_active = y[:, k_frozen:]
            dh = hebbian(samples, y_active, self.lr) - hebbian(y, y_active, self.lr) @ h
            self.active = self.active + dh.clamp(-self.clip, self.clip)

    def consolidate(self) -> None:
        """Freezes the active rows (end of a task): their subspace is protected from now on."""
        self.frozen = torch.cat([self.frozen, self.active])
        self.active = self.active.new_zeros(0, self.n_in)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Removes the frozen subspace from activity or gradient rows: ``x - (x H^T) H``."""
        check_tensor(x, "x", tuple(range(1, 9)))
        if x.shape[-1] != self.n_in:
            raise ValueError(f"x: expected {self.n_in} features in the last dim, got {x.shape[-1]}")
        if self.frozen.shape[0] == 0:
            return x
        h = self.frozen.to(x.dtype)
        return x - (x @ h.T) @ h


def project_gradient(weight: torch.Tensor, projection: HebbianProjection) -> None:
    """Projects ``weight.grad`` [n_out, n_in] in place onto the complement of the frozen subspace
    of the layer's input: ``grad <- grad (I - H^T H)``, i.e. the gradient computed from ``x~``."""
    if not isinstance(weight, torch.Tensor) or weight.grad is None:
        raise ValueError("weight: needs a .grad to project (call loss.backward() first)")
    if weight.dim() != 2 or weight.shape[1] != projection.n_in:
        raise ValueError(f"weight: expected [n_out, {projection.n_in}], got {tuple(weight.shape)}")
    with torch.no_grad():
        weight.grad.copy_(projection.project(weight.grad))
