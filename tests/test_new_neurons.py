"""Model-specific checks of the neurons added on the generic scan: Synaptic against snnTorch's
``Synaptic`` (spikes, syn and mem bit for bit, gradients equal to its autograd), ALIF with
gamma = 0 against LIF exactly and its adaptive threshold by hand, LI against snnTorch's
reset-free ``Leaky``."""

import zlib

import pytest
import torch
from conftest import NATIVE

import neurosim

BACKENDS = [b for b, _ in NATIVE] + ["torch"]


def _snntorch():
    return pytest.importorskip("snntorch")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan"])
def test_synaptic_matches_snntorch(backend, reset, per_neuron, surrogate):
    snntorch = _snntorch()
    from snntorch import surrogate as snn_sg

    device = "cuda" if backend == "cuda" else "cpu"
    gen = torch.Generator().manual_seed(zlib.crc32(repr((reset, per_neuron, surrogate)).encode()))
    T, B, N = 70, 3, 10
    x = (torch.randn(T, B, N, generator=gen) * 0.8 + 0.2).requires_grad_()
    if per_neuron:
        alpha0 = torch.rand(N, generator=gen) * 0.9 + 0.05
        beta0 = torch.rand(N, generator=gen) * 0.9 + 0.05
        thr0 = torch.rand(N, generator=gen) * 0.8 + 0.6
    else:
        alpha0, beta0, thr0 = torch.tensor(0.8), torch.tensor(0.87), torch.tensor(0.95)
    spike_grad = snn_sg.fast_sigmoid(slope=25.0) if surrogate == "fast_sigmoid" else snn_sg.atan(alpha=2.0)
    ref = snntorch.Synaptic(alpha=alpha0.clone(), beta=beta0.clone(), threshold=thr0.clone(), spike_grad=spike_grad,
                            reset_mechanism=reset, learn_alpha=True, learn_beta=True, learn_threshold=True)
    syn = torch.zeros(B, N)
    mem = torch.zeros(B, N)
    spikes, syns, mems = [], [], []
    for x_t in x.unbind(0):
        spk, syn, mem = ref(x_t, syn, mem)
        spikes.append(spk)
        syns.append(syn)
        mems.append(mem)
    s_ref, syn_ref, mem_ref = torch.stack(spikes), torch.stack(syns), torch.stack(mems)
    weights = torch.randn(T, B, N, generator=gen)
    (s_ref * weights).sum().backward()
    grads_ref = [x.grad.clone(), ref.alpha.grad.clone(), ref.beta.grad.clone(), ref.threshold.grad.clone()]

    x.grad = None
    params = [t.clone().to(device).requires_grad_() for t in (alpha0, beta0, thr0)]
    xd = x.detach().to(device).requires_grad_()
    out = neurosim.functional.synaptic(xd, alpha=params[0], beta=params[1], threshold=params[2], reset=reset,
                                       surrogate=surrogate, record_membrane=True, backend=backend)
    torch.testing.assert_close(out.spikes.cpu(), s_ref.detach(), rtol=0, atol=0)
    torch.testing.assert_close(out.syn.cpu(), syn_ref.detach(), rtol=0, atol=0)
    torch.testing.assert_close(out.membrane.cpu(), mem_ref.detach(), rtol=0, atol=0)
    (out.spikes * weights.to(device)).sum().backward()
    grads = [xd.grad, *(p.grad for p in params)]
    for g, w in zip(grads, grads_ref):
        torch.testing.assert_close(g.cpu().reshape(w.shape), w, rtol=1e-4, atol=1e-5)


def test_synaptic_module_matches_snntorch_module():
    snntorch = _snntorch()
    x = torch.randn(30, 2, 5, generator=torch.Generator().manual_seed(1))
    ref = snntorch.Synaptic(alpha=0.9, beta=0.8)
    syn, mem = ref.init_synaptic()
    spikes = []
    for x_t in x:
        spk, syn, mem = ref(x_t, syn, mem)
        spikes.append(spk)
    got = neurosim.Synaptic(alpha=0.9, beta=0.8, return_state=True)(x)
    torch.testing.assert_close(got.spikes, torch.stack(spikes), rtol=0, atol=0)
    torch.testing.assert_close(got.state.syn, syn, rtol=0, atol=0)
    torch.testing.assert_close(got.state.mem, mem, rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_alif_gamma_zero_is_lif_exactly(backend, reset):
    device = "cuda" if backend == "cuda" else "cpu"
    x = (torch.randn(80, 3, 11, generator=torch.Generator().manual_seed(6)) * 1.3).to(device)
    xa = x.clone().requires_grad_()
    xl = x.clone().requires_grad_()
    a = neurosim.functional.alif(xa, beta=0.85, rho=0.9, gamma=0.0, threshold=0.8, reset=reset,
                                 record_membrane=True, backend=backend)
    lif = neurosim.functional.lif(xl, beta=0.85, threshold=0.8, reset=reset, record_membrane=True, backend=backend)
    torch.testing.assert_close(a.spikes, lif.spikes, rtol=0, atol=0)
    torch.testing.assert_close(a.membrane, lif.membrane, rtol=0, atol=0)
    torch.testing.assert_close(a.state.mem, lif.state, rtol=0, atol=0)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(2)).to(device)
    (a.spikes * w).sum().backward()
    (lif.spikes * w).sum().backward()
    torch.testing.assert_close(xa.grad, xl.grad, rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_alif_threshold_adapts_by_hand(backend):
    """A constant drive: each spike raises the threshold by gamma, which then decays by rho, so
    the inter-spike intervals lengthen; the recorded a follows a_t = rho a + s_{t-1} exactly."""
    x = torch.full((60, 1, 1), 0.6, dtype=torch.float64)
    out = neurosim.functional.alif(x, beta=0.9, rho=0.95, gamma=0.5, threshold=1.0, record_membrane=True,
                                   backend=backend)
    s = out.spikes[:, 0, 0]
    a = out.adaptation[:, 0, 0]
    u = out.membrane[:, 0, 0]
    prev_s, prev_a, prev_u = 0.0, 0.0, 0.0
    for t in range(60):
        assert a[t].item() == 0.95 * prev_a + prev_s
        assert u[t].item() == (0.9 * prev_u + 0.6) - prev_s * 1.0
        assert s[t].item() == float(u[t].item() - (1.0 + 0.5 * a[t].item()) > 0)
        prev_s, prev_a, prev_u = s[t].item(), a[t].item(), u[t].item()
    times = torch.nonzero(s).flatten()
    gaps = times[1:] - times[:-1]
    assert len(times) >= 8 and gaps[-5:].double().mean() > gaps[:3].double().mean()
    lif_spikes = neurosim.functional.lif(x, beta=0.9, threshold=1.0, backend=backend).spikes
    assert s.sum() < lif_spikes.sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_li_matches_snntorch_leaky_without_reset(backend):
    snntorch = _snntorch()
    x = torch.randn(40, 2, 6, generator=torch.Generator().manual_seed(3))
    ref = snntorch.Leaky(beta=0.85, reset_mechanism="none")
    mem = torch.zeros(2, 6)
    mems = []
    for x_t in x:
        _, mem = ref(x_t, mem)
        mems.append(mem)
    out = neurosim.functional.li(x, beta=0.85, backend=backend)
    torch.testing.assert_close(out.output, torch.stack(mems), rtol=0, atol=0)
    torch.testing.assert_close(out.state, mem, rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_alif_detach_reset_none_is_the_default_as_for_lif(backend):
    """detach_reset=None (LIF's and Synaptic's default) gives ALIF snnTorch's convention for its
    delayed reset, the detached one: the values and gradients of detach_reset=True, not False's."""
    device = "cuda" if backend == "cuda" else "cpu"
    x = (torch.randn(50, 2, 6, generator=torch.Generator().manual_seed(9)) * 1.5).to(device)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(3)).to(device)
    grads = {}
    for detach in (None, True, False):
        xs = x.clone().requires_grad_()
        out = neurosim.functional.alif(xs, beta=0.85, rho=0.9, gamma=0.4, threshold=0.8, detach_reset=detach,
                                       backend=backend)
        (out.spikes * w).sum().backward()
        grads[detach] = xs.grad
        module = neurosim.ALIF(beta=0.85, rho=0.9, gamma=0.4, threshold=0.8, detach_reset=detach, backend=backend)
        assert module.detach_reset is (True if detach is None else detach)
    torch.testing.assert_close(grads[None], grads[True], rtol=0, atol=0)
    assert not torch.equal(grads[None], grads[False])
