"""Known answers of the plasticity rules, the fused whole-sequence forms against step-by-step
loops written here, sign flips, and bad input."""

import math

import pytest
import torch

import neurosim
import neurosim.plasticity as P

BACKENDS = neurosim.backends()


def correlated_data(n=8, samples=4000, seed=0):
    """Samples of a zero-mean Gaussian with a known covariance Q diag(ev) Q^T."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    ev = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.3, 0.2, 0.1], dtype=torch.float64)[:n]
    chol = q * ev.sqrt()
    return torch.randn(samples, 32, n, generator=g, dtype=torch.float64) @ chol.T, q


def test_oja_converges_to_first_principal_component():
    data, q = correlated_data()
    w = torch.full((8,), 0.1, dtype=torch.float64)
    for x in data:
        w = w + P.oja(x, x @ w, w, lr=0.01)
    cosine = abs(float(w @ q[:, 0])) / float(w.norm())
    assert cosine >= 0.99
    assert abs(float(w.norm()) - 1.0) < 0.05  # Oja's normalisation


def test_oja_subspace_converges_to_top_k_subspace():
    data, q = correlated_data(samples=600, seed=1)
    g = torch.Generator().manual_seed(2)
    w = 0.1 * torch.randn(3, 8, generator=g, dtype=torch.float64)
    for x in data.reshape(-1, 128, 8):  # 150 updates of 128 samples
        w = w + P.oja_subspace(x, x @ w.T, w, lr=0.04)
    # Rows orthonormal and spanning the top-3 eigenvectors: all principal angles ~ 0.
    torch.testing.assert_close(w @ w.T, torch.eye(3, dtype=torch.float64), atol=0.02, rtol=0)
    cosines = torch.linalg.svdvals(w @ q[:, :3])
    assert float(cosines.min()) >= 0.99


def test_hebbian_and_anti_hebbian_are_batch_mean_time_sum_outer_products():
    g = torch.Generator().manual_seed(0)
    pre, post = torch.rand(7, 4, 5, generator=g), torch.rand(7, 4, 3, generator=g)
    want = torch.einsum("tbo,tbi->oi", post, pre) / 4
    torch.testing.assert_close(P.hebbian(pre, post, lr=0.5), 0.5 * want)
    torch.testing.assert_close(P.anti_hebbian(pre, post), -want)


def test_bcm_sign_follows_the_threshold():
    pre = torch.ones(1, 1, 1)
    post = torch.full((1, 1, 1), 2.0)
    assert P.bcm(pre, post, torch.tensor([1.0])).item() > 0   # above threshold: potentiation
    assert P.bcm(pre, post, torch.tensor([3.0])).item() < 0   # below: depression
    theta = P.bcm_threshold(torch.tensor([0.0]), post, tau=2.0)
    assert theta.item() == pytest.approx(2.0)                  # halfway to <post^2> = 4


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("delay", [-12, -4, -1, 0, 1, 3, 9])
def test_stdp_window_is_exponential(backend, delay):
    a_plus, a_minus, tau_plus, tau_minus = 1.0, 0.6, 8.0, 4.0
    pre, post = torch.zeros(40, 1, 1), torch.zeros(40, 1, 1)
    pre[20], post[20 + delay] = 1.0, 1.0
    dw = P.stdp(pre, post, a_plus=a_plus, a_minus=a_minus, tau_plus=tau_plus, tau_minus=tau_minus,
                backend=backend).item()
    if delay > 0:
        expected = a_plus * math.exp(-delay / tau_plus)
    elif delay < 0:
        expected = -a_minus * math.exp(delay / tau_minus)
    else:  # simultaneous spikes: both traces include the current spike
        expected = a_plus - a_minus
    assert dw == pytest.approx(expected, rel=1e-5)


def step_by_step_stdp(pre, post, a_plus, a_minus, tau_plus, tau_minus, up=None, down=None):
    """Direct per-step transcription of trace STDP, independent of the library's code."""
    x = torch.zeros_like(pre[0])
    y = torch.zeros_like(post[0])
    ltp = torch.zeros(post.shape[-1], pre.shape[-1], dtype=pre.dtype)
    ltd = torch.zeros_like(ltp)
    for t in range(pre.shape[0]):
        x = math.exp(-1 / tau_plus) * x + pre[t]
        y = math.exp(-1 / tau_minus) * y + post[t]
        ltp += post[t].T @ x / pre.shape[1]
        ltd += y.T @ pre[t] / pre.shape[1]
    up = 1 if up is None else up
    down = 1 if down is None else down
    return a_plus * up * ltp - a_minus * down * ltd


def random_spikes(T, B, n_in, n_out, rate=0.1, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return ((torch.rand(T, B, n_in, generator=g) < rate).to(dtype),
            (torch.rand(T, B, n_out, generator=g) < rate).to(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dependence", ["additive", "multiplicative"])
def test_whole_sequence_stdp_equals_step_by_step_loop(backend, dependence):
    pre, post = random_spikes(50, 3, 40, 30)
    weight = torch.rand(30, 40, dtype=torch.float64)
    kw = dict(a_plus=0.02, a_minus=0.03, tau_plus=7.0, tau_minus=11.0)
    got = P.stdp(pre, post, weight=weight, dependence=dependence, w_min=0.0, w_max=1.0, backend=backend, **kw)
    factors = (1 - weight, weight) if dependence == "multiplicative" else (None, None)
    torch.testing.assert_close(got, step_by_step_stdp(pre, post, *kw.values(), *factors))


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_factor_equals_explicit_eligibility_trace(backend):
    pre, post = random_spikes(30, 2, 6, 4, rate=0.3, seed=3)
    reward = torch.randn(30, 2, dtype=torch.float64)
    kw = dict(a_plus=0.02, a_minus=0.03, tau_plus=5.0, tau_minus=6.0)
    got = P.three_factor(pre, post, reward, tau_eligibility=9.0, lr=0.7, backend=backend, **kw)
    # e_t = decay e_{t-1} + STDP_t per synapse and sample; dW = lr sum_t mean_b r_t e_t.
    x, y = torch.zeros(2, 6, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)
    e = torch.zeros(2, 4, 6, dtype=torch.float64)
    want = torch.zeros(4, 6, dtype=torch.float64)
    for t in range(30):
        x = math.exp(-1 / 5.0) * x + pre[t]
        y = math.exp(-1 / 6.0) * y + post[t]
        stdp_t = 0.02 * post[t][:, :, None] * x[:, None, :] - 0.03 * y[:, :, None] * pre[t][:, None, :]
        e = math.exp(-1 / 9.0) * e + stdp_t
        want += 0.7 * (reward[t][:, None, None] * e).mean(0)
    torch.testing.assert_close(got, want)
    assert want.abs().sum() > 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dependence", ["additive", "multiplicative"])
def test_three_factor_state_continues_a_stream(backend, dependence):
    """three_factor(state=..., return_state=True) in pieces gives the whole sequence's change and
    the explicit eligibility e_{T-1} and traces of the last step."""
    pre, post = random_spikes(30, 2, 6, 4, rate=0.3, seed=5)
    reward = torch.randn(30, 2, dtype=torch.float64)
    weight = torch.rand(4, 6, dtype=torch.float64)
    kw = dict(a_plus=0.02, a_minus=0.03, tau_plus=5.0, tau_minus=6.0, tau_eligibility=9.0, lr=0.7,
              weight=weight, dependence=dependence, backend=backend)
    whole, whole_state = P.three_factor(pre, post, reward, return_state=True, **kw)
    torch.testing.assert_close(whole, P.three_factor(pre, post, reward, **kw))
    total, state = 0, None
    for a, b in ((0, 1), (1, 11), (11, 29), (29, 30)):
        dw, state = P.three_factor(pre[a:b], post[a:b], reward[a:b], state=state, return_state=True, **kw)
        total = total + dw
    torch.testing.assert_close(total, whole)
    factors = (1 - weight, weight) if dependence == "multiplicative" else (1.0, 1.0)
    x, y = torch.zeros(2, 6, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64)
    e = torch.zeros(2, 4, 6, dtype=torch.float64)
    for t in range(30):
        x = math.exp(-1 / 5.0) * x + pre[t]
        y = math.exp(-1 / 6.0) * y + post[t]
        e = math.exp(-1 / 9.0) * e + (0.02 * factors[0] * post[t][:, :, None] * x[:, None, :]
                                      - 0.03 * factors[1] * y[:, :, None] * pre[t][:, None, :])
    for got in (state, whole_state):
        torch.testing.assert_close(got.eligibility, e)
        torch.testing.assert_close(got.traces.pre, x)
        torch.testing.assert_close(got.traces.post, y)


def test_three_factor_bad_state_errors():
    pre, post = random_spikes(10, 2, 6, 4, seed=6)
    _, state = P.three_factor(pre, post, 1.0, return_state=True)
    with pytest.raises(TypeError, match="state"):
        P.three_factor(pre, post, 1.0, state=(state.traces, state.eligibility))
    with pytest.raises(ValueError, match="state.eligibility"):
        P.three_factor(pre, post, 1.0, state=P.ThreeFactorState(state.traces, state.eligibility[:1]))
    with pytest.raises(ValueError, match="state.traces.pre"):
        P.three_factor(pre[:, :1], post[:, :1], 1.0, state=state)
    with pytest.raises(TypeError, match="return_state"):
        P.three_factor(pre, post, 1.0, return_state="yes")


def test_three_factor_with_zero_reward_changes_nothing():
    pre, post = random_spikes(30, 2, 6, 4, rate=0.3, seed=4)
    assert P.stdp(pre, post).abs().sum() > 0  # the same spikes do drive plain STDP
    for reward in (0.0, torch.zeros(30), torch.zeros(30, 2, dtype=torch.float64)):
        assert torch.equal(P.three_factor(pre, post, reward), torch.zeros(4, 6, dtype=torch.float64))


def test_event_driven_and_dense_paths_agree_on_large_sparse_layers():
    if "cpp" not in BACKENDS:
        pytest.skip("native extension not built")
    pre, post = random_spikes(40, 4, 700, 300, rate=0.05, seed=5, dtype=torch.float32)
    torch.testing.assert_close(P.stdp(pre, post, backend="cpp"), P.stdp(pre, post, backend="torch"),
                               rtol=1e-4, atol=1e-6)


def test_curl_flips_any_rule_by_pre_or_post_signs():
    pre, post = random_spikes(10, 2, 5, 3, rate=0.5, seed=6)
    signs_in = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0])
    signs_out = torch.tensor([-1.0, 1.0, 1.0])
    base = P.hebbian(pre, post)
    torch.testing.assert_close(P.curl(P.hebbian, signs_in)(pre, post), base * signs_in.double())
    torch.testing.assert_close(P.curl(P.stdp, signs_out, side="post")(pre, post), P.stdp(pre, post) * signs_out.double()[:, None])


def test_curl_gradient_hook_flips_the_gradient():
    layer = torch.nn.Linear(4, 2, bias=False)
    x = torch.randn(8, 4)
    layer(x).square().sum().backward()
    plain = layer.weight.grad.clone()
    layer.weight.grad = None
    signs = P.flipped_signs(4, 0.5)
    handle = P.curl_gradient(layer.weight, signs)
    layer(x).square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, plain * torch.tensor([-1.0, -1.0, 1.0, 1.0]))
    handle.remove()


def test_bad_input_errors():
    pre, post = random_spikes(10, 2, 5, 3)
    with pytest.raises(ValueError, match="post"):
        P.hebbian(pre, post[:, :1])
    with pytest.raises(ValueError, match="w"):
        P.oja_subspace(pre[0], post[0], torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="w"):
        P.oja(pre[0], pre[0, :, 0], torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="weight"):
        P.stdp(pre, post, weight=torch.zeros(5, 3, dtype=torch.float64), dependence="multiplicative")
    with pytest.raises(ValueError, match="modulator"):
        P.three_factor(pre, post, torch.tensor([float("nan")] * 10))
    with pytest.raises(ValueError, match="modulator"):
        P.three_factor(pre, post, torch.zeros(9))
    with pytest.raises(ValueError, match="signs"):
        P.flip_signs(torch.zeros(3, 5), torch.tensor([1.0, 0.5, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="signs"):
        P.curl(P.hebbian, torch.ones(4))(pre, post)
    with pytest.raises(ValueError, match="pre_trace"):
        P.stdp(pre[0], post[0])
    with pytest.raises(ValueError, match="dependence"):
        P.stdp(pre, post, dependence="power")
    with pytest.raises(TypeError, match="pre"):
        P.hebbian([1.0], post)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("a_plus, a_minus", [(0.0, 0.5), (0.3, 0.0)])
def test_stdp_with_one_amplitude_zero(backend, a_plus, a_minus):
    pre, post = random_spikes(30, 2, 9, 7, rate=0.15, seed=8)
    got = P.stdp(pre, post, a_plus=a_plus, a_minus=a_minus, tau_plus=6.0, tau_minus=4.0, backend=backend)
    want = step_by_step_stdp(pre, post, a_plus, a_minus, 6.0, 4.0)
    assert want.abs().sum() > 0
    torch.testing.assert_close(got, want)


def test_empty_batch_is_refused_before_any_work():
    """A batch mean over B=0 samples is NaN (stdp divided by zero): every rule names the argument."""
    for shape in ((10, 0), (0,)):  # a sequence [T, 0, n] and one step [0, n]
        pre = torch.zeros(*shape, 5, dtype=torch.float64)
        post = torch.zeros(*shape, 3, dtype=torch.float64)
        for rule in (P.hebbian, P.anti_hebbian):
            with pytest.raises(ValueError, match=r"pre: the batch axis is empty \(B=0\)"):
                rule(pre, post)
        with pytest.raises(ValueError, match=r"pre: the batch axis is empty"):
            P.bcm(pre, post, torch.zeros(3, dtype=torch.float64))
        with pytest.raises(ValueError, match=r"post: the batch axis is empty"):
            P.bcm_threshold(torch.zeros(3, dtype=torch.float64), post, 10.0)
        with pytest.raises(ValueError, match=r"x: the batch axis is empty"):
            P.oja_subspace(pre, post, torch.zeros(3, 5, dtype=torch.float64))
        traces = (pre, post) if len(shape) == 1 else (None, None)
        with pytest.raises(ValueError, match=r"pre: the batch axis is empty"):
            P.stdp(pre, post, *traces)
    pre, post = torch.zeros(10, 0, 5), torch.zeros(10, 0, 3)
    with pytest.raises(ValueError, match=r"pre: the batch axis is empty"):
        P.stdp_traces(pre, post)
    with pytest.raises(ValueError, match=r"pre: the batch axis is empty"):
        P.three_factor(pre, post, 1.0)
    with pytest.raises(ValueError, match=r"x: the batch axis is empty"):
        P.oja(torch.zeros(0, 5), torch.zeros(0), torch.zeros(5))
    # one sample is fine, and is the plain outer product (hand computation)
    pre, post = torch.rand(1, 5, dtype=torch.float64), torch.rand(1, 3, dtype=torch.float64)
    torch.testing.assert_close(P.hebbian(pre, post), post[0, :, None] * pre[0, None, :])


def test_bcm_threshold_and_stdp_per_sample_check_their_arguments():
    post = torch.rand(4, 3, dtype=torch.float64)
    theta = torch.rand(3, dtype=torch.float64)
    # the threshold update is the running mean of post^2 (hand computation)
    torch.testing.assert_close(P.bcm_threshold(theta, post, 4.0), theta + (post.square().mean(0) - theta) / 4.0)
    for bad in (torch.zeros(2, dtype=torch.float64), torch.zeros(3, 1, dtype=torch.float64)):
        with pytest.raises(ValueError, match="theta"):
            P.bcm_threshold(bad, post, 4.0)
    with pytest.raises(ValueError, match="theta: contains NaN"):
        P.bcm_threshold(torch.full((3,), float("nan"), dtype=torch.float64), post, 4.0)
    with pytest.raises(TypeError, match="theta"):
        P.bcm_threshold([0.0, 0.0, 0.0], post, 4.0)
    x = torch.rand(2, 5, dtype=torch.float64)
    y = torch.rand(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="pre_trace: expected the shape of pre"):
        P.stdp_per_sample(x, y, x[:, :4], y)
    with pytest.raises(ValueError, match="post_trace: expected the shape of post"):
        P.stdp_per_sample(x, y, x, x)
    with pytest.raises(TypeError, match="a_plus"):
        P.stdp_per_sample(x, y, x, y, a_plus="big")
    # right shapes: the per-sample outer products (hand computation)
    dw = P.stdp_per_sample(x, y, 2 * x, 3 * y, a_plus=0.5, a_minus=0.25)
    expected = 0.5 * y[:, :, None] * (2 * x)[:, None, :] - 0.25 * (3 * y)[:, :, None] * x[:, None, :]
    torch.testing.assert_close(dw, expected)


def test_mixed_float_dtypes_give_the_promoted_dtype_on_every_path():
    """float32 spikes with float64 ones: every rule computes in the promoted dtype. STDP's result
    used to depend on the spikes' density (the event-driven sum returned pre's float32, the dense
    GEMM float64), and Oja's rules failed inside a matrix product."""
    g = torch.Generator().manual_seed(3)
    pre = (torch.rand(40, 4, 30, generator=g) < 0.05).float()  # sparse: the event-driven path
    post = (torch.rand(40, 4, 20, generator=g) < 0.3).double()
    dense = P.stdp(pre.double(), post, backend="torch")
    for backend in BACKENDS:
        dw = P.stdp(pre, post, backend=backend)
        assert dw.dtype == torch.float64, backend
        torch.testing.assert_close(dw, dense, rtol=0, atol=1e-12)
        assert P.three_factor(pre, post, 1.0, backend=backend).dtype == torch.float64
    assert P.hebbian(post, pre[..., :20]).dtype == torch.float64
    x, y = torch.rand(5, 3), torch.rand(5, 2, dtype=torch.float64)
    assert P.oja_subspace(x, y, torch.rand(2, 3)).dtype == torch.float64
    assert P.oja_subspace(x, y.float(), torch.rand(2, 3, dtype=torch.float64)).dtype == torch.float64
    assert P.oja(x, y[:, 0], torch.rand(3)).dtype == torch.float64
