import pytest
import torch

import neurosim


def native_backends():
    """Native backends to compare against the reference, with the device they run on."""
    out = []
    if "cpp" in neurosim.backends():
        out.append(("cpp", "cpu"))
    if "cuda" in neurosim.backends():
        out.append(("cuda", "cuda"))
    return out


NATIVE = native_backends()
needs_native = pytest.mark.skipif(not NATIVE, reason="neurosim native extension not built")


def run_lif(x, state, backend, *, weights=None, **kwargs):
    """Runs neurosim.functional.lif and returns outputs plus gradients of a fixed random loss
    over spikes, final state and membrane trace (w.r.t. x, state and tensor parameters)."""
    leaves = [t for t in (x, state, kwargs.get("beta"), kwargs.get("threshold")) if isinstance(t, torch.Tensor)]
    for t in leaves:
        t.grad = None
    out = neurosim.functional.lif(x, state, record_membrane=True, backend=backend, **kwargs)
    ws, wu, wm = weights
    loss = (out.spikes.to(ws.dtype) * ws).sum() + (out.state * wu).sum() + (out.membrane.to(wm.dtype) * wm).sum()
    loss.backward()
    grads = [t.grad.clone() if t.grad is not None else None for t in leaves]
    return out, grads


def loss_weights(x, acc=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = tuple(x.shape)
    ws = torch.randn(shape, generator=g, dtype=acc).to(x.device)
    wu = torch.randn(shape[1:], generator=g, dtype=acc).to(x.device)
    wm = torch.randn(shape, generator=g, dtype=acc).to(x.device) * 0.1
    return ws, wu, wm
