"""examples/phased_frequency.py at toy size: under asynchronous sampling the Phased LSTM learns the
frequency band while the LSTM, trained on the same batches, is still at chance (the paper's direction)."""

import importlib.util
import pathlib

import numpy as np
import pytest
import torch

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "phased_frequency.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("phased_frequency", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module




def test_task_data_follow_the_authors_generator(example):
    rng = np.random.default_rng(0)
    for condition in ("async", "low", "high"):
        x, times, lengths, labels = example.sine_batch(rng, condition, 16)
        assert x.shape[:2] == times.shape and x.shape[1] == lengths.shape[0] == labels.shape[0] == 16
        assert bool((times[1:] >= times[:-1]).all())  # padding repeats the last timestamp
        assert int(labels.sum()) >= 8  # half of each batch is forced into the 5-6 ms band
        span = torch.stack([times[int(n) - 1, b] - times[0, b] for b, n in enumerate(lengths)])
        assert float(span.max()) <= 125.0 and float(x.abs().max()) <= 1.0
        if condition != "async":
            step = example.RESOLUTION[condition]
            steps = times[1:int(lengths[0]), 0] - times[:int(lengths[0]) - 1, 0]
            torch.testing.assert_close(steps, torch.full_like(steps, step), rtol=1e-3, atol=1e-3)


def test_phased_lstm_learns_faster_than_lstm_under_asynchronous_sampling(example, one_thread):
    kwargs = dict(seed=1, epochs=2, train=1600, test=256, batch=32, hidden=32, lr=2e-2, max_duration=60.0,
                  log=lambda *a: None)
    phased = example.run("async", "plstm", **kwargs)
    plain = example.run("async", "lstm", **kwargs)
    assert phased["accuracy"][-1] >= plain["accuracy"][-1] + 0.10, (phased["accuracy"], plain["accuracy"])
    assert phased["accuracy"][-1] > 0.65
    # the gate was open for a minority of the unit updates
    assert phased["update_fraction"] < 0.5 and plain["update_fraction"] is None
