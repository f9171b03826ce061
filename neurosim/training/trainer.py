"""``Trainer``: surrogate-gradient BPTT for time-major spiking models, on one or many processes."""

from __future__ import annotations

import atexit
import gc
import time
import weakref
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler, Subset

from neurosim.training import checkpoint as ckpt
from neurosim.training.distributed import all_reduce_sum, current_context, group_alive
from neurosim.training.logs import EpochLogger
from neurosim.training.losses import get_loss, predictions
from neurosim.training.monitors import SpikeRateMonitor
from neurosim.training.seeding import check_rng_state, rng_state, seed_everything, set_rng_state


def _detach(state):
    """``state`` with every tensor detached, nested containers rebuilt with their own types."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        # a NamedTuple (ALIFState, SynapticState, ...) takes its fields as positional arguments
        return type(state)(*(_detach(s) for s in state))
    if isinstance(state, (list, tuple)):
        return type(state)(_detach(s) for s in state)
    if isinstance(state, dict):
        return {k: _detach(v) for k, v in state.items()}
    return state


_open_distributed = weakref.WeakSet()


@atexit.register
def _close_open_trainers() -> None:
    """Scripts that never call :meth:`Trainer.close` get it at exit, while the interpreter is still
    whole (a DDP wrapper freed during finalization can abort the process)."""
    for trainer in list(_open_distributed):
        trainer.close()
    gc.collect()


def _count(payload: Dict, key: str, path, default=None) -> int:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ckpt.CheckpointError(f"checkpoint {path}: malformed {key!r} entry: expected an integer >= 0, "
                                   f"got {value!r}")
    return value


HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy")
"""The entries every history row of a checkpoint has (others, such as val_* and lr, may be absent)."""


def check_training_state(payload: Dict, path) -> tuple:
    """Checks the entries of a training checkpoint that no model or optimizer check covers, and
    returns ``(epoch, global_step, history)``: ``epoch`` and ``global_step`` integers >= 0, the
    history a list of one dict per finished epoch (as many as ``epoch``), the RNG states
    well-formed. :class:`CheckpointError` naming the file and the entry otherwise. Cheap: callers
    run it before any data is prepared."""
    epoch = _count(payload, "epoch", path)
    global_step = _count(payload, "global_step", path, 0)
    history = payload.get("history", [])
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise ckpt.CheckpointError(f"checkpoint {path}: 'history' must be a list of per-epoch dicts, got "
                                   f"{type(history).__name__}")
    for i, row in enumerate(history, 1):  # the entries a resumed fit and neurosim train read
        for key in HISTORY_KEYS:
            value = row.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ckpt.CheckpointError(f"checkpoint {path}: history row {i} needs a number {key!r}, got "
                                           f"{value!r}")
        if row["epoch"] != i:
            raise ckpt.CheckpointError(f"checkpoint {path}: history row {i} has 'epoch' {row['epoch']!r}")
    if "history" in payload and len(history) != epoch:
        raise ckpt.CheckpointError(f"checkpoint {path} is inconsistent: 'epoch' says {epoch} epochs are done, "
                                   f"its history holds {len(history)}")
    try:
        check_rng_state(payload["rng"])
    except ValueError as e:
        raise ckpt.CheckpointError(f"checkpoint {path}: {e}") from e
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ckpt.CheckpointError(f"checkpoint {path}: 'metadata' must be a dict, got {type(metadata).__name__}")
    return epoch, global_step, history


class Trainer:
    """Trains a model mapping ``x[T, B, ...]`` to outputs ``[T, B, classes]`` (spikes or readout).

    Args:
        model: the network. Under ``torchrun`` it is wrapped in DistributedDataParallel.
        optimizer: any ``torch.optim`` optimizer over ``model``'s parameters.
        loss: "ce_count", "ce_mean", "mse_count" (see :mod:`neurosim.training.losses`) or a
            callable ``(out, targets) -> scalar``.
        scheduler: a learning-rate scheduler, stepped once per epoch (``scheduler_step="epoch"``)
            or once per optimizer step ("batch").
        encoder: ``x[B, ...] -> x[T, B, ...]`` applied to each batch on the device (e.g.
            ``neurosim.training.encoders.make_encoder("rate", 25)``); None when the data are
            time-major already.
        tbptt_steps: truncated BPTT: run the sequence in chunks of this many steps, with a loss,
            backward and optimizer step per chunk and the neuron state detached between chunks.
            The model must accept ``model(x, state=..., return_state=True) -> (out, state)``.
        clip_grad_norm: clip the global gradient norm to this value before each step.
        batch_size / shuffle / collate_fn / num_workers: how data sets are batched. The order of
            each epoch depends only on ``seed`` and the epoch, which makes resumed runs exact.
        seed: seeds every generator at construction (:func:`seed_everything`).
        log_dir: write ``metrics.csv`` (and TensorBoard files if installed) there.
        progress: a tqdm bar per epoch with the running loss and accuracy.
        callbacks: objects called during :meth:`fit` (e.g.
            :class:`neurosim.diagnostics.SharpnessMonitor`). Each may define
            ``on_train_step(trainer, x, y)``, called after every batch's optimizer step(s) with the raw
            batch (``trainer.global_step`` counts batches from 1), and ``on_epoch_end(trainer, epoch)``,
            which may return a dict of numbers added to that epoch's history row and ``metrics.csv``.
            Forward passes a callback makes are not counted in the epoch's spike rates.
        checkpoint_metadata: a dict of plain values (str, numbers, None, lists, dicts) written into
            every checkpoint as ``"metadata"`` (``neurosim train`` records its run configuration
            there); :meth:`load_checkpoint` sets ``loaded_metadata`` to the checkpoint's.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, *, loss="ce_count", scheduler=None,
                 scheduler_step: str = "epoch", encoder: Optional[Callable] = None, device=None,
                 tbptt_steps: Optional[int] = None, clip_grad_norm: Optional[float] = None,
                 batch_size: int = 64, eval_batch_size: Optional[int] = None, shuffle: bool = True,
                 collate_fn: Optional[Callable] = None, num_workers: int = 0, seed: int = 0,
                 log_dir: Optional[str] = None, tensorboard: bool = True, progress: bool = True,
                 callbacks: Sequence = (), checkpoint_metadata: Optional[Dict] = None):
        if scheduler_step not in ("epoch", "batch"):
            raise ValueError(f"scheduler_step must be 'epoch' or 'batch', got {scheduler_step!r}")
        if tbptt_steps is not None and (not isinstance(tbptt_steps, int) or tbptt_steps < 1):
            raise ValueError(f"tbptt_steps must be a positive int or None, got {tbptt_steps!r}")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"clip_grad_norm must be > 0 or None, got {clip_grad_norm!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        seed_everything(seed)
        self.dist = current_context()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.module = model.to(self.device)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.module, device_ids=ids)
            _open_distributed.add(self)
        else:
            self.model = self.module
        self._closed = False
        self.optimizer = optimizer
        self.loss_fn = get_loss(loss)
        self.scheduler = scheduler
        self.scheduler_step = scheduler_step
        self.encoder = encoder
        self.tbptt_steps = tbptt_steps
        self.clip_grad_norm = clip_grad_norm
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.shuffle = shuffle
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.seed = seed
        self.progress = progress
        self.log_dir = log_dir if self.dist.is_main else None
        self.tensorboard = tensorboard
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not (hasattr(cb, "on_train_step") or hasattr(cb, "on_epoch_end")):
                raise TypeError(f"callbacks: {type(cb).__name__} has neither on_train_step nor on_epoch_end")
        self.checkpoint_metadata = checkpoint_metadata
        self.loaded_metadata: Optional[Dict] = None
        self.epoch = 0
        self.global_step = 0
        self.history: List[Dict[str, float]] = []

    # ---------------------------------------------------------------- data
    def _train_loader(self, data, epoch: int):
        if isinstance(data, DataLoader):
            if isinstance(getattr(data, "sampler", None), DistributedSampler):
                data.sampler.set_epoch(epoch)
            return data
        if self.dist.enabled:
            sampler = DistributedSampler(data, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                         shuffle=self.shuffle, seed=self.seed)
            sampler.set_epoch(epoch)
        elif self.shuffle:
            # epoch order from (seed, epoch) alone, so a resumed run sees the same batches
            sampler = RandomSampler(data, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        else:
            sampler = SequentialSampler(data)
        return DataLoader(data, batch_size=self.batch_size, sampler=sampler, collate_fn=self.collate_fn,
                          num_workers=self.num_workers)

    def _eval_loader(self, data, shard: bool):
        if isinstance(data, DataLoader):
            return data
        # each process evaluates its own slice and the sums are reduced, while the group exists
        # (after shutdown() each process evaluates everything: no slice would be summed)
        if shard and self.dist.enabled and group_alive():
            data = Subset(data, range(self.dist.rank, len(data), self.dist.world_size))
        return DataLoader(data, batch_size=self.eval_batch_size, shuffle=False, collate_fn=self.collate_fn,
                          num_workers=self.num_workers)

    def prepare_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """A batch as the model sees it: on the trainer's device, encoded to [T, B, ...]."""
        x = x.to(self.device, non_blocking=True)
        x = self.encoder(x) if self.encoder is not None else x
        if x.dim() < 3:
            raise ValueError(f"model input must be time-major [T, B, ...], got shape {tuple(x.shape)}; "
                             "pass an encoder for static data")
        return x

    # ---------------------------------------------------------------- steps
    def _optimizer_step(self) -> None:
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.module.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        if self.scheduler is not None and self.scheduler_step == "batch":
            self.scheduler.step()

    def train_step(self, x: torch.Tensor, y: torch.Tensor):
        """One batch: forward, loss, backward, optimizer step (one per chunk with TBPTT).
        Returns (mean loss, the detached outputs [T, B, C])."""
        if self._closed and self.dist.enabled:
            raise RuntimeError("train_step: this Trainer was closed (its DistributedDataParallel wrapper is gone); "
                               "build a new Trainer to train further")
        self.model.train()
        x, y = self.prepare_inputs(x), y.to(self.device)
        if self.tbptt_steps is None:
            out = self.model(x)
            loss = self.loss_fn(out, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self._optimizer_step()
            return loss.item(), out.detach()
        state, outs, losses = None, [], []
        for start in range(0, x.shape[0], self.tbptt_steps):
            out, state = self.model(x[start:start + self.tbptt_steps], state=state, return_state=True)
            loss = self.loss_fn(out, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self._optimizer_step()
            state = _detach(state)  # the truncation: no gradient flows into earlier chunks
            outs.append(out.detach())
            losses.append(loss.item())
        return sum(losses) / len(losses), torch.cat(outs)

    def _run_epoch(self, data, epoch: int) -> Dict[str, float]:
        loader = self._train_loader(data, epoch)
        bar = self._bar(loader, f"epoch {epoch}")
        loss_sum = correct = count = 0.0
        monitor = SpikeRateMonitor(self.module)
        with monitor:
            for x, y in bar:
                loss, out = self.train_step(x, y)
                self.global_step += 1
                if self.callbacks:
                    with monitor.paused():
                        for cb in self.callbacks:
                            if hasattr(cb, "on_train_step"):
                                cb.on_train_step(self, x, y)
                n = y.shape[0]
                loss_sum += loss * n
                correct += (predictions(out).cpu() == y).sum().item()
                count += n
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{loss_sum / count:.4f}", acc=f"{correct / count:.3f}", refresh=False)
        loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], self.device)
        row = {"train_loss": loss_sum / max(count, 1), "train_accuracy": correct / max(count, 1)}
        row.update({f"rate/{k}": v for k, v in self._reduce_rates(monitor).items()})
        return row

    def _bar(self, iterable, desc: str):
        if not (self.progress and self.dist.is_main):
            return iterable
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm is optional; train silently without it
            return iterable
        return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True)

    def _reduce_rates(self, monitor: SpikeRateMonitor) -> Dict[str, float]:
        totals = sorted(monitor.totals())
        sums = all_reduce_sum([v for _, t, c in totals for v in (t, c)], self.device)
        return {name: sums[2 * i] / max(sums[2 * i + 1], 1) for i, (name, _, _) in enumerate(totals)}

    # ---------------------------------------------------------------- public API
    def _fixed_randomness(self):
        """Evaluation draws its random encoding (e.g. rate-coded spikes) from generators seeded by
        ``seed`` alone and leaves the training streams untouched: the same model scores the same
        on every call, and the final test line equals the last epoch's ``val_*`` line."""
        devices = [self.device] if self.device.type == "cuda" else []
        forked = torch.random.fork_rng(devices=devices)
        forked.__enter__()
        torch.manual_seed(self.seed * 100_003 + 99_991)
        return forked

    @torch.no_grad()
    def evaluate(self, data) -> Dict[str, float]:
        """Loss, accuracy and per-layer spike rates on ``data`` (split across processes). Random
        encoders draw the same spikes on every call (see ``seed``), without disturbing training's
        random streams."""
        forked = self._fixed_randomness()
        try:
            return self._evaluate(data)
        finally:
            forked.__exit__(None, None, None)

    def _evaluate(self, data) -> Dict[str, float]:
        self.module.eval()
        loss_sum = correct = count = 0.0
        monitor = SpikeRateMonitor(self.module)
        with monitor:
            for x, y in self._eval_loader(data, shard=True):
                out = self.module(self.prepare_inputs(x))
                y = y.to(self.device)
                loss_sum += self.loss_fn(out, y).item() * y.shape[0]
                correct += (predictions(out) == y).sum().item()
                count += y.shape[0]
        loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], self.device)
        result = {"loss": loss_sum / max(count, 1), "accuracy": correct / max(count, 1)}
        result.update({f"rate/{k}": v for k, v in self._reduce_rates(monitor).items()})
        return result

    @torch.no_grad()
    def predict(self, data, return_outputs: bool = False):
        """Predicted class per sample of ``data`` in order (and the outputs summed over time).
        Random encoders draw the same spikes as :meth:`evaluate` (so the predictions are the ones it
        scores, on every call), without disturbing training's random streams."""
        forked = self._fixed_randomness()
        try:
            return self._predict(data, return_outputs)
        finally:
            forked.__exit__(None, None, None)

    def _predict(self, data, return_outputs: bool):
        self.module.eval()
        preds, sums = [], []
        for batch in self._eval_loader(data, shard=False):
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            out = self.module(self.prepare_inputs(x))
            preds.append(predictions(out).cpu())
            sums.append(out.sum(0).cpu())
        preds = torch.cat(preds)
        return (preds, torch.cat(sums)) if return_outputs else preds

    def fit(self, train_data, val_data=None, epochs: int = 1, checkpoint: Optional[str] = None,
            resume: Optional[str] = None) -> List[Dict[str, float]]:
        """Trains until ``epochs`` epochs are done in total (a resumed run continues its count).

        ``checkpoint``: path written (atomically) after every epoch. ``resume``: a checkpoint to
        continue from — model, optimizer, scheduler, RNG states, epoch and history are restored,
        so the following epochs reproduce an uninterrupted run bit for bit on CPU.
        Returns the per-epoch history (train/val loss and accuracy, learning rate, spike rates).
        """
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
        if resume is not None:
            self.load_checkpoint(resume)
        # the log holds the epochs done (restored by a resume) and then the new ones
        logger = EpochLogger(self.log_dir, self.tensorboard, history=self.history) if self.log_dir else None
        try:
            while self.epoch < epochs:
                epoch = self.epoch + 1
                started = time.perf_counter()
                row = {"epoch": epoch, **self._run_epoch(train_data, epoch)}
                if val_data is not None:
                    row.update({f"val_{k}": v for k, v in self.evaluate(val_data).items()})
                row["lr"] = self.optimizer.param_groups[0]["lr"]
                for cb in self.callbacks:
                    if hasattr(cb, "on_epoch_end"):
                        row.update(cb.on_epoch_end(self, epoch) or {})
                if self.scheduler is not None and self.scheduler_step == "epoch":
                    self.scheduler.step()
                row["seconds"] = time.perf_counter() - started
                self.history.append(row)
                self.epoch = epoch
                if logger is not None:
                    logger.log(row)
                if self.progress and self.dist.is_main:
                    shown = {k: v for k, v in row.items() if "/" not in k and k != "epoch"}
                    print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()), flush=True)
                if checkpoint is not None and self.dist.is_main:
                    self.save_checkpoint(checkpoint)
        finally:
            if logger is not None:
                logger.close()
        return self.history

    def close(self) -> None:
        """Ends distributed use: drops the DistributedDataParallel wrapper, whose reducer holds the
        process group. Call it before :func:`neurosim.training.distributed.shutdown`: a wrapper
        still alive at interpreter exit is torn down during finalization, where gloo aborted the
        process (SIGABRT, "terminate called without an active exception") in about one run in
        twelve. Evaluating and saving still work (before shutdown() over the processes' slices,
        after it over all the data in each process); training raises, since its steps would no
        longer be averaged over the processes."""
        self.model = self.module
        self._closed = True
        _open_distributed.discard(self)

    def state_dict(self) -> Dict:
        state = {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "history": self.history,
            "rng": rng_state(),
        }
        if self.checkpoint_metadata is not None:
            state["metadata"] = self.checkpoint_metadata
        return state

    def save_checkpoint(self, path: str) -> None:
        """Writes model, optimizer, scheduler, RNG states, epoch and history atomically."""
        ckpt.save_checkpoint(path, self.state_dict())

    def _check_optimizer_state(self, state: Dict) -> None:
        """ValueError when a saved optimizer state cannot belong to this optimizer: other groups or
        parameter counts, or per-parameter buffers (Adam's moments, SGD's momentum) whose shape is not
        the parameter's. torch's own ``load_state_dict`` checks only the counts, and a wrong-shaped
        moment fails later, mid-epoch."""
        if not isinstance(state, dict) or not isinstance(state.get("param_groups"), list) \
                or not isinstance(state.get("state"), dict):
            raise ValueError("expected an optimizer state_dict with 'state' and 'param_groups'")
        groups = self.optimizer.param_groups
        saved_groups = state["param_groups"]
        if len(saved_groups) != len(groups):
            raise ValueError(f"{len(saved_groups)} parameter groups saved, the optimizer has {len(groups)}")
        params = {}
        for i, (saved, group) in enumerate(zip(saved_groups, groups)):
            ids = saved.get("params") if isinstance(saved, dict) else None
            if not isinstance(ids, list) or len(ids) != len(group["params"]):
                raise ValueError(f"parameter group {i} holds {len(ids) if isinstance(ids, list) else '?'} "
                                 f"parameters in the checkpoint and {len(group['params'])} in the optimizer")
            params.update(zip(ids, group["params"]))
        for pid, buffers in state["state"].items():
            if pid not in params:
                raise ValueError(f"state for parameter id {pid!r}, which no parameter group lists")
            param = params[pid]
            for name, value in (buffers.items() if isinstance(buffers, dict) else ()):
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                    raise ValueError(f"buffer {name!r} of parameter {pid} has shape {tuple(value.shape)}, "
                                     f"the parameter {tuple(param.shape)}")

    def load_checkpoint(self, path: str) -> None:
        """Restores what :meth:`save_checkpoint` wrote (``weights_only=True`` loading, CRCs checked).

        All or nothing: the model, optimizer, scheduler and RNG states are restored together, and
        when any part does not fit (a different model or optimizer, a damaged RNG entry) the trainer
        is left exactly as it was and :class:`CheckpointError` names the file and the part."""
        import copy

        payload = ckpt.load_checkpoint(path, map_location="cpu")  # load_state_dict copies to the device
        epoch, global_step, history = check_training_state(payload, path)
        try:
            self._check_optimizer_state(payload["optimizer"])
        except ValueError as e:
            raise ckpt.CheckpointError(f"checkpoint {path} does not fit this optimizer: {e} (nothing was loaded)") from e
        # snapshot everything that is about to change, so that a part that does not fit undoes the rest
        saved = ({k: v.detach().clone() for k, v in self.module.state_dict().items()},
                 copy.deepcopy(self.optimizer.state_dict()),
                 copy.deepcopy(self.scheduler.state_dict()) if self.scheduler is not None else None,
                 rng_state())
        part = "model"
        try:
            self.module.load_state_dict(payload["model"])
            part = "optimizer"
            self.optimizer.load_state_dict(payload["optimizer"])
            part = "scheduler"
            if self.scheduler is not None and payload.get("scheduler") is not None:
                self.scheduler.load_state_dict(payload["scheduler"])
            part = "rng"
            set_rng_state(payload["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
            self.module.load_state_dict(saved[0])
            self.optimizer.load_state_dict(saved[1])
            if saved[2] is not None:
                self.scheduler.load_state_dict(saved[2])
            set_rng_state(saved[3])
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ckpt.CheckpointError(f"checkpoint {path} does not fit this {part}: {first} "
                                       "(nothing was loaded)") from e
        self.epoch = epoch
        self.global_step = global_step
        self.history = list(history)
        self.loaded_metadata = payload.get("metadata")
