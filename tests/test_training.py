"""Trainer, losses, encoders, truncated BPTT, clipping, checkpoints with exact resume, logs."""

import csv
import math
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

import neurosim
from neurosim.data import digits_datasets
from neurosim.models import SpikingMLP, make_neuron
from neurosim.training import (
    CheckpointError,
    DistContext,
    SpikeRateMonitor,
    Trainer,
    ce_count,
    ce_mean,
    delta,
    direct,
    latency,
    load_checkpoint,
    make_encoder,
    mse_count,
    rate,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)


# ------------------------------------------------------------------ encoders
def test_rate_encoder_fires_with_the_given_probability():
    x = torch.tensor([[0.0, 0.3, 1.0]])
    s = rate(x, 4000, generator=torch.Generator().manual_seed(0))
    assert s.shape == (4000, 1, 3)
    assert s[:, 0, 0].sum() == 0 and s[:, 0, 2].sum() == 4000
    assert abs(s[:, 0, 1].mean().item() - 0.3) < 0.03
    assert rate(x, 10, gain=0.0).sum() == 0


def test_latency_encoder_spikes_once_at_the_expected_step():
    x = torch.tensor([[1.0, 0.5, 0.0, 0.2]])
    s = latency(x, 11)
    assert s.shape == (11, 1, 4)
    assert s.sum(0).tolist() == [[1.0, 1.0, 0.0, 1.0]]
    assert [int(torch.nonzero(s[:, 0, i])[0]) for i in (0, 1, 3)] == [0, 5, 8]
    # RC form: t = tau * ln(x / (x - threshold)) = 4 ln 2 = 2.77 -> step 3
    s = latency(torch.tensor([[0.5]]), 10, threshold=0.25, linear=False, tau=4.0)
    assert int(torch.nonzero(s[:, 0, 0])[0]) == round(4 * math.log(2))


def test_delta_and_direct_encoders():
    seq = torch.tensor([0.0, 0.5, 0.5, 0.2]).reshape(4, 1, 1)
    assert delta(seq, threshold=0.1).flatten().tolist() == [0, 1, 0, 0]
    assert delta(seq, threshold=0.1, off_spike=True).flatten().tolist() == [0, 1, 0, -1]
    x = torch.rand(2, 3)
    d = direct(x, 5)
    assert d.shape == (5, 2, 3) and all(torch.equal(d[t], x) for t in range(5))
    with pytest.raises(ValueError, match="unknown encoder"):
        make_encoder("poisson", 5)
    with pytest.raises(ValueError, match="num_steps"):
        rate(x, 0)


@pytest.mark.parametrize("encode", [rate, latency, direct, lambda x, n, **kw: make_encoder("rate", n, **kw)(x)])
def test_encoders_name_bad_steps(encode):
    x = torch.rand(2, 3)
    for bad in (True, False, 2.0, "3", None):
        with pytest.raises(TypeError, match="num_steps"):
            encode(x, bad)
    with pytest.raises(ValueError, match="num_steps"):
        encode(x, -1)
    assert encode(x, 1).shape == (1, 2, 3)


def test_encoders_name_bad_options():
    x = torch.rand(2, 3)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="gain: must be finite"):
            rate(x, 3, gain=bad)
        with pytest.raises(ValueError, match="threshold: must be finite"):
            latency(x, 3, threshold=bad)
        with pytest.raises(ValueError, match="threshold: must be finite"):
            delta(x.unsqueeze(1), threshold=bad)
    for call, name in ((lambda: rate(x, 3, gain="2"), "gain"), (lambda: rate(x, 3, gain=True), "gain"),
                       (lambda: rate(x, 3, generator=0), "generator"),
                       (lambda: latency(x, 3, linear="no"), "linear"),
                       (lambda: delta(x.unsqueeze(1), off_spike=1), "off_spike"),
                       (lambda: delta(x.unsqueeze(1), padding=None), "padding")):
        with pytest.raises(TypeError, match=name):
            call()
    for call, name in ((lambda: latency(x, 3, tau=0.0), "tau: must be > 0"),
                       (lambda: delta(x.unsqueeze(1), threshold=-0.1), "threshold: must be >= 0")):
        with pytest.raises(ValueError, match=name):
            call()
    # gain scales the probability: gain 2 on 0.25 fires like 0.5 (a large-sample check)
    g = torch.Generator().manual_seed(1)
    assert abs(rate(torch.full((1, 1), 0.25), 20000, gain=2.0, generator=g).mean().item() - 0.5) < 0.02


# ------------------------------------------------------------------ losses
def test_losses_match_snntorch():
    sf = pytest.importorskip("snntorch.functional")
    g = torch.Generator().manual_seed(0)
    out = (torch.rand(12, 5, 4, generator=g) > 0.6).float()
    y = torch.tensor([0, 3, 1, 1, 2])
    torch.testing.assert_close(ce_count(out, y), sf.ce_count_loss()(out, y))
    torch.testing.assert_close(mse_count(out, y, 0.8, 0.2), sf.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)(out, y))
    readout = torch.randn(12, 5, 4, generator=g)
    torch.testing.assert_close(ce_mean(readout, y), nn.functional.cross_entropy(readout.mean(0), y))


def test_labels_out_of_range_are_named():
    out = torch.zeros(3, 2, 10)
    with pytest.raises(ValueError, match=r"labels out of range: got \[12\] for 10"):
        ce_count(out, torch.tensor([1, 12]))
    with pytest.raises(ValueError, match="integer class ids"):
        ce_count(out, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="time-major"):
        ce_count(torch.zeros(2, 10), torch.tensor([1, 2]))


# ------------------------------------------------------------------ helpers
def _toy_data(n=64, features=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = torch.rand(classes, features, generator=g)
    x = (centres[y] + 0.1 * torch.rand(n, features, generator=g)).clamp(0, 1)
    return torch.utils.data.TensorDataset(x, y)


def _digits_subset(n_train=160, n_test=80):
    train, test = digits_datasets()
    return torch.utils.data.Subset(train, range(n_train)), torch.utils.data.Subset(test, range(n_test))


def _trainer(model, lr=5e-3, **kw):
    kw.setdefault("encoder", make_encoder("rate", 8))
    kw.setdefault("progress", False)
    return Trainer(model, torch.optim.Adam(model.parameters(), lr=lr), **kw)


# ------------------------------------------------------------------ trainer
def test_trainer_learns_and_predicts():
    torch.manual_seed(0)
    model = SpikingMLP([6, 32, 3])
    trainer = _trainer(model, lr=1e-2, encoder=make_encoder("direct", 10), batch_size=16)
    data = _toy_data()
    history = trainer.fit(data, data, epochs=8)
    assert len(history) == 8 and history[-1]["train_loss"] < history[0]["train_loss"]
    result = trainer.evaluate(data)
    assert result["accuracy"] > 0.9
    preds = trainer.predict(data)
    assert preds.shape == (64,)
    assert (preds == data.tensors[1]).float().mean().item() == pytest.approx(result["accuracy"])
    assert set(k for k in result if k.startswith("rate/")) == {"rate/neurons.0", "rate/neurons.1"}
    trainer.dist = DistContext(rank=1, world_size=2)  # as rank 1 of two after shutdown(): no group left
    assert trainer.evaluate(data) == result  # every sample, not rank 1's slice left unsummed
    trainer.dist = DistContext()
    trainer.close()  # one process: nothing to release, and training goes on (tests/ddp_one_step.py: under torchrun)
    assert trainer.model is trainer.module
    assert len(trainer.fit(data, epochs=9)) == 9  # fit counts epochs in total


def test_predict_is_deterministic_and_equals_evaluate():
    torch.manual_seed(0)
    model = SpikingMLP([6, 16, 3])
    trainer = _trainer(model, lr=1e-2, encoder=make_encoder("rate", 4), batch_size=16)
    data = _toy_data()
    trainer.fit(data, epochs=1)
    labels = data.tensors[1]
    before = torch.random.get_rng_state()
    first, sums = trainer.predict(data, return_outputs=True)
    assert torch.equal(torch.random.get_rng_state(), before)  # training's random streams untouched
    second, sums_again = trainer.predict(data, return_outputs=True)
    assert torch.equal(first, second) and torch.equal(sums, sums_again)
    accuracy = (first == labels).float().mean().item()
    assert accuracy == pytest.approx(trainer.evaluate(data)["accuracy"])


def test_spike_rate_monitor_matches_outputs():
    model = SpikingMLP([6, 8, 3])
    x = torch.rand(5, 4, 6) * 3
    with SpikeRateMonitor(model) as monitor:
        out = model(x)
    hidden = model.neurons[0](model.linears[0](x)).spikes
    assert monitor.rates()["neurons.1"] == pytest.approx(out.mean().item())
    assert monitor.rates()["neurons.0"] == pytest.approx(hidden.mean().item())


class _StateProbe(nn.Module):
    """Wraps a model and records the state each chunk receives."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.seen = []

    def forward(self, x, state=None, return_state=False):
        self.seen.append(state)
        return self.inner(x, state=state, return_state=return_state)


def test_truncated_bptt_detaches_state_between_chunks():
    torch.manual_seed(0)
    probe = _StateProbe(SpikingMLP([6, 8, 3]))
    trainer = _trainer(probe, encoder=make_encoder("direct", 12), tbptt_steps=5, shuffle=False, batch_size=64)
    x, y = _toy_data()[:8]
    trainer.train_step(x, y)
    assert len(probe.seen) == 3  # chunks of 5, 5, 2 steps
    assert probe.seen[0] is None
    for state in probe.seen[1:]:
        assert all(not s.requires_grad for s in state)
    step = trainer.optimizer.state[next(probe.parameters())]["step"]
    assert int(step) == 3  # one optimizer step per chunk


def test_tbptt_over_the_whole_sequence_equals_full_bptt():
    results = []
    for tbptt in (None, 12):
        torch.manual_seed(0)
        model = SpikingMLP([6, 8, 3])
        trainer = _trainer(model, encoder=make_encoder("direct", 12), tbptt_steps=tbptt)
        x, y = _toy_data()[:8]
        loss, _ = trainer.train_step(x, y)
        results.append((loss, [p.detach().clone() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


@pytest.mark.parametrize("neuron", ["alif", "synaptic", "lif"])
def test_tbptt_with_named_tuple_states(neuron):
    # ALIF and Synaptic stream NamedTuple states; detaching them between chunks used to fail
    torch.manual_seed(0)
    probe = _StateProbe(SpikingMLP([6, 8, 3], neuron=neuron))
    trainer = _trainer(probe, encoder=make_encoder("direct", 6), tbptt_steps=2)
    x, y = _toy_data()[:8]
    loss, out = trainer.train_step(x, y)
    assert math.isfinite(loss) and out.shape == (6, 8, 3)
    for state in probe.seen[1:]:
        for layer_state in state:
            tensors = layer_state if isinstance(layer_state, tuple) else (layer_state,)
            assert all(not t.requires_grad for t in tensors)


def test_detach_rebuilds_any_nesting():
    from neurosim.functional.alif import ALIFState
    from neurosim.training.trainer import _detach

    t = torch.ones(2, requires_grad=True) * 2
    state = [ALIFState(t, t), (t, {"a": t, "b": [t, None]}), t, 3]
    out = _detach(state)
    assert isinstance(out, list) and isinstance(out[0], ALIFState) and isinstance(out[1], tuple)
    assert not out[0].mem.requires_grad and not out[0].adaptation.requires_grad
    assert not out[1][0].requires_grad and not out[1][1]["a"].requires_grad
    assert not out[1][1]["b"][0].requires_grad and out[1][1]["b"][1] is None
    assert not out[2].requires_grad and out[3] == 3


def test_gradient_clipping_bounds_the_update():
    deltas = []
    for clip in (None, 1e-3):
        torch.manual_seed(0)
        model = SpikingMLP([6, 8, 3])
        before = [p.detach().clone() for p in model.parameters()]
        trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=1.0), encoder=make_encoder("direct", 10),
                          clip_grad_norm=clip, progress=False)
        x, y = _toy_data()[:16]
        trainer.train_step(x * 3, y)
        deltas.append(math.sqrt(sum(((p - b) ** 2).sum().item() for p, b in zip(model.parameters(), before))))
    assert deltas[0] > 1e-3
    assert 0 < deltas[1] <= 1e-3 * (1 + 1e-5)


def test_scheduler_steps_per_epoch():
    model = SpikingMLP([6, 8, 3])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, opt, scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5),
                      encoder=make_encoder("direct", 4), progress=False)
    history = trainer.fit(_toy_data(16), epochs=3)
    assert [h["lr"] for h in history] == pytest.approx([0.1, 0.05, 0.025])


def test_bad_arguments():
    model = SpikingMLP([6, 8, 3])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="tbptt_steps"):
        Trainer(model, opt, tbptt_steps=0)
    with pytest.raises(ValueError, match="unknown loss"):
        Trainer(model, opt, loss="hinge")
    trainer = Trainer(model, opt, progress=False)
    with pytest.raises(ValueError, match="time-major"):
        trainer.train_step(torch.rand(4, 6), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels out of range"):
        trainer.train_step(torch.rand(3, 4, 6), torch.tensor([0, 1, 2, 7]))


# ------------------------------------------------------------------ checkpoints
def _run(tmp_path, name, epochs, resume=None, init_seed=0):
    torch.manual_seed(init_seed)
    model = SpikingMLP([64, 32, 10])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.7)
    trainer = Trainer(model, opt, scheduler=sched, encoder=make_encoder("rate", 8), batch_size=32,
                      log_dir=str(tmp_path / name), progress=False, seed=3)
    train, test = _digits_subset()
    history = trainer.fit(train, test, epochs=epochs, checkpoint=str(tmp_path / f"{name}.pt"), resume=resume)
    return trainer, history


def test_resume_is_bit_identical(tmp_path):
    full, full_history = _run(tmp_path, "full", 4)
    _run(tmp_path, "part", 2)
    # a differently initialised model: everything must come from the checkpoint
    resumed, resumed_history = _run(tmp_path, "part", 4, resume=str(tmp_path / "part.pt"), init_seed=99)
    assert len(resumed_history) == 4
    for a, b in zip(full_history, resumed_history):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
            assert a[key] == b[key], key
    for p, q in zip(full.module.parameters(), resumed.module.parameters()):
        assert torch.equal(p, q)
    with open(tmp_path / "part" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[3]["train_loss"]) == pytest.approx(full_history[3]["train_loss"])


def test_tensorboard_logs_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    model = SpikingMLP([6, 8, 3])
    trainer = _trainer(model, encoder=make_encoder("direct", 4), log_dir=str(tmp_path))
    trainer.fit(_toy_data(16), epochs=1)
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(tmp_path))


def test_checkpoint_contents_load_weights_only(tmp_path):
    trainer, _ = _run(tmp_path, "c", 1)
    payload = torch.load(tmp_path / "c.pt", weights_only=True)
    assert payload["epoch"] == 1 and set(payload) >= {"model", "optimizer", "scheduler", "rng", "history"}
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


class _NotAllowed:
    pass


def test_bad_checkpoints_give_clear_errors(tmp_path):
    _run(tmp_path, "good", 1)
    good = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="cut.pt.*truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "noise.pt").write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="noise.pt"):
        load_checkpoint(tmp_path / "noise.pt")
    torch.save({"model": _NotAllowed()}, tmp_path / "pickle.pt")  # weights_only refuses arbitrary objects
    with pytest.raises(CheckpointError, match="pickle.pt"):
        load_checkpoint(tmp_path / "pickle.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a neurosim training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")
    model = SpikingMLP([64, 16, 10])  # wrong hidden size for the checkpoint
    trainer = Trainer(model, torch.optim.Adam(model.parameters()), progress=False)
    with pytest.raises(CheckpointError, match="does not fit"):
        trainer.load_checkpoint(tmp_path / "good.pt")


def test_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {}, "optimizer": {}, "epoch": 1, "rng": {}})

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*ck\.pt: OSError: disk full"):
        save_checkpoint(path, {"model": {}, "optimizer": {}, "epoch": 2, "rng": {}})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_rng_state_round_trip():
    seed_everything(5)
    state = rng_state()
    draws = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == draws


# ------------------------------------------------------------------ neuron choice
def test_neuron_factory():
    assert isinstance(make_neuron("lif", beta=0.8), neurosim.LIF)
    with pytest.raises(ValueError, match="unknown neuron 'izhikevich'"):
        make_neuron("izhikevich")
    assert isinstance(make_neuron("ultralif", eps=0.5), neurosim.UltraLIF)
    for name in ("ultralif", "ultradlif"):
        out = SpikingMLP([4, 5, 3], neuron=name)(torch.rand(3, 2, 4))  # the ring needs >= 3 units
        assert out.shape == (3, 2, 3)
        assert ((out > 0) & (out < 1)).all()  # soft spikes
