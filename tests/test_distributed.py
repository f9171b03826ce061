"""torchrun with 2 CPU processes (gloo): DDP gives the same parameters after one step as a
single process on the same global batch; `neurosim train` runs under torchrun."""

import json
import os
import subprocess
import sys

import pytest
import torch

from neurosim.training import Trainer, make_encoder

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from ddp_reference import GLOBAL_BATCH, LR, build, dataset  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


def _torchrun(args, timeout=180):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, HERE, os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_two_process_step_equals_single_process_step(tmp_path):
    out = tmp_path / "ddp_params.pt"
    _torchrun([os.path.join(HERE, "ddp_one_step.py"), str(out)])
    ddp = torch.load(out, weights_only=True)

    model = build()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=LR), encoder=make_encoder("direct", 10),
                      batch_size=GLOBAL_BATCH, shuffle=False, progress=False, device="cpu")
    trainer.fit(dataset(), epochs=1)
    single = model.state_dict()
    moved = 0.0
    for name, value in single.items():
        torch.testing.assert_close(ddp[name], value, rtol=1e-5, atol=1e-6, msg=name)
        moved += (value - initial[name]).abs().sum().item()
    assert moved > 1e-3  # the step really changed the parameters


def test_cli_train_under_torchrun(tmp_path):
    out = tmp_path / "run"
    _torchrun(["-m", "neurosim.cli", "train", "--epochs", "1", "--T", "5", "--limit", "64", "--hidden", "16",
               "--no-plots", "--no-progress", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == 2 and results["epochs"] == 1
    assert 0.0 <= results["test_accuracy"] <= 1.0
