"""The benchmark harness runs end to end at toy size and writes its table, JSON and plot."""

import json

import torch

from neurosim.bench import lif as bench
from neurosim.cli import main


def test_measure_reports_times_and_memory():
    r = bench.measure("neurosim-torch", "lif", 32, torch.device("cpu"), reps=2, steps=20, batch=2)
    assert r.forward_ms > 0 and r.backward_ms > 0 and r.best_total_ms <= r.total_ms + 1e-9
    assert r.peak_mb is None or r.peak_mb >= 0


def test_bare_baseline_is_x_times_point_nine_and_g_times_x():
    model = bench.build("bare-elementwise", "lif", 4, torch.device("cpu"))
    x = torch.randn(3, 2, 4, requires_grad=True)
    y = model(x)
    g = torch.randn_like(y)
    y.backward(g)
    torch.testing.assert_close(y, x.detach() * 0.9)
    torch.testing.assert_close(x.grad, g * x.detach())


def test_cli_bench_writes_outputs(tmp_path, monkeypatch):
    real_measure = bench.measure
    monkeypatch.setattr(bench, "measure", lambda *a, **k: real_measure(*a, **{**k, "steps": 20, "batch": 2}))
    assert main(["bench", "--sizes", "16", "--reps", "1", "--no-peers", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "lif_benchmark.json").read_text())
    impls = {(r["workload"], r["impl"]) for r in data["results"]}
    assert ("lif", "bare-elementwise") in impls and ("linear_lif", "linear-only") in impls
    assert any(i.startswith("neurosim-") for _, i in impls)
    assert (tmp_path / "lif_benchmark.txt").read_text().count("\n") > 4
    assert any(line.startswith("LIF n=16") for line in data["summary"])
