"""Events -> time-major frames through tonic's transforms, the padding collate, local folders,
digits, and clear errors for bad data."""

import numpy as np
import pytest
import torch

import neurosim.data as D

tonic = pytest.importorskip("tonic", reason="EventFrames uses tonic's transforms")


def _nmnist_events(n, seed=0):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=D.NMNIST_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, 34, n), rng.integers(0, 34, n)
    ev["t"], ev["p"] = np.sort(rng.integers(0, 300_000, n)), rng.integers(0, 2, n)
    return ev


def test_frames_count_every_event_at_its_pixel():
    ev = _nmnist_events(2000)
    frames = D.EventFrames([(ev, 3)], D.NMNIST_SENSOR_SIZE, n_time_bins=10, flatten=False)
    x, label = frames[0]
    assert x.shape == (10, 2, 34, 34) and x.dtype == torch.float32 and label == 3
    # every event is counted, the one at t_last too (tonic's ToFrame(n_time_bins) loses it)
    kept = ev
    expected = np.zeros((2, 34, 34))
    np.add.at(expected, (kept["p"], kept["y"], kept["x"]), 1)
    np.testing.assert_array_equal(x.sum(0).numpy(), expected)
    # early events land in early frames
    first = ev[ev["t"] < ev["t"][0] + 25_000]
    assert x[0].sum() >= len(first) * 0.9
    flat, _ = D.EventFrames([(ev, 3)], D.NMNIST_SENSOR_SIZE, n_time_bins=10)[0]
    assert torch.equal(flat, x.reshape(10, -1))
    assert torch.equal(D.to_frames(ev, D.NMNIST_SENSOR_SIZE, n_time_bins=10), flat)


def test_downsample_and_denoise_use_tonic_transforms():
    ev = _nmnist_events(3000, seed=1)
    frames = D.EventFrames([(ev, 0)], D.NMNIST_SENSOR_SIZE, n_time_bins=5, spatial_factor=0.5, flatten=False)
    x, _ = frames[0]
    assert frames.sensor_size == (17, 17, 2) and x.shape == (5, 2, 17, 17)
    assert x.sum() == len(ev)  # every event (see above)
    denoised, _ = D.EventFrames([(ev, 0)], D.NMNIST_SENSOR_SIZE, n_time_bins=5, denoise_us=1000)[0]
    expected = len(tonic.transforms.Denoise(filter_time=1000)(ev))
    assert denoised.sum() == expected < len(ev)


def test_shd_frames_with_time_window_and_padding_collate(tmp_path):
    path = D.make_synthetic_shd(tmp_path / "shd.h5", n_samples=6, n_classes=3)
    frames = D.EventFrames(D.SHDFile(path), time_window=100_000, spatial_factor=0.1, num_classes=3)
    samples = [frames[i] for i in range(4)]
    lengths = [s[0].shape[0] for s in samples]
    x, y = D.time_major_collate(samples)
    assert x.shape == (max(lengths), 4, 70)
    for i, (xi, yi) in enumerate(samples):
        assert torch.equal(x[: xi.shape[0], i], xi) and (x[xi.shape[0]:, i] == 0).all()
        assert y[i] == yi


def test_strict_collate_names_the_different_lengths():
    batch = [(torch.zeros(5, 3), 0), (torch.zeros(7, 3), 1)]
    with pytest.raises(ValueError, match=r"different T \[5, 7\]"):
        D.strict_time_major_collate(batch)
    with pytest.raises(ValueError, match="feature shape"):
        D.time_major_collate([(torch.zeros(5, 3), 0), (torch.zeros(5, 4), 1)])


def test_event_array_missing_field_is_named():
    ev = np.zeros(4, dtype=[("x", int), ("t", int), ("p", int)])
    with pytest.raises(ValueError, match="missing field 'y'"):
        D.EventFrames([(ev, 0)], D.NMNIST_SENSOR_SIZE, n_time_bins=4)[0]
    with pytest.raises(ValueError, match="structured array"):
        D.EventFrames([(np.zeros((4, 4)), 0)], D.NMNIST_SENSOR_SIZE, n_time_bins=4)[0]
    ev = _nmnist_events(10)
    ev["x"][0] = 40
    with pytest.raises(ValueError, match="field 'x'.*sensor range"):
        D.EventFrames([(ev, 0)], D.NMNIST_SENSOR_SIZE, n_time_bins=4)[0]


SMALL_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])


def test_frame_events_counts_the_sensor_edges_like_a_hand_count():
    sensor = (5, 3, 2)  # W, H, P: the largest valid indices are x 4, y 2, p 1
    ev = np.array([(4, 2, 0, 1), (0, 0, 10, 0), (4, 0, 20, 1), (0, 2, 30, 0), (4, 2, 39, 1)], dtype=SMALL_DTYPE)
    frames = D.frame_events(ev, sensor, n_time_bins=2)
    expected = np.zeros((2, 2, 3, 5), np.float32)
    np.add.at(expected, ((ev["t"] - ev["t"].min()) * 2 // 40, ev["p"], ev["y"], ev["x"]), 1)
    np.testing.assert_array_equal(frames, expected)


@pytest.mark.parametrize("field, value", [("x", 5), ("y", 3), ("p", 2), ("p", -1), ("x", -1)])
def test_frame_events_refuses_events_outside_the_sensor(field, value):
    ev = np.array([(1, 1, 0, 0), (2, 1, 10, 1)], dtype=SMALL_DTYPE)
    ev[field][1] = value
    with pytest.raises(ValueError, match=f"sample 3: field '{field}'.*sensor range"):
        D.frame_events(ev, (5, 3, 2), n_time_bins=2, what="sample 3")
    with pytest.raises(ValueError, match=f"field '{field}'.*sensor range"):  # one check for both
        D.EventFrames([(ev, 0)], (5, 3, 2), n_time_bins=2)[0]


def test_frame_events_refuses_coordinates_that_are_not_whole_numbers():
    ev = np.zeros(2, dtype=[("x", np.float64), ("y", np.float64), ("t", np.int64), ("p", np.int64)])
    ev["t"] = [0, 10]
    for bad in (1.5, np.nan):
        ev["x"][1] = bad
        with pytest.raises(ValueError, match="field 'x' must hold whole numbers"):
            D.frame_events(ev, (5, 3, 2), n_time_bins=2)
    ev["x"][1] = 4.0  # whole numbers in a float field are fine
    assert D.frame_events(ev, (5, 3, 2), n_time_bins=2)[1, 0, 0, 4] == 1


@pytest.mark.parametrize("options, name", [
    (dict(time_window=0), "time_window"), (dict(time_window=-5.0), "time_window"),
    (dict(time_window=float("nan")), "time_window"), (dict(time_window=float("inf")), "time_window"),
    (dict(time_window=True), "time_window"), (dict(n_time_bins=0), "n_time_bins"),
    (dict(n_time_bins=2.5), "n_time_bins"), (dict(n_time_bins=-1), "n_time_bins"),
    (dict(n_time_bins=True), "n_time_bins"), (dict(), "exactly one"),
    (dict(n_time_bins=2, time_window=10), "exactly one"),
    (dict(n_time_bins=2, sensor_size=(5, 3)), "sensor_size"), (dict(n_time_bins=2, sensor_size=(5, 0, 2)), "sensor_size"),
    (dict(n_time_bins=2, sensor_size=(5.0, 3, 2)), "sensor_size"), (dict(n_time_bins=2, sensor_size=None), "sensor_size"),
])
def test_frame_events_and_event_frames_name_a_bad_argument(options, name):
    ev = np.array([(1, 1, 0, 0), (2, 1, 10, 1)], dtype=SMALL_DTYPE)
    sensor = options.pop("sensor_size", (5, 3, 2))
    with pytest.raises(ValueError, match=name):
        D.frame_events(ev, sensor, **options)
    with pytest.raises(ValueError, match=name):
        D.EventFrames([(ev, 0)], sensor, **options)


def test_label_out_of_range_is_named():
    with pytest.raises(ValueError, match="label 12 is outside"):
        D.EventFrames([(_nmnist_events(10), 12)], D.NMNIST_SENSOR_SIZE, n_time_bins=4, num_classes=10)[0]


def test_nmnist_folder_reads_synthetic_files_and_reports_bad_ones(tmp_path):
    root = D.make_synthetic_nmnist(tmp_path / "nm", {"Train": 3, "Test": 2}, n_classes=4)
    train, test = D.NMNISTFolder(root, train=True), D.NMNISTFolder(root, train=False)
    assert len(train) == 12 and len(test) == 8 and train.classes == [0, 1, 2, 3]
    ev, label = train[5]
    assert ev.dtype == D.NMNIST_DTYPE and label == 1
    # the synthetic classes are learnable: a sample correlates more with its own class mean
    def image(e):
        img = np.zeros((34, 34))
        np.add.at(img, (e["y"], e["x"]), 1)
        return img.ravel()
    means = [np.mean([image(train[i][0]) for i in range(12) if train.labels[i] == c], 0) for c in range(4)]
    hits = sum(int(np.argmax([image(test[i][0]) @ m for m in means]) == test.labels[i]) for i in range(8))
    assert hits >= 7
    bad = tmp_path / "nm" / "Train" / "2" / "00001.bin"
    bad.write_bytes(bad.read_bytes()[:-2])
    with pytest.raises(ValueError, match="00001.bin"):
        train[7]
    with pytest.raises(FileNotFoundError, match="not found"):
        D.NMNISTFolder(tmp_path / "nowhere")
    (tmp_path / "empty" / "3").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no <label>/\\*.bin"):
        D.NMNISTFolder(tmp_path / "empty")
    (tmp_path / "odd" / "cats").mkdir(parents=True)
    with pytest.raises(ValueError, match="'cats' is not a label"):
        D.NMNISTFolder(tmp_path / "odd")


def test_tonic_dataset_class_with_local_folder(tmp_path):
    """tonic's own NMNIST class on local files: patch its existence check (as its tests do)."""
    from unittest import mock

    D.make_synthetic_nmnist(tmp_path / "NMNIST", {"Train": 2}, n_classes=3)
    with mock.patch.object(tonic.datasets.NMNIST, "_check_exists", return_value=True):
        ds = tonic.datasets.NMNIST(save_to=str(tmp_path), train=True)
    frames = D.EventFrames(ds, n_time_bins=6)
    x, y = frames[0]
    assert len(ds) == 6 and x.shape == (6, 2 * 34 * 34) and 0 <= y < 3


def test_digits():
    train, test = D.digits_datasets()
    assert len(train) + len(test) == 1797 and len(test) == 360
    x, y = train[0]
    assert x.shape == (64,) and 0 <= x.min() and x.max() <= 1 and 0 <= y < 10
    counts = torch.bincount(test.tensors[1], minlength=10)
    assert counts.min() >= 35  # stratified


def test_errors_name_the_file_and_its_own_index_not_the_split_position(tmp_path, capsys):
    """Behind a split or --limit Subset, a bad sample is reported by its file (and, for SHD, its
    index in the file), not by its position in the Subset."""
    from neurosim import cli

    path = tmp_path / "shd.h5"
    events = [D.synthetic_shd_events(i % 2, np.random.default_rng(i)) for i in range(10)]
    events[0]["x"][5] = 800  # channel beyond SHD's 700
    D.write_shd(path, events, [i % 2 for i in range(10)])
    split = torch.utils.data.Subset(D.SHDFile(path), [4, 7, 0, 2])
    with pytest.raises(ValueError, match=rf"file {path}, sample 0: field 'x'"):
        D.EventFrames(split, D.SHD_SENSOR_SIZE, n_time_bins=4)[2]
    assert cli.main(["train", "--dataset", f"shd:{path}", "--model", "mlp", "--no-cache", "--epochs", "1", "--T", "3",
                     "--hidden", "8", "--no-plots", "--no-progress", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"file {path}, sample 0: field 'x'" in err and err.count("\n") == 1
    root = D.make_synthetic_nmnist(tmp_path / "nm", {"Train": 2}, n_classes=2)
    empty = tmp_path / "nm" / "Train" / "1" / "00000.bin"
    empty.write_bytes(b"")
    folder = D.NMNISTFolder(root)
    split = torch.utils.data.Subset(folder, [3, 2, 0])
    with pytest.raises(ValueError, match=rf"file {empty}: the recording has no events"):
        D.EventFrames(split, D.NMNIST_SENSOR_SIZE, n_time_bins=4)[1]
    with pytest.raises(ValueError, match=rf"file {empty}: the recording has no events"):
        D.CachedFrames(D.EventFrames(split, D.NMNIST_SENSOR_SIZE, n_time_bins=4), tmp_path / "cache")[1]
    with pytest.raises(ValueError, match=r"^sample 0: field 'x'"):  # in memory: no file to name
        D.EventFrames([(events[0], 0)], D.SHD_SENSOR_SIZE, n_time_bins=4)[0]
