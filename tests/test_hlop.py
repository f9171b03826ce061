"""HLOP: the lateral Hebbian circuit learns the principal subspace of a layer's input, new
components learn what the frozen ones miss, and projected updates leave old inputs' outputs intact."""

import pytest
import torch

import neurosim.plasticity as P


def low_rank_data(n=12, rank=3, samples=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(n, rank, generator=g, dtype=torch.float64))
    scales = torch.tensor([2.0, 1.5, 1.0], dtype=torch.float64)[:rank]
    coeffs = torch.randn(samples, rank, generator=g, dtype=torch.float64) * scales
    noise = 0.01 * torch.randn(samples, n, generator=g, dtype=torch.float64)
    return coeffs @ basis.T + noise, basis


def test_lateral_circuit_learns_the_principal_subspace():
    data, basis = low_rank_data()
    hlop = P.HebbianProjection(12, lr=0.05).double()
    hlop.add_components(3, generator=torch.Generator().manual_seed(1))
    for batch in data.split(64):
        hlop.learn(batch, iterations=2)
    hlop.consolidate()
    h = hlop.frozen
    torch.testing.assert_close(h @ h.T, torch.eye(3, dtype=torch.float64), atol=0.02, rtol=0)
    assert float(torch.linalg.svdvals(h @ basis).min()) >= 0.99


def test_new_components_learn_the_rest_orthogonally():
    data, basis = low_rank_data(rank=3, seed=2)
    hlop = P.HebbianProjection(12, lr=0.05).double()
    gen = torch.Generator().manual_seed(0)  # the random start of the new rows, independent of test order
    hlop.add_components(1, generator=gen)
    for batch in data.split(64):
        hlop.learn(batch, iterations=2)
    hlop.consolidate()
    hlop.add_components(2, generator=gen)
    for batch in data.split(64):
        hlop.learn(batch, iterations=2)
    h = hlop.basis
    torch.testing.assert_close(h @ h.T, torch.eye(3, dtype=torch.float64), atol=0.03, rtol=0)
    assert float(torch.linalg.svdvals(h @ basis).min()) >= 0.98


def test_projected_update_keeps_old_inputs_outputs():
    data, basis = low_rank_data(rank=3, seed=3)
    hlop = P.HebbianProjection(12).double()
    hlop.frozen = basis.T.contiguous()  # an exact old-task subspace
    layer = torch.nn.Linear(12, 5, bias=False).double()
    layer(torch.randn(32, 12, dtype=torch.float64)).square().sum().backward()  # a new task's gradient
    old_x = data[:100]
    plain_grad = layer.weight.grad.clone()
    plain_change = old_x @ plain_grad.T
    P.project_gradient(layer.weight, hlop)
    projected_change = old_x @ layer.weight.grad.T
    # Only the noise outside the subspace (1% of the signal) can still move the old outputs ...
    assert float(projected_change.abs().max()) < 0.05 * float(plain_change.abs().max())
    # ... while the new task keeps most of its gradient (3 of 12 directions removed).
    assert float(layer.weight.grad.norm()) > 0.5 * float(plain_grad.norm())
    torch.testing.assert_close(layer.weight.grad @ basis, torch.zeros(5, 3, dtype=torch.float64), atol=1e-12, rtol=0)


def test_bad_input_errors():
    hlop = P.HebbianProjection(6)
    with pytest.raises(ValueError, match="k"):
        hlop.add_components(7)
    with pytest.raises(ValueError, match="x"):
        hlop.learn(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="n_in"):
        P.HebbianProjection(0)
    with pytest.raises(ValueError, match="weight"):
        P.project_gradient(torch.zeros(3, 6, requires_grad=True), hlop)


def test_learn_refuses_non_finite_activity_and_bad_iterations():
    """One NaN sample used to turn every lateral weight into NaN for good (the clip keeps NaN), and
    with them every gradient projected for all later tasks; negative iterations did nothing silently."""
    h = P.HebbianProjection(4, 0.1)
    h.add_components(2, torch.Generator().manual_seed(0))
    before = h.active.clone()
    x = torch.rand(8, 4)
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="x: contains NaN or inf"):
        h.learn(x)
    assert torch.equal(h.active, before)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="iterations"):
            h.learn(torch.rand(8, 4), iterations=bad)
