"""`neurosim train` / `neurosim bench` options: nothing given is ignored or recorded as used when it was
not; a resumed run keeps the options that define it; sizes, threads and checkpoints are checked
before any data work, each mistake one argparse-style line (exit status 2)."""

import json
import os

import pytest
import torch

from neurosim import cli
from neurosim.training import job
from neurosim.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

pytest.importorskip("sklearn")

QUICK = ["train", "--epochs", "1", "--T", "4", "--limit", "10", "--hidden", "8", "--no-plots", "--no-progress"]


def _quick(extra):
    """QUICK, without --hidden where ``extra`` sets the sizes or a data set (conv by default)."""
    sized = any(a in extra for a in ("--hidden", "--channels", "--dataset"))
    return [a for a in QUICK if a not in ("--hidden", "8")] if sized else QUICK


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _refused(capsys, argv, flags, out=None):
    """``argv`` exits 2 with one line naming every flag of ``flags``, before any data or training
    work (nothing on stdout, no --out folder made)."""
    assert cli.main(argv) == 2, argv
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    line = lines[0]
    assert line.startswith(f"neurosim {argv[0]}: error: argument "), line
    for flag in flags:
        assert flag in line, (flag, line)
    assert captured.out == "", captured.out
    if out is not None:
        assert not os.path.exists(out), out
    return line


def _results(out):
    return json.loads((out / "results.json").read_text())


@pytest.fixture
def checkpoint(tmp_path):
    """A 1-epoch digits run with --T 4 --limit 10 --hidden 8 --lr 3e-3 --seed 1 and its checkpoint."""
    ck, out = tmp_path / "ck.pt", tmp_path / "first"
    assert cli.main(QUICK + ["--lr", "3e-3", "--seed", "1", "--out", str(out), "--checkpoint", str(ck)]) == 0
    return ck, _results(out)


# ------------------------------------------------------------------------------------- resume
@pytest.mark.parametrize("change,flags", [
    (["--lr", "0.5"], ["--lr"]),
    (["--seed", "7"], ["--seed"]),
    (["--T", "5"], ["--T"]),
    (["--encoding", "latency"], ["--encoding"]),
    (["--batch-size", "4"], ["--batch-size"]),
    (["--hidden", "9"], ["--hidden"]),
    (["--limit", "12"], ["--limit"]),
    (["--neuron", "alif"], ["--neuron"]),
    (["--tbptt", "2"], ["--tbptt"]),
    (["--clip", "1"], ["--clip"]),
    (["--model", "recurrent"], ["--model"]),
    (["--seed", "7", "--T", "5"], ["--T", "--seed"]),
])
def test_resume_refuses_options_that_define_the_run(checkpoint, tmp_path, capsys, change, flags):
    ck, _ = checkpoint
    out = tmp_path / "resumed"
    line = _refused(capsys, ["train", "--epochs", "2", "--no-progress", "--no-plots", "--resume", str(ck),
                             "--out", str(out)] + change, flags, out)
    assert str(ck) in line


def test_resume_continues_with_the_checkpoint_options_and_records_them(checkpoint, tmp_path):
    ck, first = checkpoint
    out = tmp_path / "resumed"
    # only what may change on resume: the epoch count, the output folder, progress and plots; the
    # options that define the run come from the checkpoint (or, given, must equal its values)
    assert cli.main(["train", "--epochs", "2", "--no-progress", "--no-plots", "--resume", str(ck), "--seed", "1",
                     "--out", str(out)]) == 0
    resumed = _results(out)
    assert resumed["epochs"] == 2 and len(resumed["history"]) == 2
    assert resumed["history"][0] == first["history"][0]  # the checkpoint's epoch, carried over
    for field in job.RUN_FIELDS:
        assert resumed["config"][field] == first["config"][field], field
    assert resumed["config"]["lr"] == 3e-3 and resumed["config"]["seed"] == 1 and resumed["config"]["T"] == 4
    assert resumed["history"][0]["lr"] == resumed["config"]["lr"]  # the lr recorded is the one the optimizer used
    assert (resumed["train_samples"], resumed["test_samples"]) == (first["train_samples"], first["test_samples"])
    assert resumed["resumed_from"] == {"checkpoint": str(ck), "epoch": 1, "world_size": 1}
    assert first["resumed_from"] is None


@pytest.fixture
def interrupted(tmp_path, monkeypatch):
    """A 3-epoch digits run interrupted after its first epoch's checkpoint (ck.pt)."""
    from neurosim.training.trainer import Trainer

    ck = tmp_path / "interrupted.pt"
    save = Trainer.save_checkpoint

    def save_then_stop(self, path):
        save(self, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        cli.main(QUICK[:2] + ["3"] + QUICK[3:] + ["--out", str(tmp_path / "i"), "--checkpoint", str(ck)])
    monkeypatch.setattr(Trainer, "save_checkpoint", save)
    return ck


@pytest.mark.parametrize("recorded", [True, False])  # False: an older checkpoint, only its schedule's T_max
def test_resume_without_epochs_trains_to_the_checkpoint_total(interrupted, tmp_path, recorded):
    ck = interrupted
    if not recorded:
        payload = load_checkpoint(ck)
        del payload["metadata"]["epochs"]
        save_checkpoint(ck, payload)
    full = tmp_path / "full"
    assert cli.main(QUICK[:2] + ["3"] + QUICK[3:] + ["--out", str(full)]) == 0
    out = tmp_path / "resumed"
    assert cli.main(["train", "--no-progress", "--no-plots", "--resume", str(ck), "--out", str(out)]) == 0
    resumed, uninterrupted = _results(out), _results(full)
    assert resumed["epochs"] == 3 and resumed["config"]["epochs"] == 3
    assert [r["lr"] for r in resumed["history"]] == [r["lr"] for r in uninterrupted["history"]]


def test_resume_without_a_recorded_total_asks_for_epochs(interrupted, tmp_path, capsys):
    payload = load_checkpoint(interrupted)
    del payload["metadata"]["epochs"]
    payload["scheduler"] = {}
    save_checkpoint(interrupted, payload)
    line = _refused(capsys, ["train", "--resume", str(interrupted), "--out", str(tmp_path / "o")], ["--resume"],
                    tmp_path / "o")
    assert "--epochs" in line and "(got" not in line


def test_resume_names_the_differing_option_before_checks_it_would_fail(tmp_path, capsys):
    ck = tmp_path / "tb.pt"
    assert cli.main(QUICK + ["--tbptt", "2", "--out", str(tmp_path / "first"), "--checkpoint", str(ck)]) == 0
    capsys.readouterr()
    line = _refused(capsys, ["train", "--resume", str(ck), "--T", "2", "--out", str(tmp_path / "o")], ["--T"],
                    tmp_path / "o")
    assert "--tbptt" not in line
    with pytest.raises(job.ConfigError) as info:  # the Python API reports the same
        job.run(job.TrainConfig(epochs=2, T=2, tbptt=2, limit=10, hidden=8, resume=str(ck),
                                out=str(tmp_path / "api"), progress=False, plots=False), log=lambda m: None)
    assert "T" in info.value.fields


def test_run_api_refuses_a_resume_that_changes_the_run(checkpoint, tmp_path):
    ck, _ = checkpoint
    config = job.TrainConfig(epochs=2, T=4, limit=10, hidden=8, lr=3e-3, seed=7, resume=str(ck),
                             out=str(tmp_path / "api"), progress=False, plots=False)
    with pytest.raises(job.ConfigError, match="seed") as info:
        job.run(config, log=lambda m: None)
    assert info.value.fields == ("seed",)
    assert not (tmp_path / "api").exists()


def test_resume_needs_a_checkpoint_that_records_its_run(checkpoint, tmp_path, capsys):
    ck, _ = checkpoint
    payload = load_checkpoint(ck)
    del payload["metadata"]  # as a checkpoint of Trainer.save_checkpoint without metadata
    save_checkpoint(tmp_path / "bare.pt", payload)
    line = _refused(capsys, ["train", "--resume", str(tmp_path / "bare.pt"), "--out", str(tmp_path / "o")],
                    ["--resume"], tmp_path / "o")
    assert "records no run configuration" in line


@pytest.mark.parametrize("entry,value,words", [
    ("epoch", -3, ["'epoch'", "-3"]),
    ("epoch", "1", ["'epoch'"]),
    ("epoch", 1.5, ["'epoch'"]),
    ("epoch", 2, ["inconsistent", "history"]),
    ("global_step", -1, ["'global_step'"]),
    ("history", "rows", ["'history'"]),
    ("history", [{"epoch": 1}], ["history row 1", "'train_loss'"]),
    ("history", [{"epoch": 1, "train_loss": 0.5, "train_accuracy": "x"}], ["history row 1", "'train_accuracy'"]),
    ("history", [{"epoch": 3, "train_loss": 0.5, "train_accuracy": 0.1}], ["history row 1", "'epoch'"]),
    ("rng", {"torch": "x"}, ["rng"]),
])
def test_inconsistent_checkpoints_are_refused_before_any_data_work(checkpoint, tmp_path, capsys, entry, value,
                                                                   words):
    ck, _ = checkpoint
    payload = load_checkpoint(ck)
    payload[entry] = value
    bad = tmp_path / "bad.pt"
    save_checkpoint(bad, payload)
    line = _refused(capsys, ["train", "--epochs", "3", "--resume", str(bad), "--out", str(tmp_path / "o")],
                    ["--resume", str(bad)] + words, tmp_path / "o")
    assert "argument --resume: checkpoint" in line
    from neurosim.models import SpikingMLP
    from neurosim.training import Trainer

    model = SpikingMLP([64, 8, 10])
    trainer = Trainer(model, torch.optim.Adam(model.parameters()), progress=False)
    with pytest.raises(CheckpointError):  # the Python API refuses the same checkpoints
        trainer.load_checkpoint(bad)
    assert trainer.epoch == 0


# ---------------------------------------------------------------------- options that do not apply
@pytest.mark.parametrize("extra,flag", [
    (["--channels", "3,3"], "--channels"),
    (["--model", "recurrent", "--channels", "3,3"], "--channels"),
    (["--dataset", "synthetic", "--model", "conv", "--hidden", "77"], "--hidden"),
    (["--dataset", "synthetic", "--model", "mlp", "--encoding", "latency"], "--encoding"),
    (["--dataset", "nmnist:/nowhere", "--encoding", "rate"], "--encoding"),
    (["--dataset", "shd:/nowhere.h5", "--encoding", "direct"], "--encoding"),
    (["--dataset", "dvsgesture:/nowhere", "--encoding", "latency"], "--encoding"),
    (["--every", "3"], "--every"),
    (["--no-cache"], "--no-cache"),
    (["--cache-dir", "/tmp/neurosim-frames"], "--cache-dir"),
    (["--dataset", "synthetic", "--no-cache", "--cache-dir", "/tmp/neurosim-frames"], "--cache-dir"),
    (["--dist-timeout", "5"], "--dist-timeout"),
    (["--tbptt", "4"], "--tbptt"),  # T is 4: one chunk, nothing truncated
])
def test_options_that_do_not_apply_are_refused(tmp_path, capsys, monkeypatch, extra, flag):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    _refused(capsys, _quick(extra) + ["--out", str(tmp_path / "o")] + extra, [flag], tmp_path / "o")


@pytest.mark.parametrize("neuron", ["ultralif", "li", "ultraplif", "ultradlif", "ultradplif"])
@pytest.mark.parametrize("extra,flags", [
    (["--model", "recurrent"], ["--neuron", "--model"]),
    (["--dataset", "shd:/nowhere/shd_train.h5"], ["--neuron"]),  # recurrent by default
])
def test_neurons_the_model_cannot_take_are_refused_before_any_data_work(tmp_path, capsys, monkeypatch, neuron,
                                                                        extra, flags):
    from neurosim.training import job as job_module

    def no_data(*a, **k):
        raise AssertionError("data prepared")

    monkeypatch.setattr(job_module, "prepare_data", no_data)
    line = _refused(capsys, _quick(extra) + ["--out", str(tmp_path / "o"), "--neuron", neuron] + extra, flags,
                    tmp_path / "o")
    assert "--model" in line if "--model" in extra else "--model mlp" in line and "argument --neuron:" in line
    with pytest.raises(job.ConfigError, match="recurrent"):  # the Python API
        job.check_applicable(job.TrainConfig(model="recurrent", neuron=neuron))


def test_defaults_that_do_not_apply_are_recorded_as_unused(tmp_path):
    pytest.importorskip("tonic")
    out = tmp_path / "conv"
    assert cli.main(["train", "--dataset", "synthetic", "--epochs", "1", "--T", "3", "--limit", "6", "--channels",
                     "2,2", "--no-cache", "--no-plots", "--no-progress", "--out", str(out)]) == 0
    config = _results(out)["config"]
    assert config["model"] == "conv" and config["channels"] == [2, 2]
    assert config["hidden"] is None and config["encoding"] is None and config["diagnose_every"] is None
    with pytest.raises(job.ConfigError, match="hidden"):  # the Python API: a non-default value that does not apply
        job.check_applicable(job.TrainConfig(dataset="synthetic", hidden=77))


def test_values_that_did_not_apply_are_recorded_as_null(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    out = tmp_path / "ultra"
    assert cli.main(QUICK + ["--neuron", "ultralif", "--out", str(out)]) == 0
    config = _results(out)["config"]
    assert config["beta"] is None  # the ultra* neurons have no beta
    assert config["cache"] is None and config["cache_dir"] is None  # digits are never cached
    assert config["dist_timeout"] is None  # one process waits for no others
    assert job.run_definition(job.TrainConfig(neuron="ultralif", beta=0.5))["beta"] is None  # not run-defining
    assert job.run_definition(job.TrainConfig(neuron="lif", beta=0.5))["beta"] == 0.5
    with pytest.raises(job.ConfigError, match="beta"):
        job.check_applicable(job.TrainConfig(neuron="ultralif", beta=0.5))


def test_an_older_checkpoint_with_a_beta_for_an_ultra_neuron_resumes(tmp_path):
    ck = tmp_path / "u.pt"
    assert cli.main(QUICK + ["--neuron", "ultralif", "--out", str(tmp_path / "a"), "--checkpoint", str(ck)]) == 0
    payload = load_checkpoint(ck)
    payload["metadata"]["run"]["beta"] = 0.9  # as written before beta was recorded only where it applies
    save_checkpoint(ck, payload)
    assert cli.main(["train", "--epochs", "2", "--no-progress", "--no-plots", "--resume", str(ck), "--out",
                     str(tmp_path / "b")]) == 0


# -------------------------------------------------------------------------------- sizes, threads
def test_threads_are_bounded_by_the_cpu_count(tmp_path, capsys):
    too_many = str((os.cpu_count() or 1) + 1)
    _refused(capsys, QUICK + ["--out", str(tmp_path / "o"), "--threads", too_many], ["--threads"], tmp_path / "o")
    _refused(capsys, ["bench", "--threads", "100000", "--out", str(tmp_path / "b")], ["--threads"], tmp_path / "b")
    args = cli.build_parser().parse_args(["train", "--threads", str(os.cpu_count() or 1)])
    assert args.threads == (os.cpu_count() or 1)


@pytest.mark.parametrize("extra,flags", [
    (["--T", "1000000000"], ["--T", "does not fit in memory"]),
    (["--batch-size", "100000000000000000000"], ["--batch-size", "<= 1000000"]),
    (["--batch-size", "1000001"], ["--batch-size"]),
    (["--model", "recurrent", "--hidden", "1000000"], ["--hidden", "does not fit in memory"]),
    (["--dataset", "synthetic", "--channels", "100000,100000"], ["--channels", "does not fit in memory"]),
    (["--dataset", "synthetic", "--model", "mlp", "--T", "100000000", "--batch-size", "100000"], ["--T"]),
])
def test_sizes_that_cannot_fit_are_refused_before_any_work(tmp_path, capsys, extra, flags):
    _refused(capsys, _quick(extra) + ["--out", str(tmp_path / "o")] + extra, flags, tmp_path / "o")


def test_memory_estimate_grows_with_the_sizes():
    base = job.TrainConfig(T=25, batch_size=32, hidden=256)
    per_batch, params = job.memory_estimate(base)
    assert job.memory_estimate(job.TrainConfig(T=50, batch_size=32, hidden=256))[0] == 2 * per_batch
    assert job.memory_estimate(job.TrainConfig(T=25, batch_size=32, hidden=512))[1] > params
    # the default job fits easily: a lower bound, not a guess that refuses runs that would work
    assert per_batch + params < 64 * 2**20


def test_event_data_batches_are_bounded_by_the_samples_there_are(tmp_path, monkeypatch):
    from neurosim.data.synthetic import make_synthetic_nmnist, make_synthetic_shd

    folder = make_synthetic_nmnist(tmp_path / "nm", {"Train": 4, "Test": 1})  # 50 samples
    shd = make_synthetic_shd(tmp_path / "shd_train.h5", n_samples=30)
    for dataset, samples in ((f"nmnist:{folder}", 50), (f"shd:{shd}", 30)):
        huge = job.TrainConfig(dataset=dataset, batch_size=200_000)
        assert job.sample_count(huge) == samples
        assert job.memory_estimate(huge) == job.memory_estimate(job.TrainConfig(dataset=dataset, batch_size=samples))
    # a data set that cannot be counted before it is read: no batch-size-driven refusal
    unknown = job.TrainConfig(dataset="shd:" + str(tmp_path / "nowhere.h5"), batch_size=200_000)
    assert job.memory_estimate(unknown) == job.memory_estimate(job.TrainConfig(dataset=unknown.dataset, batch_size=1))
    # SHD has 20 classes: its parameter bound counts 20 outputs
    per_neuron = (job.memory_estimate(job.TrainConfig(dataset=f"shd:{shd}", model="mlp", hidden=9))[1] -
                  job.memory_estimate(job.TrainConfig(dataset=f"shd:{shd}", model="mlp", hidden=8))[1])
    assert per_neuron == 4 * 4 * (70 + 20)  # each hidden neuron: 70 inputs and 20 outputs, 4 float32 copies
    # the CLI runs such a job (the batch is the whole training set)
    pytest.importorskip("tonic")
    out = tmp_path / "o"
    monkeypatch.setattr(job, "available_memory", lambda device: 2**30)
    assert cli.main(["train", "--dataset", f"nmnist:{folder}", "--epochs", "1", "--T", "3", "--batch-size", "200000",
                     "--no-cache", "--no-plots", "--no-progress", "--out", str(out)]) == 0
    assert _results(out)["train_samples"] == 40


@pytest.mark.parametrize("place", ["o", "o/results.json", "o/metrics.csv", "o/diagnostics.csv", "o/raster.png",
                                   "existing", "o/synthetic_nmnist/x.pt"])
def test_checkpoints_that_clash_with_the_output_are_refused(tmp_path, capsys, place):
    (tmp_path / "existing").mkdir()
    ck = tmp_path / place
    _refused(capsys, QUICK + ["--out", str(tmp_path / "o"), "--checkpoint", str(ck)], ["--checkpoint"],
             tmp_path / "o")
    with pytest.raises(job.ConfigError):
        job.run(job.TrainConfig(epochs=1, T=4, limit=10, hidden=8, out=str(tmp_path / "o"), checkpoint=str(ck),
                                progress=False, plots=False), log=lambda m: None)
    assert not (tmp_path / "o").exists()


def test_a_cache_dir_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("not a folder")
    extra = ["--dataset", "synthetic", "--cache-dir", str(tmp_path / "f")]
    _refused(capsys, _quick(extra) + ["--out", str(tmp_path / "o")] + extra, ["--cache-dir", str(tmp_path / "f")],
             tmp_path / "o")
    with pytest.raises(job.ConfigError, match="not a directory"):
        job.run(job.TrainConfig(dataset="synthetic", epochs=1, T=3, limit=6, cache_dir=str(tmp_path / "f"),
                                out=str(tmp_path / "o"), progress=False, plots=False), log=lambda m: None)
    assert not (tmp_path / "o").exists()


def test_a_default_cache_folder_that_is_a_file_is_refused(tmp_path, capsys, monkeypatch):
    """The default frame cache ($NEUROSIM_CACHE) is checked like a given --cache-dir: a file there
    would turn the cache off with a warning while results.json recorded it as used."""
    (tmp_path / "f").write_text("not a folder")
    monkeypatch.setenv("NEUROSIM_CACHE", str(tmp_path / "f"))
    extra = ["--dataset", "synthetic"]
    _refused(capsys, _quick(extra) + ["--out", str(tmp_path / "o")] + extra, ["--cache-dir", "NEUROSIM_CACHE"],
             tmp_path / "o")
    assert cli.main(_quick(extra) + ["--out", str(tmp_path / "o2"), "--no-cache"] + extra) == 0


def test_a_checkpoint_beside_the_outputs_is_kept(tmp_path):
    out = tmp_path / "o"
    assert cli.main(QUICK + ["--out", str(out), "--checkpoint", str(out / "ck.pt")]) == 0
    assert load_checkpoint(out / "ck.pt")["epoch"] == 1 and _results(out)["epochs"] == 1


def test_bench_refuses_sizes_that_cannot_fit_and_flags_quick_overrides(tmp_path, capsys):
    _refused(capsys, ["bench", "--sizes", "1000000000", "--no-peers", "--reps", "1", "--out", str(tmp_path / "b")],
             ["--sizes", "n=1000000000"], tmp_path / "b")
    for extra, flag in ((["--sizes", "16"], "--sizes"), (["--reps", "2"], "--reps"),
                        (["--linear-max-n", "64"], "--linear-max-n")):
        _refused(capsys, ["bench", "--quick", "--out", str(tmp_path / "b")] + extra, [flag, "--quick"],
                 tmp_path / "b")


# ---------------------------------------------------------------------------- logs on resume
def _csv(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("first_diagnoses", [True, False])
def test_resume_into_the_same_out_continues_the_logs(tmp_path, first_diagnoses):
    out, ck = tmp_path / "o", tmp_path / "ck.pt"
    diagnose = ["--diagnose", "sharpness", "--every", "1"]
    assert cli.main(QUICK + ["--out", str(out), "--checkpoint", str(ck)] + (diagnose if first_diagnoses else [])) == 0
    first_diag = _csv(out / "diagnostics.csv") if first_diagnoses else []
    assert cli.main(["train", "--epochs", "2", "--no-progress", "--no-plots", "--resume", str(ck), "--out", str(out)]
                    + diagnose) == 0
    metrics = _csv(out / "metrics.csv")
    assert [int(r["epoch"]) for r in metrics] == [1, 2]
    assert metrics[1]["sharpness"] != ""  # the new column is there, not dropped for the old header
    assert (metrics[0]["sharpness"] != "") == first_diagnoses
    diag = _csv(out / "diagnostics.csv")
    assert diag[:len(first_diag)] == first_diag  # the first run's measurements are kept
    assert [int(r["epoch"]) for r in diag[len(first_diag):]] and all(
        int(r["epoch"]) == 2 for r in diag[len(first_diag):])


def test_a_moved_data_folder_is_refused_with_how_to_proceed(tmp_path, capsys):
    from neurosim.data.synthetic import make_synthetic_nmnist

    pytest.importorskip("tonic")
    first = make_synthetic_nmnist(tmp_path / "nm", {"Train": 1, "Test": 1})
    ck = tmp_path / "ck.pt"
    common = ["train", "--model", "mlp", "--T", "3", "--no-cache", "--no-plots", "--no-progress"]
    assert cli.main(common + ["--epochs", "1", "--dataset", f"nmnist:{first}", "--checkpoint", str(ck),
                              "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    os.rename(first, tmp_path / "moved")
    line = _refused(capsys, ["train", "--resume", str(ck), "--epochs", "2", "--dataset",
                             f"nmnist:{tmp_path / 'moved'}", "--out", str(tmp_path / "b")], ["--dataset"],
                    tmp_path / "b")
    assert f"put it back at {os.path.realpath(first)}" in line
    os.rename(tmp_path / "moved", first)  # as the error says
    assert cli.main(["train", "--resume", str(ck), "--epochs", "2", "--no-plots", "--no-progress",
                     "--out", str(tmp_path / "b")]) == 0
