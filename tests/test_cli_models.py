"""`neurosim train --model mlp|conv|recurrent`: per-data-set defaults, results.json keys, the frame
cache, DVS Gesture folders and clear errors."""

import json

import pytest
import torch

import neurosim
from neurosim import cli

pytest.importorskip("tonic")


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _results(out):
    return json.loads((out / "results.json").read_text())


def test_conv_model_on_nmnist_with_cache(tmp_path):
    root = neurosim.data.make_synthetic_nmnist(tmp_path / "nm", {"Train": 3, "Test": 2}, n_classes=3)
    out, cache = tmp_path / "run", tmp_path / "cache"
    args = ["train", "--dataset", f"nmnist:{root}", "--epochs", "1", "--T", "4", "--channels", "3,4",
            "--no-plots", "--no-progress", "--cache-dir", str(cache), "--out", str(out)]
    assert cli.main(args) == 0
    results = _results(out)
    assert {"test_accuracy", "epochs", "final_train_loss"} <= set(results)
    assert results["model"] == "conv" and results["layers"] == [2 * 34 * 34, 3, 4, 3]
    assert results["parameters"] == neurosim.models.parameter_count(
        neurosim.models.SpikingConvNet((2, 34, 34), 3, channels=(3, 4)))
    assert len(list(cache.glob("*/*.frames"))) == 15  # every train and test sample framed once
    assert cli.main(args) == 0  # the second run reads the cache
    assert _results(out)["test_accuracy"] == results["test_accuracy"]


def test_recurrent_model_is_the_default_for_shd(tmp_path):
    path = neurosim.data.make_synthetic_shd(tmp_path / "shd_train.h5", n_samples=24, n_classes=3)
    out = tmp_path / "shd"
    assert cli.main(["train", "--dataset", f"shd:{path}", "--neuron", "alif", "--epochs", "1", "--T", "8",
                     "--hidden", "12", "--no-plots", "--no-progress", "--no-cache", "--out", str(out)]) == 0
    results = _results(out)
    assert results["model"] == "recurrent" and results["layers"] == [70, 12, 3] and results["neuron"] == "alif"
    assert results["parameters"] == 70 * 12 + 12 + 12 * 12 + 12 + 12 * 3 + 3


def test_dvs_gesture_folder(tmp_path):
    root = neurosim.data.make_synthetic_dvsgesture(tmp_path / "g", users={True: [1], False: [2]},
                                                   lightings=("led",), events=300, noise_events=20)
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", f"dvsgesture:{root}", "--epochs", "1", "--T", "3", "--channels", "2,2,2",
                     "--no-plots", "--no-progress", "--no-cache", "--out", str(out)]) == 0
    results = _results(out)
    assert results["model"] == "conv" and results["train_samples"] == 11 and results["layers"][-1] == 11


def test_digits_default_stays_the_mlp(tmp_path):
    out = tmp_path / "d"
    assert cli.main(["train", "--epochs", "1", "--T", "4", "--limit", "40", "--hidden", "8", "--no-plots",
                     "--no-progress", "--out", str(out)]) == 0
    results = _results(out)
    assert results["model"] == "mlp" and results["layers"] == [64, 8, 10]


def test_model_errors_are_one_line(tmp_path, capsys):
    path = neurosim.data.make_synthetic_shd(tmp_path / "shd_train.h5", n_samples=10, n_classes=2)
    assert cli.main(["train", "--dataset", f"shd:{path}", "--model", "conv", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1-D data" in err[0]
    assert cli.main(["train", "--dataset", f"dvsgesture:{tmp_path}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "DVSGesture" in err[0] and str(tmp_path) in err[0]
    assert cli.main(["train", "--channels", "4,0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "positive ints" in err[0]
