"""Plots of spiking activity and training runs (matplotlib, figure objects without pyplot, so
they work headless and in threads). Each function returns its ``Figure`` or draws on ``ax``."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch


def _figure(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _activity(values, name: str) -> np.ndarray:
    """Activity [T, N] or [T, B, ...] as a float array, with at least one step and one neuron."""
    a = values.detach().cpu().float().numpy() if isinstance(values, torch.Tensor) else np.asarray(values, float)
    if a.ndim < 2:
        raise ValueError(f"{name}: expected [T, N] or [T, B, ...], got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name}: no values to plot in shape {a.shape} (an empty time, batch or neuron axis)")
    return a


def _as_time_by_neuron(values, sample: int, name: str) -> np.ndarray:
    a = _activity(values, name)
    if a.ndim >= 3:  # [T, B, ...]: pick one sample
        if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)):
            raise TypeError(f"sample: expected an int, got {type(sample).__name__}")
        if not -a.shape[1] <= sample < a.shape[1]:
            raise ValueError(f"sample: {sample} is out of range for a batch of {a.shape[1]}")
        a = a[:, sample].reshape(a.shape[0], -1)
    return a


def spike_raster(spikes, sample: int = 0, ax=None, title: Optional[str] = None, color: str = "k",
                 marker_size: float = 4.0):
    """Dot per spike: time step on x, neuron index on y. ``spikes`` [T, N] or [T, B, ...]."""
    s = _as_time_by_neuron(spikes, sample, "spikes")
    fig, ax = _figure(ax, (6, 3))
    t, n = np.nonzero(s > 0.5)
    ax.scatter(t, n, s=marker_size, c=color, marker="|", linewidths=0.8)
    ax.set_xlim(-0.5, s.shape[0] - 0.5)
    ax.set_ylim(-0.5, s.shape[1] - 0.5)
    ax.set_xlabel("time step")
    ax.set_ylabel("neuron")
    if title:
        ax.set_title(title)
    return fig


def membrane_traces(membrane, neurons: Sequence[int] = (0, 1, 2), sample: int = 0, threshold: Optional[float] = None,
                    ax=None, title: Optional[str] = None):
    """Membrane potential over time of a few neurons, with the threshold as a dashed line."""
    m = _as_time_by_neuron(membrane, sample, "membrane")
    fig, ax = _figure(ax, (6, 3))
    for i in neurons:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < m.shape[1]:
            raise ValueError(f"neuron {i} out of range [0, {m.shape[1]})")
        ax.plot(m[:, i], label=f"neuron {i}")
    if threshold is not None:
        ax.axhline(threshold, ls="--", c="gray", lw=1, label="threshold")
    ax.set_xlabel("time step")
    ax.set_ylabel("membrane")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def firing_rate_histogram(spikes, ax=None, bins: int = 20, title: Optional[str] = None):
    """Histogram over neurons of the firing rate (spikes per step, averaged over time and batch)."""
    s = _activity(spikes, "spikes")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins: expected a positive int, got {bins!r}")
    rates = (s.mean(axis=(0, 1)) if s.ndim > 2 else s.mean(0)).reshape(-1)
    if not np.isfinite(rates).all():
        raise ValueError("spikes: contains NaN or inf")
    fig, ax = _figure(ax, (4, 3))
    ax.hist(rates, bins=bins, range=(0, max(1e-6, float(rates.max()))), color="tab:blue")
    ax.set_xlabel("firing rate (spikes / step)")
    ax.set_ylabel("neurons")
    if title:
        ax.set_title(title)
    return fig


def training_curves(history: List[Dict[str, float]], ax=None):
    """Loss and accuracy per epoch (train, and the held-out ``val_*`` split when present).

    ``ax``: a pair of axes ``(loss_ax, accuracy_ax)`` to draw on, or one axes for the accuracy only;
    by default a new figure with both."""
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.2), layout="constrained")
        panels = list(zip(("loss", "accuracy"), fig.subplots(1, 2)))
    elif isinstance(ax, (list, tuple)):
        if len(ax) != 2:
            raise ValueError(f"ax: expected (loss_ax, accuracy_ax) or one axes, got {len(ax)} axes")
        fig, panels = ax[0].figure, list(zip(("loss", "accuracy"), ax))
    else:
        fig, panels = ax.figure, [("accuracy", ax)]
    if not isinstance(history, (list, tuple)) or not all(isinstance(h, dict) and "epoch" in h for h in history):
        raise ValueError("history: expected a list of dicts with an 'epoch' entry (Trainer.history / results.json)")
    epochs = [h["epoch"] for h in history]
    for key, axis in panels:
        for prefix, label in (("train_", "train"), ("val_", "held-out (val_*)")):
            if history and prefix + key in history[0]:
                axis.plot(epochs, [h[prefix + key] for h in history], marker=".", label=label)
        axis.set_xlabel("epoch")
        axis.set_ylabel(key)
        axis.legend()
    return fig
