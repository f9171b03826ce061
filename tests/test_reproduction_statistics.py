"""The statistics the reproduction examples report beside the papers' numbers: Curl Descent's
epochs on the authors' log-spaced record grid, and UltraLIF's paired seed comparison."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def curl():
    return _load("curl_descent")


@pytest.fixture(scope="module")
def ultra():
    pytest.importorskip("scipy")
    return _load("ultralif_t1")


def test_authors_grid_is_log_spaced_over_1e5_epochs(curl):
    grid = curl.authors_epoch_grid()
    assert grid[0] == 0 and grid[-1] == 99_999
    assert np.all(np.diff(grid) > 0)
    ratios = grid[60:] / grid[59:-1]  # above ~100 epochs the steps are a constant factor 1e5^(1/99)
    np.testing.assert_allclose(ratios, 10 ** (5 / 99), rtol=0.02)


def test_epochs_on_the_grid_round_the_crossing_up_to_the_next_record(curl):
    grid = curl.authors_epoch_grid()
    epochs = 3000
    crossing = np.array([1234, 2000, 10**6])  # the third network never gets below the threshold
    history = np.where(np.arange(epochs + 1)[:, None] >= crossing[None, :], 1e-4, 1e-1)
    values = curl.epochs_on_authors_grid(history, 1e-3, grid)
    for value, first in zip(values[:2], crossing[:2]):
        # the first record g (the error after g + 1 epochs) at or after the crossing
        assert value == grid[grid + 1 >= first][0]
        assert first - 1 <= value < 1.13 * first
    assert np.isinf(values[2])


def test_paired_comparison_counts_wins_and_tests_the_differences(ultra):
    rng = np.random.default_rng(0)
    runs = []
    for seed in range(8):
        base = 0.6 + 0.05 * rng.standard_normal()
        noise = {"lif": 0.0, "ultralif": 0.03 + 0.005 * rng.standard_normal(), "ultradlif": 0.001 * (seed - 3.5)}
        for neuron, gap in noise.items():
            runs.append({"encoding": "rate", "steps": 1, "neuron": neuron, "seed": seed,
                         "final_accuracy": base + gap, "best_accuracy": base + gap + 0.01})
    rows = {r["neuron"]: r for r in ultra.paired_comparisons(runs)}
    assert set(rows) == {"ultralif", "ultradlif"}
    ahead, even = rows["ultralif"]["final"], rows["ultradlif"]["final"]
    assert ahead["mean_diff"] == pytest.approx(3.0, abs=0.6) and ahead["wins"] == 8 and ahead["p"] < 1e-4
    assert even["wins"] == 4 and even["p"] > 0.5
    assert ultra.comparison_lines(list(rows.values()))[1].startswith("rate")
