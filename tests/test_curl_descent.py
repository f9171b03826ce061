"""Curl Descent at toy size: the update vanishes at the teacher, hidden-layer stability boundary
(all inputs flipped converges for c = M/N < 1/4, one flipped input fails for c >= 1), and the
critical fraction alpha_h from the spectrum of D + W W^T."""

import numpy as np
import pytest
import torch

import neurosim.plasticity.curl_descent as cd
from neurosim.plasticity import flipped_signs


def paired(task: cd.Task) -> cd.Task:
    """The same K teacher/student pairs twice (first half: GD, second half: curl)."""
    twice = lambda w: torch.cat([w, w])  # noqa: E731
    return cd.Task(cd.Networks(*map(twice, task.teacher)), cd.Networks(*map(twice, task.student)),
                   task.x_train, task.x_test)


@pytest.mark.parametrize("nonlinearity", ["linear", "tanh"])
def test_update_is_zero_at_the_teacher(nonlinearity):
    task = cd.make_task(12, 7, 30, networks=2, seed=3)
    y = cd.forward(task.teacher, task.x_train, nonlinearity)[2]
    d1, d2 = flipped_signs(12, 0.5), flipped_signs(7, 0.3)
    dw1, dw2 = cd.curl_descent_update(task.teacher, task.x_train, y, d1, d2, 0.1, nonlinearity)
    assert torch.equal(dw1, torch.zeros_like(dw1)) and torch.equal(dw2, torch.zeros_like(dw2))
    # ... and not zero elsewhere, so the check can fail.
    dw1, _ = cd.curl_descent_update(task.student, task.x_train, y, d1, d2, 0.1, nonlinearity)
    assert dw1.abs().sum() > 0


def test_all_inputs_flipped_still_converges_in_an_expansive_layer(one_thread):
    task = cd.make_task(10, 100, 100, networks=3, seed=0)  # c = 0.1 < 1/4
    history = cd.train(task, -torch.ones(10), torch.ones(100), epochs=150, batch=10, record_every=50)
    assert bool((history.test_error[-1] < 1e-6).all())
    assert bool((history.test_error[-1] < 1e-4 * history.test_error[0]).all())


def test_one_flipped_input_fails_in_a_square_layer(one_thread):
    task = paired(cd.make_task(20, 20, 100, networks=3, seed=0))  # c = 1
    d1 = torch.cat([torch.ones(3, 20), flipped_signs(20, 1 / 20).expand(3, 20)])
    history = cd.train(task, d1, torch.ones(20), epochs=300, batch=10, record_every=100)
    gd, curl = history.test_error[-1][:3], history.test_error[-1][3:]
    assert bool((gd < 1e-4).all())
    assert bool((curl > 20 * gd).all())


def test_critical_alpha_h_from_the_spectrum():
    assert cd.critical_alpha_h(0.2, inputs=100, seeds=1) == 1.0     # c < 1/4: any fraction is safe
    assert cd.critical_alpha_h(2.0, inputs=100, seeds=1) <= 0.02    # c > 1: a single flip destabilises
    assert 0.12 <= cd.critical_alpha_h(0.4, inputs=200, seeds=2) <= 0.26  # paper (M=500): 0.17


def test_limit_edge_matches_the_closed_forms():
    # All inputs flipped (D1 = -I): X = -I + W W^T, whose lowest edge is -1 + (1 - sqrt c)^2 / c
    # (Marchenko-Pastur); the generic free-probability path must give it, and so the c < 1/4 boundary.
    for c in (0.1, 0.2, 0.25, 0.3, 0.6):
        assert cd.lowest_edge_limit(c, 1.0) == pytest.approx(-1 + (1 - c ** 0.5) ** 2 / c, abs=1e-7)
    assert cd.critical_alpha_h_limit(0.24) == 1.0
    assert cd.critical_alpha_h_limit(0.26) < 1.0


def test_limit_edge_matches_large_random_matrices():
    # A flipped fraction that forms a band (not a few outliers): the lowest eigenvalue of one large
    # finite matrix sits within a few percent of the limit.
    rng = np.random.default_rng(0)
    M = 800
    for c, p in ((0.35, 0.3), (0.5, 0.2)):
        w = rng.standard_normal((M, int(round(M / c)))) / np.sqrt(M)
        x = w @ w.T
        x[np.diag_indices(M)] += np.where(np.arange(M) < int(p * M), -1.0, 1.0)
        assert np.linalg.eigvalsh(x)[0] == pytest.approx(cd.lowest_edge_limit(c, p), abs=0.03)


def test_limit_critical_alpha_h_reproduces_the_authors_table():
    # The authors' L1_results.npy / L1_zoom_results.npy (their theory, M = 500 grid): first unstable n / M.
    authors = {0.28: 0.700, 0.30: 0.562, 0.32: 0.446, 0.35: 0.318, 0.45: 0.096, 0.50: 0.048, 0.60: 0.006}
    for c, expected in authors.items():
        assert cd.critical_alpha_h_limit(c) == pytest.approx(expected, abs=0.0041), c
    # ... and finite matrices approach it from above as M grows (the finite-size bias).
    small = np.mean([cd.critical_alpha_h(0.35, inputs=100, seeds=1, seed=k) for k in range(6)])
    assert small > cd.critical_alpha_h_limit(0.35)


@pytest.mark.parametrize("nonlinearity,rescale", [("linear", True), ("tanh", True), ("tanh", False)])
def test_numpy_engine_matches_the_torch_engine(nonlinearity, rescale, one_thread):
    task = paired(cd.make_task(30, 6, 60, networks=2, student_scale=2.0, seed=4))
    d1 = torch.cat([torch.ones(2, 30), flipped_signs(30, 0.2).expand(2, 30)])
    d2 = torch.cat([torch.ones(2, 6), flipped_signs(6, 1 / 6).expand(2, 6)])
    runs = [cd.train(task, d1, d2, epochs=6, batch=10, nonlinearity=nonlinearity, rescale=rescale, record_every=2,
                     engine=engine) for engine in ("torch", "numpy")]
    for a, b in zip(runs[0].student, runs[1].student):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    torch.testing.assert_close(runs[0].train_error, runs[1].train_error, rtol=1e-9, atol=1e-15)
    assert not torch.equal(runs[1].student.w1, task.student.w1)  # it trained


def test_bad_input_errors():
    with pytest.raises(ValueError, match="inputs"):
        cd.make_task(0, 5, 10)
    task = cd.make_task(4, 3, 10)
    with pytest.raises(ValueError, match="nonlinearity"):
        cd.curl_descent_update(task.student, task.x_train, torch.zeros(1, 10, 1, dtype=torch.float64),
                               torch.ones(4), torch.ones(3), 0.1, "relu6")
    with pytest.raises(ValueError, match="epochs"):
        cd.train(task, torch.ones(4), torch.ones(3), epochs=-1)
    with pytest.raises(ValueError, match="engine"):
        cd.train(task, torch.ones(4), torch.ones(3), epochs=1, engine="jax")
    with pytest.raises(ValueError, match="flipped_fraction"):
        cd.lowest_edge_limit(0.5, 1.5)
    with pytest.raises(ValueError, match=r"x: the batch axis is empty \(B=0\)"):  # a mean over no samples
        cd.curl_descent_update(task.student, task.x_train[:0], torch.zeros(1, 0, 1, dtype=torch.float64),
                               torch.ones(4), torch.ones(3), 0.1)
    with pytest.raises(ValueError, match="inputs"):
        cd.critical_alpha_h_limit(0.5, inputs=0)
