"""An adversarial battery: what a careless user or a hostile file does, and the exact answer expected.

Each case asserts a correct value, or an exception of the documented type whose message names the
argument, flag or file. The CLI cases check the real entry point (``python -m neurosim``) for exit
status 2, exactly one line on stderr and no traceback.
"""

from __future__ import annotations

import errno
import math
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

import neurosim
import neurosim.plasticity as P
from neurosim import cli, data
from neurosim.models import SpikingMLP
from neurosim.training import CheckpointError, Trainer, load_checkpoint, make_encoder, save_checkpoint
from neurosim.training import checkpoint as ckpt_module
from neurosim.training.seeding import rng_state, set_rng_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ====================================================================================== checkpoints
def _small_trainer(hidden=8, lr=1e-2, seed=0):
    torch.manual_seed(seed)
    model = SpikingMLP([6, hidden, 3])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
    return Trainer(model, opt, scheduler=sched, encoder=make_encoder("direct", 4), batch_size=8,
                   progress=False, seed=seed)


def _toy_data(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.TensorDataset(torch.rand(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g))


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "ck.pt"
    trainer = _small_trainer()
    trainer.fit(_toy_data(), epochs=1, checkpoint=str(path))
    return path


def _same(a, b) -> bool:
    """Deep equality of loaded payloads (tensors bit for bit)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def test_a_flipped_byte_never_loads_changed_values(trained_checkpoint, tmp_path):
    """Every position of a flipped byte: CheckpointError naming the file, or the very same payload
    (bytes nobody reads, such as zip padding). Before CRC checks 14 of 20 flips loaded changed data."""
    good = trained_checkpoint.read_bytes()
    reference = load_checkpoint(trained_checkpoint)
    with zipfile.ZipFile(trained_checkpoint) as z:
        data_ranges = [(i.header_offset, i.header_offset + 30 + len(i.filename) + len(i.extra) + i.compress_size)
                       for i in z.infolist()]
    rng = np.random.default_rng(0)
    positions = set(rng.choice(len(good), size=150, replace=False).tolist())
    for start, end in data_ranges:  # a few in every member's data, and the whole central directory tail
        positions.update(range(max(start, end - 8), end))
    positions.update(range(max(0, len(good) - 120), len(good)))
    bad = tmp_path / "flipped.pt"
    caught = 0
    for pos in sorted(positions):
        damaged = bytearray(good)
        damaged[pos] ^= 0x5A
        bad.write_bytes(bytes(damaged))
        try:
            payload = load_checkpoint(bad)
        except CheckpointError as e:
            assert "flipped.pt" in str(e)
            caught += 1
            continue
        assert _same(payload, reference), f"byte {pos}: a changed checkpoint loaded without an error"
    assert caught > len(positions) // 2


def test_checkpoint_member_crc_mismatch_names_the_member(trained_checkpoint, tmp_path):
    good = trained_checkpoint.read_bytes()
    with zipfile.ZipFile(trained_checkpoint) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)  # a tensor storage
        offset = info.header_offset + 30 + len(info.filename) + len(info.extra)
    damaged = bytearray(good)
    damaged[offset + info.compress_size // 2] ^= 1
    (tmp_path / "bit.pt").write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match=r"bit\.pt.*CRC-32"):
        load_checkpoint(tmp_path / "bit.pt")


def test_checkpoint_paths_that_are_not_files(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        save_checkpoint(tmp_path, {"model": {}, "optimizer": {}, "epoch": 0, "rng": {}})


def test_unreadable_checkpoint_says_permission(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {}, "optimizer": {}, "epoch": 0, "rng": {}})
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if os.fspath(p) == str(path) else real_access(p, mode))
    with pytest.raises(CheckpointError, match=r"ck\.pt is not readable \(permission denied\)"):
        load_checkpoint(path)


@pytest.mark.parametrize("failure", [
    RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0; file write failed"),
    OSError(errno.ENOSPC, "No space left on device"),
])
def test_full_disk_is_a_checkpoint_error_naming_the_file(tmp_path, monkeypatch, failure):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {}, "optimizer": {}, "epoch": 1, "rng": {}})

    def broken_save(obj, f):
        f.write(b"partial")
        raise failure

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*ck\.pt: no space left"):
        save_checkpoint(path, {"model": {}, "optimizer": {}, "epoch": 2, "rng": {}})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["ck.pt"]  # the temporary file is gone


def test_checkpoint_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    """The file's data must be durable before the rename makes it the checkpoint."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", os.fspath(a))), real_replace(a, b))[1])
    save_checkpoint(tmp_path / "ck.pt", {"model": {}, "optimizer": {}, "epoch": 1, "rng": {}})
    replaced = [i for i, (kind, _) in enumerate(events) if kind == "replace"]
    assert len(replaced) == 1
    tmp_name = events[replaced[0]][1]
    assert any(kind == "fsync" and os.path.basename(p) == os.path.basename(tmp_name)
               for kind, p in events[:replaced[0]]), events


def test_killed_writers_leave_no_temporaries_behind(tmp_path):
    """Writers killed between mkstemp and rename leave temporaries; the next save removes those of
    dead processes (and leaves a live writer's alone)."""
    path = tmp_path / "ck.pt"
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # the child dies in the middle of torch.save
            def killed(obj, f):
                f.write(b"x" * 4096)
                f.flush()
                os._exit(9)
            torch.save = killed
            save_checkpoint(path, {"model": {}})
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 9
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1  # each writer removed its dead predecessor's file; the last one's remains
    live = tmp_path / f"ck.pt.{ckpt_module.socket.gethostname()}.{os.getppid()}.abc.tmp"  # a live process
    live.write_bytes(b"in progress")
    save_checkpoint(path, {"model": {}, "optimizer": {}, "epoch": 1, "rng": {}})
    assert sorted(os.listdir(tmp_path)) == sorted(["ck.pt", live.name])


def test_checkpoint_mode_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "ck.pt", {"model": {}, "optimizer": {}, "epoch": 1, "rng": {}})
    finally:
        os.umask(old)
    assert (tmp_path / "ck.pt").stat().st_mode & 0o777 == 0o644  # as torch.save / open() give


def _state(trainer):
    return ({k: v.clone() for k, v in trainer.module.state_dict().items()},
            repr(trainer.optimizer.state_dict()), trainer.scheduler.state_dict(), trainer.epoch)


@pytest.mark.parametrize("mismatch", ["optimizer groups", "optimizer moments", "rng", "model", "one weight"])
def test_load_checkpoint_is_all_or_nothing(trained_checkpoint, tmp_path, mismatch):
    payload = torch.load(trained_checkpoint, weights_only=True)
    if mismatch == "optimizer groups":
        payload["optimizer"]["param_groups"][0]["params"] = payload["optimizer"]["param_groups"][0]["params"][:-1]
    elif mismatch == "optimizer moments":  # torch would load it and fail at the next step
        payload["optimizer"]["state"][0]["exp_avg"] = torch.zeros(99)
    elif mismatch == "rng":
        payload["rng"] = {"numpy": payload["rng"]["numpy"], "torch": payload["rng"]["torch"]}  # no 'python'
    elif mismatch == "model":
        payload["model"] = {k + "_renamed": v for k, v in payload["model"].items()}
    else:  # torch copies the keys that fit before it complains about the one that does not
        last = list(payload["model"])[-1]
        payload["model"][last + "_renamed"] = payload["model"].pop(last)
    save_checkpoint(tmp_path / "bad.pt", payload)
    trainer = _small_trainer(seed=5)
    trainer.fit(_toy_data(seed=1), epochs=1)
    before = _state(trainer)
    python_rng = __import__("random").getstate()
    with pytest.raises(CheckpointError, match=r"bad\.pt"):
        trainer.load_checkpoint(tmp_path / "bad.pt")
    after = _state(trainer)
    for a, b in zip(before[0].values(), after[0].values()):
        assert torch.equal(a, b)
    assert before[1:] == after[1:]
    assert __import__("random").getstate() == python_rng


def test_malformed_rng_entry_names_it(trained_checkpoint, tmp_path):
    payload = torch.load(trained_checkpoint, weights_only=True)
    payload["rng"] = {"torch": payload["rng"]["torch"]}
    save_checkpoint(tmp_path / "rng.pt", payload)
    with pytest.raises(CheckpointError, match=r"rng\.pt: rng: entry 'python' is missing"):
        _small_trainer().load_checkpoint(tmp_path / "rng.pt")
    with pytest.raises(ValueError, match="rng: entry 'python'"):
        set_rng_state({"torch": torch.get_rng_state()})
    state = rng_state()
    set_rng_state(state)  # the intact state still round-trips


# ====================================================================================== Learner
@pytest.mark.parametrize("mode", ["online", "sequence"])
@pytest.mark.parametrize("rule,params,name", [
    ("stdp", {"tau_plus": -1.0}, "tau_plus"),
    ("stdp", {"tau_minus": 0.0}, "tau_minus"),
    ("stdp", {"dt": 0}, "dt"),
    ("stdp", {"tau_plus": float("nan")}, "tau_plus"),
    ("three_factor", {"tau_eligibility": -5.0}, "tau_eligibility"),
    ("three_factor", {"tau_eligibility": 0}, "tau_eligibility"),
    ("bcm", {"tau_theta": 0.0}, "tau_theta"),
    ("stdp", {"a_plus": float("inf")}, "a_plus"),
    ("stdp", {"dependence": "quadratic"}, "dependence"),
    ("stdp", {"w_min": 1.0, "w_max": 0.5}, "w_max"),
    ("stdp", {"tau_plus": "20"}, "tau_plus"),
])
def test_learner_refuses_bad_parameters_in_both_modes(mode, rule, params, name):
    with pytest.raises((ValueError, TypeError), match=name):
        P.Learner(nn.Linear(4, 3), None, rule, mode=mode, **params)


def test_learner_online_and_sequence_agree_on_valid_parameters():
    torch.manual_seed(0)
    pre = (torch.rand(12, 2, 4) < 0.3).float()
    results = []
    for mode in ("sequence", "online"):
        layer = nn.Linear(4, 3, bias=False)
        with torch.no_grad():
            layer.weight.fill_(0.5)
        learner = P.Learner(layer, None, "stdp", mode=mode, tau_plus=5.0, tau_minus=7.0)
        for t in range(12) if mode == "online" else [None]:
            layer(pre[t] if t is not None else pre)
        results.append(learner.step())
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


# ====================================================================================== Ultra parameters
ULTRA = [neurosim.UltraLIF, neurosim.UltraPLIF, neurosim.UltraDLIF, neurosim.UltraDPLIF]


@pytest.mark.parametrize("cls", ULTRA)
def test_eps_at_the_lower_bound_still_learns(cls):
    """exp(log 0.1) rounds below 0.1 in float32; a plain clamp then gives a gradient of exactly 0
    forever. A loss that wants a larger eps must move it off the bound."""
    layer = cls(eps=0.1)
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    for _ in range(3):
        opt.zero_grad()
        (-layer.eps.sum()).backward()
        assert layer.log_eps.grad is not None and float(layer.log_eps.grad) < 0
        opt.step()
    assert float(layer.eps.detach()) > 0.1 * 1.2


@pytest.mark.parametrize("cls", ULTRA)
def test_eps_pushed_past_a_bound_can_come_back(cls):
    layer = cls(eps=1.0, eps_range=(0.5, 2.0))
    with torch.no_grad():
        layer.log_eps.fill_(math.log(0.2))  # e.g. after a large optimizer step
    assert float(layer.eps.detach()) == pytest.approx(0.5)
    (-layer.eps.sum()).backward()  # wants a larger eps: back towards the range
    assert float(layer.log_eps.grad) < 0
    layer.log_eps.grad = None
    layer.eps.sum().backward()  # wants a smaller eps: further out, which changes nothing
    assert float(layer.log_eps.grad) == 0.0
    x = torch.randn(6, 2, 4)
    layer.log_eps.grad = None
    layer(x).sum().backward()
    assert layer.log_eps.grad is not None


@pytest.mark.parametrize("cls,tau_at_bound", [(neurosim.UltraPLIF, 0.99), (neurosim.UltraPLIF, 0.01),
                                              (neurosim.UltraDPLIF, 0.9999938)])
def test_learned_tau_at_its_bound_learns(cls, tau_at_bound):
    layer = cls(tau=tau_at_bound)
    sign = -1.0 if tau_at_bound < 0.5 else 1.0  # a loss that pulls tau back inside
    (sign * layer.tau.sum()).backward()
    grad = layer.tau_param.grad
    assert grad is not None and float(grad) != 0.0


@pytest.mark.parametrize("cls,tau", [(neurosim.UltraPLIF, 0.999), (neurosim.UltraPLIF, 0.005),
                                     (neurosim.UltraDPLIF, 1e-7), (neurosim.UltraDPLIF, 0.9999999)])
def test_learned_tau_outside_its_range_is_refused(cls, tau):
    with pytest.raises(ValueError, match=r"tau: .*learns tau within"):
        cls(tau=tau)


@pytest.mark.parametrize("cls,tau", [(neurosim.UltraPLIF, 0.5), (neurosim.UltraDPLIF, 1e-5),
                                     (neurosim.UltraDPLIF, 0.711)])
def test_learned_tau_starts_at_the_value_given(cls, tau):
    assert float(cls(tau=tau).tau) == pytest.approx(tau, rel=1e-5)


# ====================================================================================== plasticity inputs
@pytest.mark.parametrize("call,name", [
    (lambda: P.stdp([[0.0] * 4], torch.zeros(1, 3)), "pre"),
    (lambda: P.stdp(torch.zeros(5, 1, 4), "spikes"), "post"),
    (lambda: P.HebbianProjection(4).project([[0.0] * 4]), "x"),
    (lambda: P.HebbianProjection(4).learn(np.zeros((2, 4))), "x"),
    (lambda: neurosim.training.encoders.delta([[0.0]]), "x_seq"),
    (lambda: neurosim.training.ce_count([[0.0]], torch.zeros(1, dtype=torch.long)), "out"),
])
def test_non_tensor_arguments_are_named(call, name):
    with pytest.raises(TypeError, match=f"^{name}: expected a torch.Tensor"):
        call()


@pytest.mark.skipif("cpp" not in neurosim.backends(), reason="the event path is the C++ backend's")
@pytest.mark.parametrize("where", ["post", "pre"])
@pytest.mark.parametrize("dependence", ["additive", "multiplicative"])
def test_stdp_event_and_dense_paths_agree_on_nan(where, dependence):
    """The event path visits only the spikes; NaN elsewhere must reach the same weights as the
    dense product does (the torch backend is the dense reference)."""
    g = torch.Generator().manual_seed(3)
    pre = (torch.rand(30, 2, 12, generator=g) < 0.05).double()
    post = (torch.rand(30, 2, 9, generator=g) < 0.05).double()
    target = post if where == "post" else pre
    target[7, 1, 2] = float("nan")
    weight = torch.rand(9, 12, generator=g, dtype=torch.float64)
    kw = dict(dependence=dependence, weight=weight)
    dense = P.stdp(pre, post, backend="torch", **kw)
    events = P.stdp(pre, post, backend="cpp", **kw)
    assert torch.equal(torch.isnan(dense), torch.isnan(events))
    finite = ~torch.isnan(dense)
    torch.testing.assert_close(events[finite], dense[finite])
    assert torch.isnan(dense).any()


@pytest.mark.skipif("cpp" not in neurosim.backends(), reason="the event path is the C++ backend's")
@pytest.mark.parametrize("which", ["pre_trace", "post_trace"])
def test_stdp_with_given_traces_agrees_on_nan(which):
    """Traces passed in with a NaN (the spikes themselves finite): the event sum over the spikes
    must mark the same weights NaN as the dense product."""
    g = torch.Generator().manual_seed(4)
    pre = (torch.rand(30, 2, 12, generator=g) < 0.05).double()
    post = (torch.rand(30, 2, 9, generator=g) < 0.05).double()
    traces, _ = P.stdp_traces(pre, post, backend="torch")
    pre_trace, post_trace = traces.pre.clone(), traces.post.clone()
    (pre_trace if which == "pre_trace" else post_trace)[7, 1, 2] = float("nan")
    dense = P.stdp(pre, post, pre_trace, post_trace, backend="torch")
    events = P.stdp(pre, post, pre_trace, post_trace, backend="cpp")
    assert torch.isnan(dense).any()
    assert torch.equal(torch.isnan(dense), torch.isnan(events))


@pytest.mark.parametrize("rule", ["stdp", "three_factor"])
def test_plasticity_gradients_are_the_same_on_every_backend(rule):
    """The event-driven native path has no autograd: with inputs that require grad the change must
    still be differentiable (it used to return None gradients, i.e. silent zeros, on the cpp backend)."""
    g = torch.Generator().manual_seed(2)
    pre = (torch.rand(25, 2, 6, generator=g) < 0.1).double()
    post = (torch.rand(25, 2, 5, generator=g) < 0.1).double()
    grads = {}
    for backend in neurosim.backends():
        a, b = pre.clone().requires_grad_(), post.clone().requires_grad_()
        dw = P.stdp(a, b, backend=backend) if rule == "stdp" else P.three_factor(a, b, 1.0, backend=backend)
        grads[backend] = torch.autograd.grad((dw * torch.arange(30.0, dtype=dw.dtype).reshape(5, 6)).sum(), [a, b])
    reference = grads.pop("torch")
    assert float(reference[0].abs().sum()) > 0
    for backend, got in grads.items():
        for x, y in zip(got, reference):
            torch.testing.assert_close(x, y)


def test_meta_tensors_trace_shapes():
    m = torch.device("meta")
    pre, post = torch.zeros(10, 4, 6, device=m), torch.zeros(10, 4, 5, device=m)
    assert P.stdp(pre, post).shape == (5, 6)
    assert P.three_factor(pre, post, torch.ones(10, device=m)).shape == (5, 6)
    assert P.bcm(pre, post, torch.zeros(5, device=m)).shape == (5, 6)
    assert P.curl(P.hebbian, torch.ones(6, device=m))(pre, post).shape == (5, 6)
    assert neurosim.UltraLIF().to(m)(pre).shape == pre.shape
    assert neurosim.functional.lif(pre, torch.zeros(4, 6, device=m), beta=torch.tensor(0.9, device=m)).spikes.shape \
        == pre.shape


# ====================================================================================== models, encoders
@pytest.mark.parametrize("sizes,match", [([64, -1, 10], r"sizes\[1\]"), ([64, 0, 10], r"sizes\[1\]"),
                                         ([64, 2.5, 10], r"sizes\[1\]"), ([0, 4], r"sizes\[0\]")])
def test_negative_layer_sizes_are_named(sizes, match):
    with pytest.raises(ValueError, match=match):
        SpikingMLP(sizes)


@pytest.mark.parametrize("encoder", ["rate", "latency", "direct"])
def test_nan_pixel_is_named_before_encoding(encoder):
    x = torch.rand(2, 5)
    x[1, 3] = float("nan")
    with pytest.raises(ValueError, match=r"x: contains NaN \(first at index \[1, 3\]\)"):
        make_encoder(encoder, 4)(x)


def test_trainer_config_names_fields():
    from neurosim.training.job import TrainConfig
    for field, value in (("T", 0), ("limit", 0), ("hidden", -5), ("epochs", 0), ("lr", 0.0), ("seed", -1)):
        with pytest.raises(ValueError, match=f"^{field}: "):
            TrainConfig(**{field: value}).validate()


# ====================================================================================== data
def _nmnist_bytes(rows):
    """rows of (x, y, p, t23) -> raw .bin bytes."""
    out = bytearray()
    for x, y, p, t in rows:
        out += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def test_nmnist_overflow_adds_one_period_per_marker():
    """Each y == 240 marker adds 2**13 µs to every later event: k markers before an event add k periods."""
    rows = [(1, 1, 0, 100), (0, 240, 0, 0), (2, 2, 1, 5), (0, 240, 0, 0), (0, 240, 0, 0), (3, 3, 0, 7),
            (0, 240, 0, 0), (4, 4, 1, 9)]
    events = data.decode_nmnist_bytes(_nmnist_bytes(rows))
    step = 1 << 13
    assert events["x"].tolist() == [1, 2, 3, 4]
    assert events["t"].tolist() == [100, 5 + step, 7 + 3 * step, 9 + 4 * step]


def test_read_shd_refuses_times_that_overflow_microseconds(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (2,), dtype=h5py.vlen_dtype(np.float64))
        units = f.create_dataset("spikes/units", (2,), dtype=h5py.vlen_dtype(np.uint16))
        times[0], units[0] = np.array([0.5]), np.array([3], np.uint16)
        times[1], units[1] = np.array([1.0, 1e13]), np.array([1, 2], np.uint16)
        f["labels"] = np.array([0, 1], np.uint16)
    with pytest.raises(ValueError, match=r"big\.h5: spikes/times of sample 1 reach 1e\+13 s"):
        data.read_shd(path)


def test_readers_name_directories_and_permissions(tmp_path, monkeypatch):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        data.read_nmnist(tmp_path)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        data.read_shd(tmp_path)
    (tmp_path / "f.bin").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match=r"f\.bin is a file"):
        data.NMNISTFolder(tmp_path / "f.bin")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p).endswith("f.bin") else real_access(p, mode))
    with pytest.raises(PermissionError, match=r"f\.bin is not readable"):
        data.read_nmnist(tmp_path / "f.bin")


def test_h5_permission_error_is_not_called_corrupt(tmp_path, monkeypatch):
    h5py = pytest.importorskip("h5py")
    path = data.make_synthetic_shd(tmp_path / "s.h5", n_samples=4, n_classes=2)

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Unable to synchronously open file (Permission denied)")

    monkeypatch.setattr(h5py, "File", denied)
    with pytest.raises(PermissionError, match=r"s\.h5 is not readable \(permission denied\)"):
        data.read_shd(path)


def test_write_shd_checksums_detect_corruption(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = data.make_synthetic_shd(tmp_path / "s.h5", n_samples=6, n_classes=3)
    events, labels = data.read_shd(path)
    with h5py.File(path) as f:
        assert f["labels"].fletcher32 and len(f["spikes"].attrs["neurosim_crc32_times"]) == 6
    raw = bytearray(open(path, "rb").read())
    # flip a byte inside the float16 bytes of sample 2's spike times (in the HDF5 heap)
    needle = (events[2]["t"][:4] / 1e6).astype(np.float16).tobytes()
    at = bytes(raw).find(needle)
    assert at > 0
    raw[at + 1] ^= 0x40
    (tmp_path / "bad.h5").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"bad\.h5: corrupt data: spikes/times of sample 2 fails its CRC-32"):
        data.read_shd(tmp_path / "bad.h5")
    labels_at = None
    with h5py.File(path) as f:
        labels_at = f["labels"].id.get_offset()
    if labels_at is None:  # chunked: find the chunk
        with h5py.File(path) as f:
            labels_at = f["labels"].id.get_chunk_info(0).byte_offset
    raw = bytearray(open(path, "rb").read())
    raw[labels_at] ^= 0x01
    (tmp_path / "bad_labels.h5").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"bad_labels\.h5.*corrupt"):
        data.read_shd(tmp_path / "bad_labels.h5")


def _events(t, x, y=None, p=None, fields="nmnist"):
    n = len(t)
    if fields == "nmnist":
        ev = np.zeros(n, dtype=data.NMNIST_DTYPE)
        ev["y"] = y if y is not None else 0
        ev["p"] = p if p is not None else 0
    else:
        ev = np.zeros(n, dtype=data.SHD_DTYPE)
        ev["p"] = 1
    ev["t"], ev["x"] = t, x
    return ev


@pytest.mark.parametrize("times", [[500], [500, 500], [10, 10, 10, 10], [0, 1], [3, 90, 91, 4000]])
def test_framing_counts_every_event_of_tiny_recordings(times):
    ev = _events(np.array(times), np.arange(len(times)) % 4, np.zeros(len(times), int), np.zeros(len(times), int))
    frames = data.to_frames(ev, (4, 1, 2), n_time_bins=3)
    assert float(frames.sum()) == len(times)


@pytest.mark.parametrize("seed", range(4))
def test_framing_equals_a_direct_histogram(seed):
    rng = np.random.default_rng(seed)
    n, bins, sensor = int(rng.integers(1, 400)), int(rng.integers(1, 40)), (5, 4, 2)
    t = rng.integers(0, 10**6, n)  # unsorted
    x, y, p = rng.integers(0, 5, n), rng.integers(0, 4, n), rng.integers(0, 2, n)
    frames = data.to_frames(_events(t, x, y, p), sensor, n_time_bins=bins, flatten=False).numpy()
    edges = np.linspace(t.min(), t.max() + 1, bins + 1)
    expected, _ = np.histogramdd(np.stack([t, p, y, x], 1).astype(float),
                                 bins=[edges, np.arange(3) - 0.5, np.arange(5) - 0.5, np.arange(6) - 0.5])
    np.testing.assert_array_equal(frames, expected)
    assert frames.sum() == n


def test_framing_time_window_keeps_the_incomplete_last_window():
    t = np.array([0, 999, 1000, 2500])
    frames = data.to_frames(_events(t, np.zeros(4, int), fields="shd"), (1, 1, 1), time_window=1000)
    assert frames[:, 0].tolist() == [2.0, 1.0, 1.0]


def test_empty_recording_is_named():
    samples = [(_events(np.array([1, 2]), np.array([0, 1]), fields="shd"), 0),
               (_events(np.array([], int), np.array([], int), fields="shd"), 1)]
    frames = data.EventFrames(samples, (2, 1, 1), n_time_bins=4)
    assert float(frames[0][0].sum()) == 2
    with pytest.raises(ValueError, match="sample 1: the recording has no events"):
        frames[1]


# ====================================================================================== theta gate
@pytest.mark.parametrize("phase", [0.1, 0.25, 0.3, 0.8])
def test_theta_phase_offset_is_a_shift_forward_in_the_cycle(phase):
    """``phase`` is the cycle phase at t = 0: the gate equals the phase-0 gate ``phase / f`` later
    (a flipped sign agrees only at phases 0 and 0.5)."""
    from neurosim.models.hippocampus import ThetaGate

    t = np.arange(0, 0.6, 0.005)
    for shape in ("square", "sine"):
        shifted = ThetaGate(5.0, shape=shape, phase=phase).wake(t)
        np.testing.assert_allclose(shifted, ThetaGate(5.0, shape=shape).wake(t + phase / 5.0), atol=1e-9)


# ====================================================================================== reset gradient
class _Spike(torch.autograd.Function):
    """Heaviside with a surrogate derivative: an oracle written independently of neurosim's kernels."""

    @staticmethod
    def forward(ctx, shifted, surrogate):
        ctx.save_for_backward(shifted)
        ctx.surrogate = surrogate
        return (shifted > 0).to(shifted.dtype)

    @staticmethod
    def backward(ctx, grad):
        (shifted,) = ctx.saved_tensors
        return grad * ctx.surrogate.grad(shifted), None


def _lif_by_hand(x, u0, beta, thr, reset, surrogate):
    u, spikes, trace = u0, [], []
    for x_t in x:
        r = _Spike.apply(u - thr, surrogate)  # the reset keeps its gradient (detach_reset=False)
        u = beta * u + x_t - r * thr if reset == "subtract" else beta * ((1 - r) * u) + x_t
        spikes.append(_Spike.apply(u - thr, surrogate))
        trace.append(u)
    return torch.stack(spikes), u, torch.stack(trace)


@pytest.mark.parametrize("backend", neurosim.backends())
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_reset_gradient_with_detach_reset_false_and_threshold_not_one(backend, reset):
    """Fixed inputs, float64, threshold 0.7 (per neuron) and beta 0.85: every gradient of the
    backend equals the hand-written BPTT loop to 1e-10 (no random draw decides whether it is caught)."""
    g = torch.Generator().manual_seed(7)
    T, B, N = 37, 3, 4  # T > 32 crosses a checkpoint of the native backward
    x = (torch.randn(T, B, N, generator=g, dtype=torch.float64) * 0.9 + 0.35)
    u0 = torch.randn(B, N, generator=g, dtype=torch.float64) * 0.3
    beta = torch.full((N,), 0.85, dtype=torch.float64)
    thr = torch.tensor([0.7, 0.7, 1.3, 0.45], dtype=torch.float64)
    ws, wu, wm = (torch.randn(T, B, N, generator=g, dtype=torch.float64), torch.randn(B, N, generator=g,
                  dtype=torch.float64), torch.randn(T, B, N, generator=g, dtype=torch.float64))
    surrogate = neurosim.surrogate.get("fast_sigmoid")
    grads = []
    for impl in ("hand", backend):
        leaves = [t.clone().requires_grad_() for t in (x, u0, beta, thr)]
        if impl == "hand":
            s, u, m = _lif_by_hand(*leaves, reset, surrogate)
        else:
            out = neurosim.functional.lif(leaves[0], leaves[1], beta=leaves[2], threshold=leaves[3], reset=reset,
                                          detach_reset=False, record_membrane=True, backend=backend)
            s, u, m = out.spikes, out.state, out.membrane
        ((s * ws).sum() + (u * wu).sum() + (m * wm).sum()).backward()
        grads.append([t.grad for t in leaves])
        spikes = s.detach()
    assert 0.05 < float(spikes.mean()) < 0.6  # the resets do happen
    for name, a, b in zip(("x", "u0", "beta", "threshold"), *grads):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10, msg=lambda m: f"{name}: {m}")


# ====================================================================================== CLI
def _one_line_error(returncode, stderr, words):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("neurosim") and "error:" in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


def _cli_cases(tmp):
    (tmp / "afile").write_text("x")
    (tmp / "bad.pt").write_bytes(b"PK\x03\x04 not really a zip")
    save_checkpoint(tmp / "norng.pt", {"model": {}, "optimizer": {}, "epoch": "many", "rng": {}})
    short = ["--epochs", "1", "--limit", "20", "--no-plots", "--no-progress", "--out", str(tmp / "o")]
    return {
        "hidden 0": (["train", "--hidden", "0"], ["--hidden", "'0'", ">= 1"]),
        "hidden -5": (["train", "--hidden", "-5"], ["--hidden", "'-5'"]),
        "T 0": (["train", "--T", "0"], ["--T", "'0'"]),
        "limit 0": (["train", "--limit", "0"], ["--limit"]),
        "limit -1": (["train", "--limit", "-1"], ["--limit"]),
        "epochs 0": (["train", "--epochs", "0"], ["--epochs"]),
        "lr nan": (["train", "--lr", "nan"], ["--lr", "finite"]),
        "lr -1": (["train", "--lr", "-1"], ["--lr"]),
        "batch x": (["train", "--batch-size", "x"], ["--batch-size", "'x'"]),
        "threads -1": (["train", "--threads", "-1"], ["--threads"]),
        "device foo": (["train", "--device", "foo"], ["--device", "'foo'"]),
        "neuron": (["train", "--neuron", "izhikevich"], ["--neuron", "izhikevich"]),
        "dataset": (["train", "--dataset", "cifar10"], ["cifar10"]),
        "out file": (["train", "--out", str(tmp / "afile")] + short[:-2], ["--out", "afile", "not a directory"]),
        "out unwritable": (["train", "--out", "/proc/neurosim-no/out"], ["--out", "/proc/neurosim-no/out"]),
        "checkpoint dir": (["train", "--checkpoint", str(tmp)] + short, ["--checkpoint", "directory"]),
        "checkpoint under file": (["train", "--checkpoint", str(tmp / "afile" / "ck.pt")] + short,
                                  ["--checkpoint", "afile", "not a directory"]),
        "resume garbage": (["train", "--resume", str(tmp / "bad.pt")] + short, ["--resume", "bad.pt", "corrupt"]),
        "resume dir": (["train", "--resume", str(tmp)] + short, ["--resume", "directory"]),
        "resume absent": (["train", "--resume", str(tmp / "none.pt")] + short, ["--resume", "not found"]),
        "resume epoch": (["train", "--resume", str(tmp / "norng.pt")] + short, ["--resume", "norng.pt", "epoch"]),
        "nmnist missing": (["train", "--dataset", f"nmnist:{tmp / 'nowhere'}"] + short, ["nowhere"]),
        "nmnist file": (["train", "--dataset", f"nmnist:{tmp / 'afile'}"] + short, ["afile"]),
        "bench reps 0": (["bench", "--reps", "0"], ["--reps", "'0'"]),
        "bench sizes -4": (["bench", "--sizes", "-4"], ["--sizes", "'-4'"]),
        "bench threads 0": (["bench", "--threads", "0"], ["--threads"]),
        "bench linear": (["bench", "--linear-max-n", "-1"], ["--linear-max-n"]),
        "bench device": (["bench", "--device", "tpu"], ["--device", "tpu"]),
        "bench out": (["bench", "--quick", "--out", str(tmp / "afile")], ["--out", "not a directory"]),
        "unknown flag": (["train", "--hiden", "5"], ["--hiden"]),
        "no command": ([], ["command"]),
    }


def test_cli_user_mistakes_in_process(tmp_path, capsys):
    """Every case through cli.main (fast); the subprocess test below runs the real entry point."""
    for name, (argv, words) in _cli_cases(tmp_path).items():
        code = cli.main(argv)
        _one_line_error(code, capsys.readouterr().err, words)


# a sample through the real entry point (each process spends ~2 s importing torch); all cases run in-process above
SUBPROCESS_CASES = ["hidden 0", "device foo", "checkpoint dir", "resume garbage", "bench sizes -4"]


def _neurosim(argv, env=None, timeout=180):
    return subprocess.Popen([sys.executable, "-m", "neurosim", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """The real entry point, all cases started at once (each process mostly imports torch)."""
    tmp = tmp_path_factory.mktemp("cli")
    cases = _cli_cases(tmp)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    env["OMP_NUM_THREADS"] = "1"
    stale = dict(env, WORLD_SIZE="2")
    wait = dict(env, WORLD_SIZE="2", RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(29000 + os.getpid() % 900))
    procs = {name: _neurosim(cases[name][0], env) for name in SUBPROCESS_CASES}
    procs["stale WORLD_SIZE"] = _neurosim(["train", "--epochs", "1", "--out", str(tmp / "w")], stale)
    procs["rendezvous"] = _neurosim(["train", "--epochs", "1", "--dist-timeout", "2", "--no-plots",
                                     "--out", str(tmp / "r")], wait)
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        results[name] = (proc.returncode, out, err)
    words = {name: cases[name][1] for name in SUBPROCESS_CASES}
    words["stale WORLD_SIZE"] = ["WORLD_SIZE=2", "RANK is not", "torchrun"]
    return results, words


@pytest.mark.parametrize("name", SUBPROCESS_CASES + ["stale WORLD_SIZE"])
def test_cli_user_mistakes_exit_2_with_one_line(cli_runs, name):
    results, words = cli_runs
    code, _, err = results[name]
    _one_line_error(code, err, words[name])


def test_cli_rendezvous_without_peers_is_bounded_and_explained(cli_runs):
    code, _, err = cli_runs[0]["rendezvous"]
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err, err
    assert "waiting up to 2 s for all 2 processes" in lines[0]
    assert lines[-1].startswith("neurosim train: error:") and "within 2 s" in lines[-1] and "torchrun" in lines[-1]


def test_resume_to_a_lower_epoch_count_is_refused(tmp_path, capsys):
    pytest.importorskip("sklearn")
    common = ["train", "--T", "4", "--limit", "40", "--hidden", "8", "--no-plots", "--no-progress",
              "--out", str(tmp_path / "o"), "--checkpoint", str(tmp_path / "ck.pt")]
    assert cli.main(common + ["--epochs", "2"]) == 0
    capsys.readouterr()
    _one_line_error(cli.main(common + ["--epochs", "1", "--resume", str(tmp_path / "ck.pt")]),
                    capsys.readouterr().err, ["--epochs", "2 epochs"])


def test_extending_a_finished_run_equals_an_uninterrupted_run(tmp_path):
    """A 1-epoch run resumed to 3 epochs trains like a 3-epoch run from the start: the cosine
    schedule is rebuilt for the new total (it used to restore the old one and train at lr 0)."""
    pytest.importorskip("sklearn")
    import json

    common = ["train", "--T", "5", "--limit", "120", "--hidden", "16", "--lr", "5e-3", "--no-plots", "--no-progress"]
    assert cli.main(common + ["--epochs", "3", "--out", str(tmp_path / "full")]) == 0
    part = ["--out", str(tmp_path / "part"), "--checkpoint", str(tmp_path / "ck.pt")]
    assert cli.main(common + ["--epochs", "1"] + part) == 0
    assert cli.main(common + ["--epochs", "3", "--resume", str(tmp_path / "ck.pt")] + part) == 0
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    resumed = json.loads((tmp_path / "part" / "results.json").read_text())
    assert [h["lr"] for h in resumed["history"]] == [h["lr"] for h in full["history"]]
    assert resumed["history"][1]["lr"] > 0 and resumed["history"][2]["lr"] > 0
    for a, b in zip(full["history"][1:], resumed["history"][1:]):
        assert a["train_loss"] == b["train_loss"] and a["val_accuracy"] == b["val_accuracy"]
    assert resumed["test_accuracy"] == full["test_accuracy"]
    # the final test line re-evaluates with the same fixed encoding as the last epoch's val line
    assert full["test_accuracy"] == full["history"][-1]["val_accuracy"]


# ====================================================================================== mutations
def test_mutation_list_still_targets_the_code():
    """tests/mutation_check.py applies hand-made bugs one at a time and shows the suite catches each;
    its texts to mutate must still occur exactly once, or the list would rot silently."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        import mutation_check
    finally:
        sys.path.pop(0)
    assert mutation_check.check_targets() == []
    assert len(mutation_check.MUTATIONS) >= 15


def test_evaluation_scores_a_model_the_same_whatever_the_random_state():
    """Rate-coded evaluation draws its spikes from the trainer's seed alone: the same weights score
    the same in another trainer after other random draws, and evaluating leaves training's streams alone."""
    data = _toy_data(24)
    first = _small_trainer()
    first.encoder = make_encoder("rate", 6)
    history = first.fit(data, data, epochs=1)
    second = _small_trainer(seed=0)
    second.encoder = make_encoder("rate", 6)
    second.module.load_state_dict(first.module.state_dict())
    torch.manual_seed(12345)
    torch.rand(100)
    state = torch.get_rng_state()
    again = second.evaluate(data)
    assert torch.equal(torch.get_rng_state(), state)
    assert again["accuracy"] == history[-1]["val_accuracy"] and again["loss"] == history[-1]["val_loss"]
