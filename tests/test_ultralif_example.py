"""examples/ultralif_t1.py at toy size: the paper's one-hidden-layer network learns the digits."""

import importlib.util
import pathlib

import pytest
import torch

pytest.importorskip("sklearn")

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "ultralif_t1.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("ultralif_t1", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module




def test_ultralif_reaches_90_percent_on_digits_at_t1(example, one_thread):
    # 40 epochs of the 1,347 training digits at batch 32 are 1,700 Adam steps (3.6 MNIST epochs).
    result = example.run("ultralif", steps=1, seed=0, epochs=40, encoding="direct")
    assert result["final_accuracy"] >= 0.90
    assert 0.1 <= result["eps"] <= 20.0  # the learned temperature stays in its clamp range
    assert 0.0 < result["spike_rate"] < 1.0


def test_rate_encoding_follows_p_equal_half_x(example):
    x = torch.tensor([[0.0, 0.5, 1.0]]).expand(4000, 3)
    spikes = example.encode(x, steps=2, generator=torch.Generator().manual_seed(0), encoding="rate")
    assert spikes.shape == (2, 4000, 3)
    torch.testing.assert_close(spikes.mean((0, 1)), torch.tensor([0.0, 0.25, 0.5]), atol=0.02, rtol=0)
    direct = example.encode(x, steps=2, generator=torch.Generator(), encoding="direct")
    assert torch.equal(direct[1], x)


def test_synthetic_event_frames_feed_the_same_network(example):
    pytest.importorskip("tonic")
    (x_train, y_train), (x_test, y_test) = example.load_synthetic_events(steps=2)
    assert x_train.shape == (2, 600, 17 * 17 * 2) and x_test.shape == (2, 200, 17 * 17 * 2)
    assert sorted(set(y_train.tolist())) == list(range(10))
    assert x_train.sum() > 0 and (x_train >= 0).all()  # event counts
    logits, spikes = example.OneHiddenLayerSNN("ultradlif", n_in=x_train.shape[-1])(x_train[:, :8])
    assert logits.shape == (8, 10) and spikes.shape == (2, 8, 64)
