"""Learner: writes -dW into .grad (so optimizer.step() applies +dW), mixes with backprop
gradients, online == whole-sequence application, streaming state, bad input."""

import pytest
import torch
from torch import nn

import neurosim
import neurosim.plasticity as P


def spikes(T, B, n, rate=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n, generator=g) < rate).float()


class FixedOutput(nn.Module):
    """A stand-in 'neuron' whose output spikes are given (the rule is what is under test)."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, x):
        return self.out[: x.shape[0]] if x.dim() == 3 else self.out


def test_sgd_step_applies_the_rule_change():
    layer = nn.Linear(12, 6, bias=False)
    before = layer.weight.detach().clone()
    pre, post = spikes(25, 3, 12), spikes(25, 3, 6, seed=1)
    learner = P.Learner(layer, FixedOutput(post), "stdp", a_plus=0.05, a_minus=0.04)
    learner.neuron(layer(pre))
    dw = learner.step()
    torch.testing.assert_close(dw, P.stdp(pre, post, a_plus=0.05, a_minus=0.04))
    torch.optim.SGD(layer.parameters(), lr=1.0).step()
    torch.testing.assert_close(layer.weight.detach(), before + dw)


def test_rule_change_adds_to_a_backprop_gradient():
    layer = nn.Linear(5, 4, bias=False)
    x = torch.rand(3, 2, 5)
    learner = P.Learner(layer, None, "hebbian", lr=0.1)
    out = layer(x)
    out.square().sum().backward()
    grad = layer.weight.grad.clone()
    dw = learner.step()
    torch.testing.assert_close(dw, P.hebbian(x, out.detach(), lr=0.1))
    torch.testing.assert_close(layer.weight.grad, grad - dw)


@pytest.mark.parametrize("rule", ["stdp", "three_factor", "hebbian", "anti_hebbian", "oja", "bcm"])
def test_online_steps_equal_one_whole_sequence(rule):
    pre, post = spikes(30, 4, 10), spikes(30, 4, 7, seed=2)
    reward = torch.randn(30, 4, generator=torch.Generator().manual_seed(3))
    params = dict(tau_eligibility=12.0) if rule == "three_factor" else {}
    changes = {}
    for mode in ("sequence", "online"):
        layer = nn.Linear(10, 7, bias=False)
        layer.weight.data.fill_(0.1)
        neuron = FixedOutput(post)
        learner = P.Learner(layer, neuron, rule, mode=mode, **params)
        if mode == "sequence":
            neuron(layer(pre))
            changes[mode] = learner.step(reward if rule == "three_factor" else None)
        else:
            total = 0
            for t in range(30):
                neuron.out = post[t]
                neuron(layer(pre[t]))
                total = total + learner.step(reward[t] if rule == "three_factor" else None)
            changes[mode] = total
        assert torch.equal(layer.weight.grad, -changes[mode])
    assert changes["sequence"].abs().sum() > 0
    torch.testing.assert_close(changes["online"], changes["sequence"], rtol=1e-4, atol=1e-6)


def test_sequence_mode_carries_traces_across_calls():
    pre, post = spikes(40, 2, 8, rate=0.3), spikes(40, 2, 5, rate=0.3, seed=4)
    layer = nn.Linear(8, 5, bias=False)
    neuron = FixedOutput(post)
    learner = P.Learner(layer, neuron, "stdp")
    neuron.out = post[:15]
    neuron(layer(pre[:15]))
    first = learner.step()
    neuron.out = post[15:]
    neuron(layer(pre[15:]))
    second = learner.step()
    torch.testing.assert_close(first + second, P.stdp(pre, post))


_PIECES_PARAMS = {
    "stdp": dict(tau_plus=5.0, tau_minus=5.0),
    "stdp_multiplicative": dict(tau_plus=5.0, tau_minus=5.0, dependence="multiplicative"),
    "three_factor": dict(tau_plus=5.0, tau_minus=5.0, tau_eligibility=10.0),
    "three_factor_multiplicative": dict(tau_plus=5.0, tau_minus=5.0, tau_eligibility=10.0,
                                        dependence="multiplicative"),
    "hebbian": {},
    "anti_hebbian": {},
    "oja": {},
    "bcm": dict(tau_theta=4.0),
}


@pytest.mark.parametrize("splits", [(20,), (1, 13, 25, 39)], ids=["20+20", "1+12+12+14+1"])
@pytest.mark.parametrize("case", sorted(_PIECES_PARAMS))
def test_sequence_mode_stream_in_pieces_equals_whole(case, splits):
    """Sequence mode's state (traces, eligibility, BCM threshold) carries over between step() calls:
    a stream fed in pieces gives the same total change and the same final state as fed whole."""
    rule, params = case.split("_multiplicative")[0], _PIECES_PARAMS[case]
    T = 40
    pre, post = spikes(T, 3, 6, rate=0.3, seed=5), spikes(T, 3, 4, rate=0.3, seed=6)
    if rule in ("hebbian", "anti_hebbian", "oja", "bcm"):   # rate rules: graded activity
        post = post * torch.rand(T, 3, 4, generator=torch.Generator().manual_seed(7)) * 2
    reward = torch.randn(T, generator=torch.Generator().manual_seed(8))
    results = {}
    for name, bounds in (("whole", [0, T]), ("pieces", [0, *splits, T])):
        layer = nn.Linear(6, 4, bias=False)
        layer.weight.data.copy_(torch.linspace(0.1, 0.9, 24).reshape(4, 6))
        neuron = FixedOutput(post)
        learner = P.Learner(layer, neuron, rule, **params)
        total = 0
        for a, b in zip(bounds[:-1], bounds[1:]):
            neuron.out = post[a:b]
            neuron(layer(pre[a:b]))
            total = total + learner.step(reward[a:b] if rule == "three_factor" else None)
        results[name] = (total, learner)
    (whole, lw), (pieces, lp) = results["whole"], results["pieces"]
    assert whole.abs().sum() > 0
    torch.testing.assert_close(pieces, whole, rtol=1e-5, atol=1e-6)
    for attr in ("traces", "eligibility", "theta"):
        a, b = getattr(lp, attr), getattr(lw, attr)
        assert (a is None) == (b is None), attr
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_three_factor_pieces_match_online_steps():
    """The brief's repro: one three-factor call over 40 steps, two over 20 + 20 and 40 online steps agree."""
    T, x = 40, spikes(40, 3, 6, rate=0.3, seed=9)
    m = torch.randn(T, generator=torch.Generator().manual_seed(10))
    params = dict(tau_plus=5, tau_minus=5, tau_eligibility=10)
    changes = {}
    for name, bounds in (("whole", [0, T]), ("pieces", [0, 20, T]), ("online", list(range(T + 1)))):
        layer = nn.Linear(6, 4, bias=False)
        layer.weight.data.copy_(torch.linspace(-1, 1, 24).reshape(4, 6))
        learner = P.Learner(layer, None, "three_factor", mode="online" if name == "online" else "sequence",
                            **params)
        total = 0
        for a, b in zip(bounds[:-1], bounds[1:]):
            if name == "online":
                layer(x[a])
                total = total + learner.step(m[a])
            else:
                layer(x[a:b])
                total = total + learner.step(m[a:b])
        changes[name] = total
    torch.testing.assert_close(changes["pieces"], changes["whole"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(changes["online"], changes["whole"], rtol=1e-5, atol=1e-6)


def test_sign_diverse_learner_and_lif_neuron():
    layer = nn.Linear(6, 4, bias=False)
    nn.init.uniform_(layer.weight, 0.5, 1.5)
    lif = neurosim.LIF(beta=0.8, threshold=0.5)
    signs = P.flipped_signs(6, 0.5)
    pre = spikes(50, 2, 6, rate=0.4)
    plain = P.Learner(layer, lif, "stdp")
    lif(layer(pre))
    dw_plain = plain.step()
    plain.remove()
    flipped = P.Learner(layer, lif, "stdp", signs=signs)
    lif(layer(pre))
    dw_flipped = flipped.step()
    assert dw_plain.abs().sum() > 0
    torch.testing.assert_close(dw_flipped, dw_plain * signs)


def test_bad_input_errors():
    layer = nn.Linear(6, 4)
    with pytest.raises(ValueError, match="rule"):
        P.Learner(layer, None, "hebb")
    with pytest.raises(ValueError, match="mode"):
        P.Learner(layer, None, "stdp", mode="batch")
    with pytest.raises(ValueError, match="signs"):
        P.Learner(layer, None, "stdp", signs=torch.tensor([1.0, 2.0, 1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="signs"):
        P.Learner(layer, None, "stdp", signs=torch.ones(4))
    with pytest.raises(TypeError, match="synapse"):
        P.Learner(nn.ReLU(), None, "stdp")
    with pytest.raises(TypeError, match="stdp"):
        P.Learner(layer, None, "stdp", tau=3.0)
    learner = P.Learner(layer, None, "three_factor")
    with pytest.raises(RuntimeError, match="nothing recorded"):
        learner.step(1.0)
    layer(torch.rand(5, 2, 6))
    with pytest.raises(ValueError, match="modulator"):
        learner.step()
    layer(torch.rand(5, 2, 6))
    with pytest.raises(ValueError, match="modulator"):
        learner.step(torch.full((5,), float("nan")))


def test_recorded_activity_that_does_not_fit_the_weight_is_rejected():
    layer = nn.Linear(6, 4, bias=False)
    learner = P.Learner(layer, FixedOutput(torch.zeros(5, 2, 3)), "stdp")
    learner.neuron(layer(torch.zeros(5, 2, 6)))
    with pytest.raises(ValueError, match="does not match the weight"):
        learner.step()


@pytest.mark.parametrize("rule", ["hebbian", "anti_hebbian", "oja", "bcm", "stdp"])
def test_empty_batch_is_a_named_error_not_nan(rule):
    layer = nn.Linear(5, 4, bias=False)
    learner = P.Learner(layer, None, rule)
    layer(torch.zeros(6, 0, 5))
    with pytest.raises(ValueError, match=r"the batch axis is empty \(B=0\)"):
        learner.step()


@pytest.mark.parametrize("rule", ["stdp", "three_factor", "hebbian"])
def test_a_batch_size_change_is_a_named_error(rule):
    """A new batch size within one step (pieces joined along time) or while per-sample state is
    carried used to fail inside torch.cat or with a message about a `state` the user never passed."""
    layer = nn.Linear(3, 2, bias=False)
    learner = P.Learner(layer, None, rule)
    mod = {"modulator": 1.0} if rule == "three_factor" else {}
    layer(spikes(5, 4, 3))
    layer(spikes(5, 3, 3))
    with pytest.raises(ValueError, match="different \\[B, n\\] shapes"):
        learner.step(**mod)
    layer(spikes(5, 4, 3))
    learner.step(**mod)
    layer(spikes(5, 3, 3))
    if rule == "hebbian":  # no per-sample state: any batch size
        learner.step(**mod)
        return
    with pytest.raises(ValueError, match="call reset\\(\\) before changing the batch size"):
        learner.step(**mod)
    learner.reset()
    layer(spikes(5, 3, 3))
    learner.step(**mod)
