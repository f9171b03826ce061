"""`neurosim train`: results.json, plots, data sets by name, checkpoint/resume, clear errors."""

import csv
import json
import os
import subprocess
import sys

import pytest
import torch

import neurosim
from neurosim import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytest.importorskip("sklearn")


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_train_subprocess_writes_results_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "neurosim.cli", "train", "--epochs", "3", "--T", "8",
                           "--limit", "400", "--hidden", "32", "--lr", "1e-2", "--no-progress", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test accuracy" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert {"test_accuracy", "epochs", "final_train_loss"} <= set(results)
    assert results["epochs"] == 3 and 0.0 <= results["test_accuracy"] <= 1.0
    assert results["final_train_loss"] == results["history"][-1]["train_loss"]
    assert results["test_accuracy"] > 0.3  # three short epochs already beat chance (0.1) clearly
    for name in ("training_curves.png", "raster.png", "firing_rates.png", "membrane.png"):
        assert (out / name).stat().st_size > 1000, name
    with open(out / "metrics.csv") as f:
        assert len(list(csv.DictReader(f))) == 3


def test_python_dash_m_neurosim_works():
    proc = subprocess.run([sys.executable, "-m", "neurosim", "train", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--dataset" in proc.stdout and "--resume" in proc.stdout


def test_synthetic_dataset_with_checkpoint_and_resume(tmp_path):
    pytest.importorskip("tonic")
    out, ck = tmp_path / "syn", tmp_path / "ck.pt"
    common = ["train", "--dataset", "synthetic", "--model", "mlp", "--no-cache", "--T", "6", "--hidden", "16",
              "--no-plots", "--no-progress", "--out", str(out), "--checkpoint", str(ck)]
    assert cli.main(common + ["--epochs", "1"]) == 0
    assert cli.main(common + ["--epochs", "2", "--resume", str(ck)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 2 and len(results["history"]) == 2
    assert results["train_samples"] == 300 and results["test_samples"] == 100  # Train/ and Test/ folders
    assert results["layers"] == [2 * 17 * 17, 16, 10]


def test_shd_file(tmp_path):
    pytest.importorskip("tonic")
    path = neurosim.data.make_synthetic_shd(tmp_path / "shd_train.h5", n_samples=40, n_classes=4)
    out = tmp_path / "shd"
    assert cli.main(["train", "--dataset", f"shd:{path}", "--model", "mlp", "--no-cache", "--epochs", "1", "--T", "10",
                     "--hidden", "16", "--no-plots", "--no-progress", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["layers"] == [70, 16, 4] and results["test_samples"] == 8


def test_errors_are_one_clear_line(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "cifar10"]) == 2
    assert "unknown data set 'cifar10'" in capsys.readouterr().err
    assert cli.main(["train", "--dataset", f"nmnist:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "o")]) == 2
    assert "nowhere" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert cli.main(["train", "--epochs", "1", "--limit", "20", "--no-plots", "--no-progress",
                     "--resume", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "o")]) == 2
    assert "bad.pt" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert cli.main(["train", "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_shd_test_file_is_looked_up_beside_the_training_file(tmp_path):
    """"train" -> "test" in the file name only: /x/training/shd_train.h5 pairs with
    /x/training/shd_test.h5, never with /x/testing/shd_test.h5."""
    pytest.importorskip("tonic")
    from neurosim.training.job import shd_test_path

    assert shd_test_path("/x/training/shd_train.h5") == "/x/training/shd_test.h5"
    assert shd_test_path("/x/training/shd.h5") is None
    (tmp_path / "training").mkdir()
    (tmp_path / "testing").mkdir()
    train = neurosim.data.make_synthetic_shd(tmp_path / "training" / "shd_train.h5", n_samples=20, n_classes=4)
    neurosim.data.make_synthetic_shd(tmp_path / "testing" / "shd_test.h5", n_samples=12, n_classes=4, seed=1)
    args = ["train", "--dataset", f"shd:{train}", "--model", "mlp", "--no-cache", "--epochs", "1", "--T", "3",
            "--hidden", "8", "--no-plots", "--no-progress", "--out", str(tmp_path / "o")]
    assert cli.main(args) == 0
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["test_samples"] == 4 and "20 % split" in results["data"]  # not the 12 in testing/
    neurosim.data.make_synthetic_shd(tmp_path / "training" / "shd_test.h5", n_samples=6, n_classes=4, seed=2)
    assert cli.main(args) == 0
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["test_samples"] == 6 and str(tmp_path / "training" / "shd_test.h5") in results["data"]


def test_shd_file_without_samples_is_one_line_naming_it(tmp_path, capsys):
    pytest.importorskip("h5py")
    path = tmp_path / "shd_empty.h5"
    neurosim.data.write_shd(path, [], [])
    with pytest.raises(ValueError, match=f"SHD file {path} holds no samples"):
        neurosim.data.SHDFile(path)
    assert cli.main(["train", "--dataset", f"shd:{path}", "--no-cache", "--epochs", "1", "--no-plots",
                     "--no-progress", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"SHD file {path} holds no samples" in err


@pytest.mark.parametrize("extra", [["--neuron", "li"], ["--neuron", "li", "--tbptt", "2"],
                                   ["--neuron", "alif", "--tbptt", "2"], ["--neuron", "synaptic", "--tbptt", "2"]])
def test_every_neuron_trains_with_and_without_tbptt(tmp_path, extra):
    pytest.importorskip("matplotlib")
    out = tmp_path / "o"
    assert cli.main(["train", "--epochs", "1", "--T", "3", "--limit", "8", "--hidden", "8", "--no-progress",
                     "--out", str(out)] + extra) == 0
    assert json.loads((out / "results.json").read_text())["neuron"] == extra[1]


def _one_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return captured.out, lines[0]


def test_path_seed_and_size_mistakes_are_one_line_before_training(tmp_path, capsys):
    from neurosim.training.job import TrainConfig

    quick = ["train", "--epochs", "1", "--T", "3", "--limit", "8", "--no-plots", "--no-progress"]
    out = str(tmp_path / "o")
    for args, flag in ((["--checkpoint", ""], "--checkpoint"), (["--cache-dir", " "], "--cache-dir"),
                       (["--out", ""], "--out"), (["--seed", "99999999999999999999999"], "--seed"),
                       (["--seed", str(2**32)], "--seed"), (["--hidden", "1000000000"], "--hidden")):
        assert cli.main(quick + ["--out", out] + args) == 2, args
        stdout, line = _one_line(capsys)
        assert flag in line and stdout == "", (args, line)  # refused before any data or training
        assert flag != "--seed" or "<= 4294967295" in line  # the allowed range
    # sizes the machine cannot allocate (a 10^6 x 10^6 recurrent matrix): one line naming the size
    # is refused before any data is read, from an estimate of the memory it needs
    assert cli.main(quick + ["--out", out, "--model", "recurrent", "--hidden", "1000000"]) == 2
    stdout, line = _one_line(capsys)
    assert line.startswith("neurosim train: error: argument --hidden:") and "does not fit in memory" in line
    assert stdout == ""
    with pytest.raises(ValueError, match="cache_dir"):
        TrainConfig(cache_dir="").validate()
    with pytest.raises(ValueError, match="seed"):
        TrainConfig(seed=2**32).validate()


def test_a_one_sample_data_set_is_one_line(tmp_path, capsys):
    pytest.importorskip("tonic")
    path = neurosim.data.make_synthetic_shd(tmp_path / "shd_train.h5", n_samples=1, n_classes=1)
    assert cli.main(["train", "--dataset", f"shd:{path}", "--epochs", "1", "--T", "3", "--no-plots",
                     "--no-progress", "--no-cache", "--out", str(tmp_path / "o")]) == 2
    _, line = _one_line(capsys)
    assert "1 sample(s): too few to split into train and test" in line and str(path) in line
