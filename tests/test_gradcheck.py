"""torch.autograd.gradcheck in float64. The spike output's surrogate gradient is not a true
derivative, so finite differences apply to the membrane trace and the final state: with the reset
detached those are piecewise smooth in x, the initial state, beta and threshold."""

import pytest
import torch
from conftest import NATIVE

import neurosim

BACKENDS = [b for b, _ in NATIVE] + ["torch"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("per_neuron", [False, True])
def test_gradcheck_membrane_and_state(backend, reset, per_neuron):
    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(11)
    T, B, N = 40, 2, 3  # T > 32 exercises a checkpoint boundary
    x = (torch.randn(T, B, N, generator=gen, dtype=torch.float64) * 1.3).to(device).requires_grad_()
    u0 = (torch.randn(B, N, generator=gen, dtype=torch.float64) * 0.3).to(device).requires_grad_()
    shape = (N,) if per_neuron else ()
    beta = torch.full(shape, 0.8, dtype=torch.float64, device=device).requires_grad_()
    thr = torch.full(shape, 0.9, dtype=torch.float64, device=device).requires_grad_()

    def fn(x, u0, beta, thr):
        out = neurosim.functional.lif(x, u0, beta=beta, threshold=thr, reset=reset, record_membrane=True,
                                      backend=backend)
        return out.membrane, out.state

    assert torch.autograd.gradcheck(fn, (x, u0, beta, thr), eps=1e-7, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_spike_gradient_matches_surrogate_by_hand(backend):
    """One step from rest: ds/dx = surrogate'(x - thr), exactly, for each surrogate."""
    x = torch.linspace(-2, 3, 41, dtype=torch.float64).reshape(1, 1, 41).requires_grad_()
    for name in neurosim.surrogate.NAMES:
        sg = neurosim.surrogate.get(name)
        x.grad = None
        neurosim.functional.lif(x, surrogate=sg, backend=backend).spikes.sum().backward()
        torch.testing.assert_close(x.grad, sg.grad(x.detach() - 1.0), rtol=1e-12, atol=1e-12)
