"""Offline readers and writers: N-MNIST .bin and SHD .h5, against the format spec, tonic's readers,
a real recording, and random/truncated bytes."""

import glob
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim.data as D

h5py = pytest.importorskip("h5py")


def _events(n, seed=0):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=D.NMNIST_DTYPE)
    ev["x"] = rng.integers(0, 34, n)
    ev["y"] = rng.integers(0, 34, n)
    ev["t"] = np.sort(rng.integers(0, 2**23, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


def test_nmnist_bytes_follow_the_spec():
    # one event written by hand from the bit layout: x=7, y=9, ON, t=0x1234AB
    raw = bytes([7, 9, 0x80 | 0x12, 0x34, 0xAB])
    ev = D.decode_nmnist_bytes(raw)
    assert ev.dtype == D.NMNIST_DTYPE
    assert ev.tolist() == [(7, 9, 0x1234AB, 1)]
    assert D.encode_nmnist_bytes(ev) == raw


def test_nmnist_overflow_marker_adds_period_to_later_events():
    marker = bytes([0, 240, 0, 0, 0])
    raw = bytes([1, 2, 0, 0, 10]) + marker + bytes([3, 4, 0x80, 0, 5])
    ev = D.decode_nmnist_bytes(raw)
    assert ev["t"].tolist() == [10, 5 + 2**13]
    assert ev["y"].tolist() == [2, 4]


def test_nmnist_round_trip(tmp_path):
    ev = _events(500)
    path = tmp_path / "a.bin"
    D.write_nmnist(path, ev)
    assert os.path.getsize(path) == 5 * 500
    np.testing.assert_array_equal(D.read_nmnist(path), ev)


def test_nmnist_reader_matches_tonic(tmp_path):
    tonic = pytest.importorskip("tonic")
    path = tmp_path / "a.bin"
    D.write_nmnist(path, _events(300, seed=3))
    ours = D.read_nmnist(path)
    theirs = tonic.io.read_mnist_file(str(path), dtype=tonic.datasets.NMNIST.dtype)
    assert ours.dtype == np.dtype(tonic.datasets.NMNIST.dtype)
    for f in "xytp":
        np.testing.assert_array_equal(ours[f], theirs[f])


def test_nmnist_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "cut.bin"
    path.write_bytes(bytes(12))
    with pytest.raises(ValueError, match="cut.bin.*multiple of 5"):
        D.read_nmnist(path)
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        D.read_nmnist(tmp_path / "missing.bin")


def test_nmnist_writer_rejects_bad_events(tmp_path):
    ev = _events(5)
    ev["y"][2] = 240
    with pytest.raises(ValueError, match="240"):
        D.write_nmnist(tmp_path / "x.bin", ev)
    with pytest.raises(ValueError, match="field 'p'"):
        D.write_nmnist(tmp_path / "x.bin", np.zeros(3, dtype=[("x", int), ("y", int), ("t", int)]))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_nmnist_reader_survives_random_bytes(raw):
    try:
        ev = D.decode_nmnist_bytes(raw)
    except ValueError as e:
        assert "multiple of 5" in str(e)
        return
    assert len(ev) <= len(raw) // 5
    assert (ev["t"] >= 0).all() and set(np.unique(ev["p"])) <= {0, 1}


def test_shd_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    events, labels = [], [3, 0, 19]
    for n in (5, 0, 40):
        ev = np.empty(n, dtype=D.SHD_DTYPE)
        # float16 seconds: keep times on the float16 grid so the round trip is exact
        ev["t"] = np.sort(rng.integers(0, 1024, n)) * 1000 // 1024 * 1024
        ev["x"] = rng.integers(0, 700, n)
        ev["p"] = 1
        events.append(ev)
    path = tmp_path / "shd.h5"
    D.write_shd(path, events, labels, keys=["a", "b"])
    got, got_labels = D.read_shd(path)
    assert got_labels.tolist() == labels
    with h5py.File(path) as f:  # the layout the real files have
        assert f["spikes/times"].dtype.metadata["vlen"] == np.float16
        assert f["spikes/units"].dtype.metadata["vlen"] == np.uint16
        expected_t = [np.round(np.asarray(v, np.float64) * 1e6).astype(np.int64) for v in f["spikes/times"][()]]
    for ev, g, t in zip(events, got, expected_t):
        assert g.dtype == D.SHD_DTYPE
        np.testing.assert_array_equal(g["x"], ev["x"])
        np.testing.assert_array_equal(g["t"], t)
        np.testing.assert_allclose(g["t"], ev["t"], atol=1e6 * 2**-11)  # float16 spacing below 2 s
        assert (g["p"] == 1).all()


def test_shd_times_beyond_float16_microseconds_do_not_overflow(tmp_path):
    # 1.25 s * 1e6 overflows float16 (max 65504); the reader must upcast first
    ev = np.zeros(1, dtype=D.SHD_DTYPE)
    ev["t"] = 1_250_000
    D.write_shd(tmp_path / "s.h5", [ev], [0])
    got, _ = D.read_shd(tmp_path / "s.h5")
    assert got[0]["t"][0] == 1_250_000


def _shd_sample(t, x):
    ev = np.zeros(len(t), dtype=D.SHD_DTYPE)
    ev["t"], ev["x"], ev["p"] = t, x, 1
    return ev


def test_shd_writer_keeps_the_largest_values_the_layout_holds(tmp_path):
    # units and labels up to 65535 (uint16), times up to 65504 s (float16's largest): read back unchanged
    t_max = int(np.finfo(np.float16).max) * 10**6
    ev = _shd_sample([0, t_max], [0, np.iinfo(np.uint16).max])
    D.write_shd(tmp_path / "edge.h5", [ev], [np.iinfo(np.uint16).max], speakers=[np.iinfo(np.uint16).max])
    got, labels = D.read_shd(tmp_path / "edge.h5")
    np.testing.assert_array_equal(got[0]["t"], ev["t"])
    np.testing.assert_array_equal(got[0]["x"], ev["x"])
    assert labels.tolist() == [np.iinfo(np.uint16).max]
    with h5py.File(tmp_path / "edge.h5") as f:
        assert f["extra/speaker"][()].tolist() == [np.iinfo(np.uint16).max]


@pytest.mark.parametrize("change, match", [
    (dict(x=[1, 65536]), r"events\[1\]: field 'x' must lie in \[0, 65535\]"),
    (dict(x=[-1, 2]), r"events\[1\]: field 'x' must lie in"),
    (dict(t=[-5, 10]), r"events\[1\]: field 't' must lie in \[0, "),
    (dict(t=[0, 70_000 * 10**6]), r"events\[1\]: field 't' must lie in"),
    (dict(t=[0.0, np.nan]), r"events\[1\]: field 't' must be finite"),
    (dict(x=[1.5, 2.0]), r"events\[1\]: field 'x' must be whole numbers"),
    (dict(labels=[0, -1]), r"labels must lie in \[0, 65535\]"),
    (dict(labels=[0, 65536]), r"labels must lie in"),
    (dict(labels=[0, 1.5]), "labels must be whole numbers"),
    (dict(labels=[0, "a"]), "labels must be integers"),
    (dict(speakers=[0, 70000]), "speakers must lie in"),
    (dict(speakers=[0]), "speakers: expected one per sample"),
    (dict(keys=[b"a"]), "keys: expected strings"),
    (dict(sample=[(0, 1)]), r"events\[1\]: expected a NumPy structured array"),
])
def test_shd_writer_refuses_what_the_layout_cannot_hold(tmp_path, change, match):
    good = _shd_sample([0, 10], [1, 2])
    fields = [("t", np.float64 if any(isinstance(v, float) for v in change.get("t", [])) else np.int64),
              ("x", np.float64 if any(isinstance(v, float) for v in change.get("x", [])) else np.int64), ("p", np.int64)]
    second = np.zeros(2, dtype=fields)
    second["t"], second["x"], second["p"] = change.get("t", [0, 10]), change.get("x", [1, 2]), 1
    events = [good, change.get("sample", second)]
    path = tmp_path / "bad.h5"
    with pytest.raises(ValueError, match=match):
        D.write_shd(path, events, change.get("labels", [0, 1]), keys=change.get("keys", ()),
                    speakers=change.get("speakers", ()))
    assert not path.exists()  # checked before the file is opened


def test_nmnist_writer_refuses_fractional_or_nan_fields(tmp_path):
    ev = np.zeros(2, dtype=[("x", np.float64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
    ev["t"] = [0, 5]
    for bad in (2.5, np.nan):
        ev["x"][1] = bad
        with pytest.raises(ValueError, match="field 'x' must be"):
            D.write_nmnist(tmp_path / "x.bin", ev)
    ev["x"][1] = 3.0  # whole numbers in a float field are written as they are
    assert D.decode_nmnist_bytes(D.encode_nmnist_bytes(ev))["x"].tolist() == [0, 3]


def test_shd_bad_files_give_clear_errors(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(os.urandom(2000))
    with pytest.raises(ValueError, match="junk.h5"):
        D.read_shd(junk)
    good = tmp_path / "good.h5"
    D.make_synthetic_shd(good, n_samples=4, n_classes=2)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: os.path.getsize(good) // 2])
    with pytest.raises(ValueError, match="truncated.h5"):
        D.read_shd(truncated)
    nolabels = tmp_path / "nolabels.h5"
    with h5py.File(nolabels, "w") as f:
        f.create_dataset("spikes/times", (1,), dtype=h5py.vlen_dtype(np.float16))
        f.create_dataset("spikes/units", (1,), dtype=h5py.vlen_dtype(np.uint16))
    with pytest.raises(ValueError, match="nolabels.h5.*labels"):
        D.read_shd(nolabels)
    mismatch = tmp_path / "mismatch.h5"
    with h5py.File(mismatch, "w") as f:
        t = f.create_dataset("spikes/times", (1,), dtype=h5py.vlen_dtype(np.float16))
        u = f.create_dataset("spikes/units", (1,), dtype=h5py.vlen_dtype(np.uint16))
        t[0], u[0] = np.array([0.1, 0.2], np.float16), np.array([1], np.uint16)
        f["labels"] = np.array([0], np.uint16)
    with pytest.raises(ValueError, match="sample 0 has 2 spikes/times but 1 spikes/units"):
        D.read_shd(mismatch)


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=0, max_size=3000), st.integers(0, 3000))
def test_shd_reader_survives_random_and_cut_bytes(tmp_path_factory, raw, cut):
    folder = tmp_path_factory.mktemp("shd")
    base = folder / "base.h5"
    D.make_synthetic_shd(base, n_samples=2, n_classes=2)
    for name, data in (("random.h5", raw), ("cut.h5", base.read_bytes()[:cut] + raw[:50])):
        path = folder / name
        path.write_bytes(data)
        try:
            events, labels = D.read_shd(path)
        except ValueError as e:
            assert name in str(e)
        else:
            assert len(events) == len(labels)


def test_tonic_shd_reads_synthetic_file_offline(tmp_path):
    tonic = pytest.importorskip("tonic")
    folder = tmp_path / "SHD"
    folder.mkdir()
    D.make_synthetic_shd(folder / "shd_train.h5", n_samples=6, n_classes=3, tonic_placeholder=True)
    ds = tonic.datasets.SHD(save_to=str(tmp_path), train=True)
    ours, labels = D.read_shd(folder / "shd_train.h5")
    assert len(ds) == 6
    for i in range(6):
        ev, label = ds[i]
        assert label == labels[i]
        np.testing.assert_array_equal(ev["x"], ours[i]["x"])
        np.testing.assert_allclose(ev["t"], ours[i]["t"], atol=1)


@pytest.fixture(scope="module")
def real_nmnist_sample(tmp_path_factory):
    """The one real N-MNIST recording in tonic 1.6.0's source distribution (downloaded, never committed)."""
    folder = tmp_path_factory.mktemp("tonic_sdist")
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "tonic==1.6.0", "--no-binary", ":all:",
                        "--no-deps", "--no-build-isolation", "-d", str(folder), "-q"],
                       check=True, timeout=120, capture_output=True)
        archive = glob.glob(str(folder / "tonic-1.6.0.tar.gz"))[0]
        with tarfile.open(archive) as tar:
            member = tar.getmember("tonic-1.6.0/test/test_data/sample_nmnist.bin")
            tar.extract(member, folder, filter="data")
    except Exception as e:  # no network, no sdist: the test is optional
        pytest.skip(f"tonic 1.6.0 sdist not available: {type(e).__name__}")
    return folder / "tonic-1.6.0/test/test_data/sample_nmnist.bin"


def test_real_nmnist_recording(real_nmnist_sample):
    ev = D.read_nmnist(real_nmnist_sample)
    # facts of this file (see research/ecosystem.md): 4 325 events of a 34x34 sensor over ~0.3 s
    assert len(ev) == 4325
    assert 0 <= ev["x"].min() and ev["x"].max() <= 33 and ev["y"].max() <= 33
    # polarity split 2 145 ON (p=1) / 2 180 OFF; tonic's reader agrees (ecosystem.md lists them swapped)
    assert (ev["p"] == 1).sum() == 2145 and (ev["p"] == 0).sum() == 2180
    assert ev["t"][0] == 654 and ev["t"][-1] == 311175 and (np.diff(ev["t"]) >= 0).all()
    tonic = pytest.importorskip("tonic")
    theirs = tonic.io.read_mnist_file(str(real_nmnist_sample), dtype=tonic.datasets.NMNIST.dtype)
    for f in "xytp":
        np.testing.assert_array_equal(ev[f], theirs[f])
    # writing it back gives the same bytes
    assert D.encode_nmnist_bytes(ev) == real_nmnist_sample.read_bytes()
