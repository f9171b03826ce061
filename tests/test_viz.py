"""neurosim.viz draws what it is given and rejects bad shapes."""

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")
from neurosim import viz  # noqa: E402


def test_spike_raster_plots_every_spike(tmp_path):
    spikes = torch.zeros(10, 2, 5)
    spikes[3, 1, 4] = spikes[7, 1, 0] = 1
    fig = viz.spike_raster(spikes, sample=1, title="t")
    offsets = fig.axes[0].collections[0].get_offsets()
    assert sorted(map(tuple, np.asarray(offsets).tolist())) == [(3.0, 4.0), (7.0, 0.0)]
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 0


def test_membrane_traces_and_histogram():
    mem = torch.linspace(0, 1, 20).reshape(20, 1).repeat(1, 3)
    fig = viz.membrane_traces(mem, neurons=[0, 2], threshold=1.0)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3  # two neurons + threshold
    np.testing.assert_allclose(lines[0].get_ydata(), mem[:, 0].numpy())
    spikes = torch.zeros(4, 3, 6)
    spikes[:, :, 0] = 1
    fig = viz.firing_rate_histogram(spikes, bins=2)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [5, 1]  # five silent neurons, one firing every step
    with pytest.raises(ValueError, match="neuron 5 out of range"):
        viz.membrane_traces(mem, neurons=[5])
    with pytest.raises(ValueError, match="spikes: expected"):
        viz.spike_raster(torch.zeros(5))


def test_training_curves():
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_accuracy": 0.5, "val_accuracy": 0.4}
               for e in (1, 2, 3)]
    fig = viz.training_curves(history)
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]


def test_training_curves_draws_on_given_axes():
    from matplotlib.figure import Figure

    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_accuracy": 0.5, "val_accuracy": 0.4}
               for e in (1, 2, 3)]
    fig = Figure()
    loss_ax, acc_ax, only_ax = fig.subplots(1, 3)
    assert viz.training_curves(history, ax=(loss_ax, acc_ax)) is fig
    assert viz.training_curves(history, ax=only_ax) is fig
    assert [len(a.get_lines()) for a in (loss_ax, acc_ax, only_ax)] == [2, 2, 2]
    assert list(only_ax.get_lines()[1].get_ydata()) == [0.4, 0.4, 0.4]
    with pytest.raises(ValueError, match="ax"):
        viz.training_curves(history, ax=(loss_ax,))


@pytest.mark.parametrize("call, match", [
    (lambda: viz.spike_raster(torch.zeros(10, 2, 4), sample=5), "sample"),
    (lambda: viz.spike_raster(torch.zeros(10, 2, 4), sample=-3), "sample"),
    (lambda: viz.spike_raster(torch.zeros(10, 2, 4), sample=1.0), "sample"),
    (lambda: viz.membrane_traces(torch.zeros(10, 2, 4), sample=2), "sample"),
    (lambda: viz.membrane_traces(torch.zeros(10, 4), neurons=(4,)), "neuron 4"),
    (lambda: viz.firing_rate_histogram(torch.zeros(10, 2, 0)), "spikes"),
    (lambda: viz.firing_rate_histogram(torch.zeros(0, 2, 3)), "spikes"),
    (lambda: viz.firing_rate_histogram(torch.zeros(10, 3), bins=0), "bins"),
    (lambda: viz.firing_rate_histogram(torch.full((10, 3), float("nan"))), "NaN"),
    (lambda: viz.spike_raster(torch.zeros(10)), "spikes"),
    (lambda: viz.training_curves([{"loss": 1.0}]), "history"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_last_sample_by_negative_index():
    s = torch.zeros(6, 3, 2)
    s[1, 2, 1] = 1
    fig = viz.spike_raster(s, sample=-1)
    offsets = fig.axes[0].collections[0].get_offsets()
    assert [tuple(o) for o in np.asarray(offsets)] == [(1.0, 1.0)]
