"""A training monitor: every K steps, the sharpness of the loss on a fixed batch beside 2/eta for the
current learning rate, the gradient norm and the spike rates; a CSV log and a plot."""

from __future__ import annotations

import csv
import math
import os
import time
from typing import Dict, List, Optional, Sequence

import torch

from neurosim.diagnostics.hessian import preserved, sharpness
from neurosim.diagnostics.hvp import HVP_METHODS


class SharpnessMonitor:
    """A :class:`neurosim.training.Trainer` callback tracking the edge of stability.

    Every ``every`` training steps (and at step 1) it measures, on one fixed measurement batch:
    the top-``k`` Hessian eigenvalues of the training loss (:func:`neurosim.diagnostics.sharpness`,
    Lanczos warm-started from the previous top eigenvector), ``2 / lr`` for the optimizer's current
    learning rate (the stability threshold of plain gradient descent), the loss and gradient norm
    on that batch, and the spike rate of each neuron layer. Rows go to ``records`` and, with
    ``log_dir``, to ``log_dir/diagnostics.csv``; each epoch's last values are added to the epoch
    row (``metrics.csv``) as ``sharpness``, ``two_over_lr`` and ``grad_norm``.

    Args:
        every: measure every this many steps (batches).
        k, max_iter, tol, hvp: passed to :func:`sharpness`. Warm starts make the default
            ``tol=1e-2`` (eigenvalue error about 1e-4 relative) stop after a few products.
        data: ``(x, y)`` raw samples for the measurement batch (encoded once by the trainer's
            encoder); default: the first training batch. Use the whole (small) training set for
            full-batch sharpness.
        log_dir: where to write ``diagnostics.csv``.

    The measurement leaves the model's parameters, buffers, the random generators and the
    optimizer untouched, so a run with the monitor trains exactly like one without.
    """

    def __init__(self, every: int = 100, *, k: int = 1, max_iter: int = 20, tol: float = 1e-2, hvp: str = "auto",
                 data: Optional[Sequence[torch.Tensor]] = None, log_dir: Optional[str] = None):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected a positive int, got {every!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k: expected a positive int, got {k!r}")
        if hvp not in HVP_METHODS:
            raise ValueError(f"hvp: expected one of {HVP_METHODS}, got {hvp!r}")
        if data is not None and (not isinstance(data, (tuple, list)) or len(data) != 2):
            raise ValueError("data: expected an (inputs, targets) pair")
        self.every, self.k, self.max_iter, self.tol, self.hvp = every, k, max_iter, tol, hvp
        self.data = data
        self.log_dir = log_dir
        self.records: List[Dict[str, float]] = []
        self._batch = None
        self._vector: Optional[torch.Tensor] = None
        self._columns: Optional[List[str]] = None
        self.seconds = 0.0

    def _measurement_batch(self, trainer, x, y):
        if self._batch is None:
            x, y = self.data if self.data is not None else (x, y)
            if x is None or y is None:
                raise ValueError("SharpnessMonitor.measure: no measurement batch yet; pass x, y or data=(x, y)")
            devices = [trainer.device.index or 0] if trainer.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):  # encoding draws random numbers: not the run's
                self._batch = (trainer.prepare_inputs(x).detach(), y.to(trainer.device))
        return self._batch

    def on_train_step(self, trainer, x, y) -> None:
        step = trainer.global_step
        if not trainer.dist.is_main or not (step == 1 or step % self.every == 0):
            return
        self.measure(trainer, x, y)

    def measure(self, trainer, x=None, y=None) -> Dict[str, float]:
        """One measurement now (the batch ``x, y`` fixes the measurement batch if none is yet)."""
        started = time.perf_counter()
        xm, ym = self._measurement_batch(trainer, x, y)
        model = trainer.module
        params = [p for p in model.parameters() if p.requires_grad]
        loss_fn = lambda: trainer.loss_fn(model(xm), ym)
        result = sharpness(loss_fn, params, k=self.k, max_iter=self.max_iter, tol=self.tol, hvp=self.hvp,
                           init=self._vector, module=model)
        self._vector = result.eigenvectors[0]
        lr = float(trainer.optimizer.param_groups[0]["lr"])
        row: Dict[str, float] = {"step": trainer.global_step, "epoch": trainer.epoch + 1,
                                 "sharpness": float(result), "two_over_lr": 2.0 / lr if lr > 0 else math.inf,
                                 "lr": lr, "loss": result.loss, "grad_norm": result.grad_norm}
        for i in range(1, len(result.eigenvalues)):
            row[f"eigenvalue_{i + 1}"] = float(result.eigenvalues[i])
        row.update(self._spike_rates(model, xm, params))
        row.update({"hvps": result.num_hvps, "hvp_method": result.hvp_method})
        self.seconds += time.perf_counter() - started
        row["seconds"] = time.perf_counter() - started
        self.records.append(row)
        self._write(row)
        return row

    @staticmethod
    def _spike_rates(model, xm, params) -> Dict[str, float]:
        from neurosim.training.monitors import SpikeRateMonitor

        monitor = SpikeRateMonitor(model)
        if not monitor.layers:
            return {}
        with preserved(params, model), torch.no_grad(), monitor:
            model(xm)
        return {f"rate/{name}": rate for name, rate in monitor.rates().items()}

    def _write(self, row: Dict[str, float]) -> None:
        if self.log_dir is None:
            return
        os.makedirs(self.log_dir, exist_ok=True)
        path = os.path.join(self.log_dir, "diagnostics.csv")
        if self._columns is None:
            self._columns = list(row)
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(self._columns)
        elif any(k not in self._columns for k in row):  # e.g. a resumed file from other settings
            self._columns += [k for k in row if k not in self._columns]
            with open(path, newline="") as f:
                old = list(csv.DictReader(f))
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(self._columns)
                for r in old:
                    csv.writer(f).writerow([r.get(c, "") for c in self._columns])
        with open(path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self._columns])

    def resume(self, global_step: int) -> None:
        """Continues ``log_dir/diagnostics.csv`` after a resume at ``global_step``: the rows of
        measurements up to that step are kept (those of an interrupted attempt past it dropped)
        and new rows are appended under the same header. The measurement batch is not in a
        checkpoint: a resumed run measures on its first batch after the resume, so its values
        differ from an uninterrupted run's."""
        if self.log_dir is None:
            return
        path = os.path.join(self.log_dir, "diagnostics.csv")
        if not os.path.isfile(path):
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            rows = [r for r in reader if (r.get("step") or "").isdigit() and int(r["step"]) <= global_step]
        if "step" not in columns:
            return
        self._columns = columns
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for r in rows:
                writer.writerow([r.get(c, "") for c in columns])

    def on_epoch_end(self, trainer, epoch: int) -> Dict[str, float]:
        if not self.records:
            return {}
        last = self.records[-1]
        return {"sharpness": last["sharpness"], "two_over_lr": last["two_over_lr"], "grad_norm": last["grad_norm"]}

    def plot(self, path: Optional[str] = None, title: str = "sharpness vs the 2/eta threshold"):
        """Sharpness and 2/eta against the training step (a matplotlib Figure; saved to ``path``)."""
        return plot_sharpness(self.records, path, title)


def plot_sharpness(records: Sequence[Dict[str, float]], path: Optional[str] = None,
                   title: str = "sharpness vs the 2/eta threshold"):
    """Sharpness (top Hessian eigenvalue) and ``2/eta`` against the step, with the loss beneath."""
    from matplotlib.figure import Figure

    if not records:
        raise ValueError("records: nothing measured yet")
    steps = [r["step"] for r in records]
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    top.plot(steps, [r["sharpness"] for r in records], "o-", ms=3, label="sharpness (top Hessian eigenvalue)")
    top.plot(steps, [r["two_over_lr"] for r in records], "--", color="black", label="2 / lr")
    top.set_ylabel("curvature")
    top.set_title(title)
    top.legend(fontsize=8)
    bottom.plot(steps, [r["loss"] for r in records], color="tab:red")
    bottom.set_ylabel("loss (measurement batch)")
    bottom.set_xlabel("step")
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
