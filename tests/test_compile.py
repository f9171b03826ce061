"""torch.compile(fullgraph=True) of a model using neurosim.LIF on the CPU."""

import shutil

import pytest
import torch
from conftest import NATIVE

import neurosim


def _compiler_available():
    return shutil.which("cc") is not None or shutil.which("gcc") is not None or shutil.which("g++") is not None


@pytest.mark.skipif(not _compiler_available(), reason="no C++ compiler for the inductor backend")
@pytest.mark.parametrize("backend", [b for b, _ in NATIVE if b == "cpp"] + ["torch"])
def test_compile_fullgraph_matches_eager(backend):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), neurosim.LIF(backend=backend, learn_beta=True))
    x = torch.randn(12, 3, 6)
    eager = model(x)
    eager.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(model, fullgraph=True)
    out = compiled(x)
    out.sum().backward()
    assert torch.equal(out, eager)
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not _compiler_available(), reason="no C++ compiler for the inductor backend")
@pytest.mark.skipif(not any(b == "cpp" for b, _ in NATIVE), reason="native extension not built")
@pytest.mark.parametrize("neuron", ["UltraPLIF", "UltraDPLIF"])
def test_compile_fullgraph_ultra_neurons(neuron):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), getattr(neurosim, neuron)(backend="cpp"))
    x = torch.randn(12, 3, 6)
    eager = model(x)
    eager.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    out = torch.compile(model, fullgraph=True)(x)
    out.sum().backward()
    torch.testing.assert_close(out, eager, rtol=1e-6, atol=1e-7)
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)
