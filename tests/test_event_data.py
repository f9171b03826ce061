"""The checksummed frame cache and DVS Gesture through tonic's class on local folders."""

import os
import stat
import warnings

import numpy as np
import pytest
import torch

from neurosim import data

pytest.importorskip("tonic")


@pytest.fixture(scope="module")
def nmnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("nm")
    return data.make_synthetic_nmnist(root / "NMNIST", {"Train": 3, "Test": 1}, n_classes=3)


def _frames(root, T=8, flatten=False, factor=None):
    return data.EventFrames(data.NMNISTFolder(root, train=True), sensor_size=data.NMNIST_SENSOR_SIZE,
                            n_time_bins=T, flatten=flatten, spatial_factor=factor, num_classes=3)


def test_cached_frames_are_bit_identical_and_read_back(nmnist, tmp_path):
    frames = _frames(nmnist)
    cached = data.CachedFrames(frames, tmp_path)
    first = [cached[i] for i in range(len(cached))]
    assert cached.misses == len(cached) and cached.hits == 0
    again = data.CachedFrames(_frames(nmnist), tmp_path)  # a later run
    second = [again[i] for i in range(len(again))]
    assert again.hits == len(again) and again.misses == 0
    for i, ((a, la), (b, lb)) in enumerate(zip(first, second)):
        x, label = frames[i]
        assert torch.equal(a, x) and torch.equal(b, x) and a.dtype == b.dtype == x.dtype
        assert la == lb == label
    assert first[0][0].sum() > 0


def test_changing_the_transform_or_the_data_changes_the_key(nmnist, tmp_path):
    keys = {data.cache_key(_frames(nmnist, T=8)), data.cache_key(_frames(nmnist, T=9)),
            data.cache_key(_frames(nmnist, flatten=True)), data.cache_key(_frames(nmnist, factor=0.5))}
    assert len(keys) == 4
    before = data.cache_key(_frames(nmnist))
    path = data.NMNISTFolder(nmnist).files[0]
    events = data.read_nmnist(path)
    data.write_nmnist(path, events[: len(events) // 2])  # a file of the data set changes
    assert data.cache_key(_frames(nmnist)) != before


def test_a_corrupt_cache_file_is_rebuilt(nmnist, tmp_path):
    frames = _frames(nmnist)
    cached = data.CachedFrames(frames, tmp_path)
    expected = cached[0][0]
    path = os.path.join(cached.folder, "0.frames")
    blob = bytearray(open(path, "rb").read())
    blob[-3] ^= 0xFF  # one damaged byte in the payload
    open(path, "wb").write(bytes(blob))
    fresh = data.CachedFrames(frames, tmp_path)
    assert torch.equal(fresh[0][0], expected) and fresh.misses == 1
    open(path, "wb").write(blob[:20])  # truncated
    fresh = data.CachedFrames(frames, tmp_path)
    assert torch.equal(fresh[0][0], expected) and fresh.misses == 1
    assert torch.equal(data.CachedFrames(frames, tmp_path)[0][0], expected)  # rewritten, read back


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_an_unwritable_cache_folder_warns_and_runs_uncached(nmnist, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.warns(RuntimeWarning, match="not writable"):
        cached = data.CachedFrames(_frames(nmnist), folder)
    assert cached.folder is None and torch.equal(cached[0][0], _frames(nmnist)[0][0])


def test_a_cache_path_that_is_a_file_warns_and_runs_uncached(nmnist, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(RuntimeWarning, match="not writable"):
        cached = data.CachedFrames(_frames(nmnist), blocker)
    assert cached.folder is None and torch.equal(cached[1][0], _frames(nmnist)[1][0])


def test_dvs_gesture_through_tonics_class(tmp_path):
    import tonic

    root = data.make_synthetic_dvsgesture(tmp_path, users={True: [1, 2], False: [3]}, lightings=("led",),
                                          events=400, noise_events=50)
    train, test = data.DVSGestureFolder(root), data.DVSGestureFolder(os.path.join(root, "DVSGesture"), train=False)
    assert isinstance(train, tonic.datasets.DVSGesture)
    assert len(train) == 22 and len(test) == 11 and train.classes == list(range(11))
    events, label = train[0]
    assert events.dtype == tonic.datasets.DVSGesture.dtype and 0 <= label < 11
    assert events["x"].max() < 128 and events["t"].max() >= 1000  # tonic converts ms to µs
    frames = data.EventFrames(train, n_time_bins=5, spatial_factor=0.25, flatten=False, num_classes=11)
    assert frames.frame_shape == (2, 32, 32) and frames[3][0].shape == (5, 2, 32, 32)


def test_dvs_gesture_layout_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        data.DVSGestureFolder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no DVSGesture/ folder"):
        data.DVSGestureFolder(tmp_path)
    bad = tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_led"
    bad.mkdir(parents=True)
    np.save(bad / "12.npy", np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"12\.npy.*label in 0\.\.10"):
        data.DVSGestureFolder(tmp_path)
    os.remove(bad / "12.npy")
    (tmp_path / "DVSGesture" / "ibmGestureTrain" / "someone").mkdir()
    with pytest.raises(ValueError, match="userNN_<lighting>"):
        data.DVSGestureFolder(tmp_path)
    with pytest.raises(ValueError, match="ibmGestureTest is missing"):
        data.DVSGestureFolder(tmp_path, train=False)


def test_synthetic_nmnist_shift_keeps_the_default_data():
    a = data.synthetic_nmnist_events(3, np.random.default_rng(1))
    b = data.synthetic_nmnist_events(3, np.random.default_rng(1), max_shift=1)
    assert np.array_equal(a, b)
    wide = data.synthetic_nmnist_events(3, np.random.default_rng(1), max_shift=8)
    assert wide["x"].min() >= 0 and wide["x"].max() < 34 and wide["y"].max() < 34
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.check_events(wide, data.NMNIST_SENSOR_SIZE)


@pytest.mark.parametrize("frames", [
    torch.zeros(3, 2, 4, 4),                                   # empty: sparse, no entries
    (torch.rand(8, 2, 34, 34) < 0.02).float() * 3,             # event counts: sparse, 16-bit
    torch.rand(3, 2, 5, 5),                                    # dense floats: zlib, float32 kept
    torch.full((2, 3), 70000.0),                               # counts beyond 16 bits stay float
    torch.randint(0, 5, (4, 10)).double(),                     # float64 stays float64
], ids=["empty", "sparse-counts", "dense-float", "large-counts", "float64"])
def test_cache_encoding_round_trips_every_layout(frames):
    from neurosim.data.cache import _decode, _encode

    blob = _encode(frames, 4)
    decoded, label = _decode(blob)
    assert torch.equal(decoded, frames) and decoded.dtype == frames.dtype and label == 4
    damaged = bytearray(blob)
    damaged[-1] ^= 0x01
    assert _decode(bytes(damaged)) is None
    assert _decode(blob[:len(blob) // 2]) is None


def test_the_data_sets_own_transform_is_part_of_the_key(nmnist, tmp_path):
    """A folder data set's per-sample transform= changes the frames, so it changes the key; a
    transform with no stable description (a lambda) turns the cache off instead of serving stale
    frames."""
    import tonic

    def framed(transform, folder=tmp_path):
        return data.CachedFrames(data.EventFrames(data.NMNISTFolder(nmnist, train=False, transform=transform),
                                                  n_time_bins=4), folder)

    plain = framed(None)
    full = plain[0][0]
    keys = {plain.folder, framed(tonic.transforms.CropTime(max=200000)).folder,
            framed(tonic.transforms.CropTime(max=100000)).folder}
    assert len(keys) == 3 and None not in keys
    assert framed(tonic.transforms.CropTime(max=200000)).folder == framed(tonic.transforms.CropTime(max=200000)).folder
    with pytest.warns(RuntimeWarning, match="transform= of NMNISTFolder.*no description"):
        halved = framed(lambda ev: ev[: len(ev) // 2])
    assert halved.folder is None
    assert halved[0][0].sum() < full.sum()  # framed afresh, not the cached full recording

    def first_half(ev):
        return ev[: len(ev) // 2]

    with pytest.warns(RuntimeWarning, match="no description"):
        assert framed(first_half).folder is None
    # a random augmentation would be frozen at one draw: not cached either, even with a stable repr
    with pytest.warns(RuntimeWarning, match="TimeJitter, a random augmentation"):
        assert framed(tonic.transforms.TimeJitter(std=10)).folder is None
    with pytest.warns(RuntimeWarning, match="RandomFlipLR, a random augmentation"):
        composed = tonic.transforms.Compose([tonic.transforms.CropTime(max=200000),
                                             tonic.transforms.RandomFlipLR(sensor_size=(34, 34, 2))])
        assert framed(composed).folder is None
    # SHD files and DVS Gesture folders (tonic's class) key their transforms too
    shd = data.make_synthetic_shd(tmp_path / "shd.h5", n_samples=4, n_classes=2)
    key = lambda t: data.cache_key(data.EventFrames(data.SHDFile(shd, transform=t), n_time_bins=4))
    assert key(None) != key(tonic.transforms.CropTime(max=200000)) != key(tonic.transforms.CropTime(max=100000))
    assert key(lambda ev: ev) is None
    root = data.make_synthetic_dvsgesture(tmp_path / "g", users={True: [1], False: [2]}, lightings=("led",),
                                          events=100, noise_events=10)
    key = lambda t: data.cache_key(data.EventFrames(data.DVSGestureFolder(root, transform=t), n_time_bins=4))
    assert key(None) != key(tonic.transforms.CropTime(max=200000))
    assert key(lambda ev: ev) is None


def test_dvs_gesture_bad_files_give_one_line_naming_the_file(tmp_path, capsys):
    """Wrong-layout, NaN, out-of-range and truncated .npy files: ValueError naming the file (tonic's
    reader gave an IndexError, or a 91 GiB allocation for a NaN time), exit 2 from the CLI."""
    from neurosim import cli

    root = data.make_synthetic_dvsgesture(tmp_path / "g", users={True: [1], False: [2]}, lightings=("led",),
                                          events=100, noise_events=10)
    path = tmp_path / "g" / "DVSGesture" / "ibmGestureTrain" / "user01_led" / "0.npy"
    good = np.load(path)
    nan = good.astype(np.float64)
    nan[3, 3] = np.nan
    off_sensor = good.copy()
    off_sensor[0, 0] = 128
    half_pixel = good.astype(np.float64)
    half_pixel[0, 1] = 2.5
    cases = [(np.zeros((5, 3)), r"shape \(5, 3\); expected \[N, 4\]"), (np.zeros(5), r"shape \(5,\)"),
             (nan, "column.*t.*NaN"), (off_sensor, r"column x has values in \[.*128\], outside \[0, 127\]"),
             (half_pixel, "column y must hold whole numbers"), (np.array(["a", "b"]), "dtype")]
    for array, message in cases:
        np.save(path, array)
        train = data.DVSGestureFolder(root)
        with pytest.raises(ValueError, match=f"DVS Gesture file {path}.*{message}"):
            train[train.data.index(str(path))]
    np.save(path, good)
    os.truncate(path, os.path.getsize(path) - 100)
    with pytest.raises(ValueError, match=f"{path} is not a readable .npy array"):
        data.DVSGestureFolder(root)[0]
    for array in (np.zeros((5, 3)), nan):
        np.save(path, array)
        assert cli.main(["train", "--dataset", f"dvsgesture:{root}", "--no-cache", "--epochs", "1", "--no-plots",
                         "--no-progress", "--T", "3", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_frame_events_refuses_corrupt_timestamps_instead_of_allocating():
    events = np.zeros(3, dtype=[("x", np.int64), ("y", np.int64), ("p", np.int64), ("t", np.float64)])
    events["t"] = [0.0, np.nan, 10.0]
    with pytest.raises(ValueError, match="sample 7: timestamps .* must be finite"):
        data.frame_events(events, (128, 128, 2), n_time_bins=4, what="sample 7")
    # tonic casts a NaN time to int64's minimum: a span no recording has
    as_int = np.zeros(3, dtype=[("x", np.int64), ("y", np.int64), ("p", np.int64), ("t", np.int64)])
    as_int["t"] = [0, np.iinfo(np.int64).min, 10]
    for options in ({"n_time_bins": 4}, {"time_window": 1000}):
        with pytest.raises(ValueError, match="span .* corrupt"):
            data.frame_events(as_int, (128, 128, 2), **options)
    as_int["t"] = [0, 10**12, 10]  # 11.6 days in 1 µs frames: 10**12 frames of 32768 entries
    with pytest.raises(ValueError, match="frame entries"):
        data.frame_events(as_int, (128, 128, 2), time_window=1)
    as_int["t"] = [0, 5, 10]
    assert data.frame_events(as_int, (128, 128, 2), time_window=1).shape == (11, 2, 128, 128)


def test_synthetic_folder_is_reused_only_when_complete_and_made_alike(tmp_path, monkeypatch):
    from neurosim.data import synthetic

    path = tmp_path / "syn"
    small = dict(splits={"Train": 2, "Test": 1}, n_classes=2)

    def state():
        return {str(p.relative_to(path)): (p.stat().st_mtime_ns, p.read_bytes()) for p in path.rglob("*.bin")}

    assert data.synthetic_nmnist_folder(path, seed=0, **small) == str(path)
    first = state()
    assert len(first) == 6 and (path / data.synthetic.SYNTHETIC_MARKER).is_file()
    data.synthetic_nmnist_folder(path, seed=0, **small)
    assert state() == first  # reused
    data.synthetic_nmnist_folder(path, seed=1, **small)
    assert {k: v[1] for k, v in state().items()} != {k: v[1] for k, v in first.items()}  # another seed: remade
    data.synthetic_nmnist_folder(path, seed=0, **small)
    assert {k: v[1] for k, v in state().items()} == {k: v[1] for k, v in first.items()}
    os.remove(path / "Train" / "1" / "00001.bin")  # a file gone: remade
    data.synthetic_nmnist_folder(path, seed=0, **small)
    assert len(state()) == 6
    # an interrupted generation leaves neither a half folder in place nor a temporary one
    calls = []

    def failing_write(file, events):
        calls.append(file)
        if len(calls) == 3:
            raise KeyboardInterrupt
        write(file, events)

    write = synthetic.write_nmnist
    other = tmp_path / "other"
    monkeypatch.setattr(synthetic, "write_nmnist", failing_write)
    with pytest.raises(KeyboardInterrupt):
        data.synthetic_nmnist_folder(other, seed=0, **small)
    monkeypatch.setattr(synthetic, "write_nmnist", write)
    assert sorted(os.listdir(tmp_path)) == ["syn"]
    # a folder without the marker (an interrupted run of the old code, or make_synthetic_nmnist) is remade
    data.make_synthetic_nmnist(other, {"Train": 1}, n_classes=2, seed=0)
    data.synthetic_nmnist_folder(other, seed=0, **small)
    assert len(list(other.rglob("*.bin"))) == 6 and sorted(os.listdir(tmp_path)) == ["other", "syn"]


def test_cli_synthetic_regenerates_an_incomplete_folder(tmp_path):
    from neurosim import cli

    out = tmp_path / "o"
    data.make_synthetic_nmnist(out / "synthetic_nmnist", {"Train": 1, "Test": 1}, n_classes=10)  # interrupted
    assert cli.main(["train", "--dataset", "synthetic", "--model", "mlp", "--no-cache", "--epochs", "1", "--T", "3",
                     "--hidden", "8", "--limit", "8", "--no-plots", "--no-progress", "--out", str(out)]) == 0
    assert len(list((out / "synthetic_nmnist").rglob("*.bin"))) == 400
