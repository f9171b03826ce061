"""neurosim.diagnostics: sharpness against exact spectra, the HVP fallback through native ops, batch
sharpness, the sharpness-gradient alignment, the SG-NTK (empirical vs analytic vs Monte Carlo), bad input,
and that no diagnostic changes the model, its buffers, the RNG or the optimizer."""

import math

import pytest
import torch
from torch import nn

import neurosim
from neurosim.diagnostics import (
    ErfNetwork,
    NoDoubleBackward,
    SharpnessMonitor,
    batch_sharpness,
    erf_ntk,
    gradient_alignment,
    hessian_matrix,
    sg_ntk,
    sharpness,
)
from neurosim.diagnostics import experiments as ex

needs_cpp = pytest.mark.skipif("cpp" not in neurosim.backends(), reason="native cpp backend not built")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: torch on one thread


def quadratic(eigenvalues, seed=0):
    n = len(eigenvalues)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    a = q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ q.t()
    theta = nn.Parameter(torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1)))
    return a, theta, (lambda: 0.5 * theta @ a @ theta)


def small_mlp(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    x, y = torch.randn(24, 5, dtype=torch.float64), torch.randint(0, 3, (24,))

    def loss_fn():
        return nn.functional.cross_entropy(net(x), y)

    loss_fn.data = (x, y)
    return net, loss_fn


@pytest.mark.parametrize("hvp", ["double_backward", "finite_difference"])
@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_quadratic_spectrum_is_exact(hvp, method):
    spectrum = [9.0, 4.0, 2.5, 1.0, 0.5, -0.3, -2.0, 0.1]
    _, theta, loss_fn = quadratic(spectrum)
    result = sharpness(loss_fn, [theta], k=3, hvp=hvp, method=method, max_iter=8 if method == "lanczos" else 600,
                       tol=1e-9)
    assert result.hvp_method == hvp
    torch.testing.assert_close(result.eigenvalues, torch.tensor([9.0, 4.0, 2.5], dtype=torch.float64),
                               rtol=1e-6, atol=1e-6)
    a, _, _ = quadratic(spectrum)
    for lam, v in zip(result.eigenvalues, result.eigenvectors):  # eigenvectors too
        torch.testing.assert_close(a @ v, lam * v, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["lanczos", "power"])
@pytest.mark.parametrize("spectrum", [[3.0, 1.0, -8.0, 0.5, 2.0],       # a negative eigenvalue dominates
                                      [-1.0, -2.0, -3.0, -0.5],         # all negative
                                      [4.0, -4.5, 1.0, -0.2, 2.5, 0.3]])  # nearly tied magnitudes, mixed signs
@pytest.mark.parametrize("k", [1, 2, 3])
def test_largest_algebraic_eigenvalues_not_largest_magnitude(method, spectrum, k):
    a, theta, loss_fn = quadratic(spectrum, seed=3)
    reference = torch.linalg.eigvalsh(a).flip(0)[:k]  # the k largest, from the dense matrix
    result = sharpness(loss_fn, [theta], k=k, method=method, max_iter=len(spectrum) if method == "lanczos" else 3000,
                       tol=1e-10)
    assert result.converged
    torch.testing.assert_close(result.eigenvalues, reference, rtol=1e-7, atol=1e-7)
    for lam, v in zip(result.eigenvalues, result.eigenvectors):
        torch.testing.assert_close(a @ v, lam * v, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("spectrum", [[3.0, 3.0, 1.0, 0.5],                  # a repeated top eigenvalue
                                      [2.0, 2.0, 2.0, 1.0, 0.0],             # three times
                                      [-1.0, -1.0, -2.0, -3.0],              # repeated and negative
                                      [2.0, 2.0, -5.0, -5.0, 1.0, 1.0, 0.0],  # mixed, several repeated
                                      [4.0, -6.0, 4.0, 1.0, 1.0, 1.0, -0.5, 0.2]])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_lanczos_counts_repeated_eigenvalues_with_multiplicity(spectrum, k):
    _, theta, loss_fn = quadratic(spectrum, seed=5)
    dense = hessian_matrix(loss_fn, [theta])
    reference = torch.linalg.eigvalsh(dense).flip(0)[:k]
    result = sharpness(loss_fn, [theta], k=k, tol=1e-10)
    assert result.converged
    torch.testing.assert_close(result.eigenvalues, reference, rtol=1e-7, atol=1e-7)
    for lam, v in zip(result.eigenvalues, result.eigenvectors):
        torch.testing.assert_close(dense @ v, lam * v, rtol=1e-6, atol=1e-6)
    # the eigenvectors of a repeated eigenvalue are distinct: orthonormal
    gram = result.eigenvectors @ result.eigenvectors.t()
    torch.testing.assert_close(gram, torch.eye(k, dtype=gram.dtype), rtol=0, atol=1e-6)
    assert result.num_hvps > 0


def test_lanczos_too_few_steps_for_k_is_named():
    _, theta, loss_fn = quadratic([5.0, 4.0, 3.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="max_iter"):
        sharpness(loss_fn, [theta], k=3, max_iter=2)


@pytest.mark.parametrize("hvp", ["double_backward", "finite_difference"])
def test_small_mlp_matches_full_hessian(hvp):
    net, loss_fn = small_mlp()
    names, params = zip(*net.named_parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    x, y = loss_fn.data

    def flat_loss(vector):
        pieces = torch.split(vector, [p.numel() for p in params])
        values = {n: piece.view(p.shape) for n, piece, p in zip(names, pieces, params)}
        return nn.functional.cross_entropy(torch.func.functional_call(net, values, (x,)), y)

    exact = torch.linalg.eigvalsh(torch.autograd.functional.hessian(flat_loss, flat)).flip(0)
    result = sharpness(loss_fn, params, k=3, hvp=hvp, max_iter=20)
    torch.testing.assert_close(result.eigenvalues, exact[:3], rtol=1e-5, atol=1e-7)
    # and the dense Hessian helper agrees with torch's
    torch.testing.assert_close(torch.linalg.eigvalsh(hessian_matrix(loss_fn, params)).flip(0), exact)


def test_lanczos_uses_few_products_on_a_larger_mlp():
    net = ex.tanh_mlp([64, 64, 64, 10], seed=1)
    x, y, _ = ex.digits_regression(200)
    loss_fn = lambda: ex.half_mse(net(x), y)  # noqa: E731
    reference = sharpness(loss_fn, net.parameters(), max_iter=80, tol=0.0)
    quick = sharpness(loss_fn, net.parameters(), max_iter=20)
    assert quick.num_hvps <= 20
    assert abs(float(quick) / float(reference) - 1) < 0.01
    warm = sharpness(loss_fn, net.parameters(), init=quick.eigenvectors[0], tol=1e-2)
    assert warm.num_hvps <= 3 and abs(float(warm) / float(reference) - 1) < 0.01


def _lif_net(backend):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 12), neurosim.LIF(backend=backend))
    x = torch.rand(8, 5, 6) * 1.5
    return net, (lambda: net(x).mean(0).pow(2).sum(1).mean())


@needs_cpp
def test_native_ops_fall_back_to_finite_differences():
    net, loss_fn = _lif_net("cpp")
    result = sharpness(loss_fn, net.parameters())
    assert result.hvp_method == "finite_difference" and "double backward unavailable" in result.hvp_reason
    assert math.isfinite(float(result)) and float(result) > 0
    with pytest.raises(NoDoubleBackward, match="finite_difference"):
        sharpness(loss_fn, net.parameters(), hvp="double_backward")
    # the reference backend supports double backward, and the same surrogate gradients: auto picks it
    net_ref, loss_ref = _lif_net("torch")
    assert sharpness(loss_ref, net_ref.parameters()).hvp_method == "double_backward"


class _ScaleOnce(torch.autograd.Function):
    """y = 2 x whose backward cannot be differentiated again (like a native kernel's backward)."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        return 2 * grad


class _RefuseGraph(torch.autograd.Function):
    """y = 2 x whose backward raises when asked to build a graph (create_graph=True)."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        if torch.is_grad_enabled():
            raise RuntimeError("this op's backward is native code and cannot be differentiated")
        return 2 * grad


@pytest.mark.parametrize("op", [_ScaleOnce, _RefuseGraph])
def test_ops_without_double_backward_fall_back(op):
    # L = sum c_i (2 theta_i)^4 / 4: H = diag(12 c_i theta_i^2 * 4)
    c = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    theta = nn.Parameter(torch.tensor([0.3, 1.0, -0.5], dtype=torch.float64))
    loss_fn = lambda: (c * op.apply(theta) ** 4).sum() / 4  # noqa: E731
    result = sharpness(loss_fn, [theta], max_iter=3, tol=1e-10)
    assert result.hvp_method == "finite_difference" and "unavailable" in result.hvp_reason
    assert float(result) == pytest.approx(float((48 * c * theta.detach() ** 2).max()), rel=1e-6)
    with pytest.raises(NoDoubleBackward):
        sharpness(loss_fn, [theta], hvp="double_backward")


def _snapshot(model, optimizer):
    return ([p.detach().clone() for p in model.parameters()], [b.clone() for b in model.buffers()],
            torch.get_rng_state(), [None if p.grad is None else p.grad.clone() for p in model.parameters()],
            {k: {n: (t.clone() if isinstance(t, torch.Tensor) else t) for n, t in v.items()}
             for k, v in optimizer.state_dict()["state"].items()})


def _assert_same(a, b):
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        assert torch.equal(x, y)
    assert torch.equal(a[2], b[2])
    for x, y in zip(a[3], b[3]):
        assert (x is None and y is None) or torch.equal(x, y)
    assert a[4].keys() == b[4].keys()
    for k in a[4]:
        for n in a[4][k]:
            assert torch.equal(torch.as_tensor(a[4][k][n]), torch.as_tensor(b[4][k][n]))


@pytest.mark.parametrize("hvp", ["double_backward", "finite_difference"])
def test_diagnostics_change_nothing_bit_for_bit(hvp):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(32, 4), torch.randn(32, 2)
    loss_fn = lambda: (model(x) - y).pow(2).mean()  # noqa: E731  (dropout draws random numbers)
    loss_fn().backward()
    optimizer.step()  # optimizer state and .grad exist
    before = _snapshot(model, optimizer)
    eigen = sharpness(loss_fn, model.parameters(), k=2, hvp=hvp, module=model)
    gradient_alignment(loss_fn, model.parameters(), eigen=eigen, module=model)
    batch_sharpness(lambda b: (model(b[0]) - b[1]).pow(2).mean(), model.parameters(),
                    [(x[:16], y[:16]), (x[16:], y[16:])], hvp=hvp, module=model, top_eigenvalues=True)
    _assert_same(before, _snapshot(model, optimizer))
    # the random dropout mask was the same in every evaluation: the Hessian is symmetric to rounding
    assert eigen.converged


def test_batch_sharpness_is_the_curvature_along_each_batch_gradient():
    theta = nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    batches = [(torch.diag(torch.tensor(d, dtype=torch.float64)), torch.tensor(b, dtype=torch.float64))
               for d, b in (([1.0, 3.0, 5.0], [0.1, 0.0, 1.0]), ([2.0, 2.0, 9.0], [1.0, -1.0, 0.0]))]
    loss = lambda batch: 0.5 * theta @ batch[0] @ theta - batch[1] @ theta  # noqa: E731
    result = batch_sharpness(loss, [theta], batches, top_eigenvalues=True)
    expected = []
    for a, b in batches:
        g = a @ theta.detach() - b
        expected.append(float(g @ a @ g / (g @ g)))
    assert result.per_batch == pytest.approx(expected, rel=1e-8)
    assert result.value == pytest.approx(sum(expected) / 2, rel=1e-8)
    assert result.per_batch_max == pytest.approx([5.0, 9.0], rel=1e-8)


@pytest.mark.parametrize("derivative", ["autograd", "finite_difference"])
def test_gradient_alignment_against_the_analytic_sharpness_gradient(derivative):
    # L = sum a_i theta_i^4 / 12: H = diag(a_i theta_i^2), S = max a_i theta_i^2, grad S = 2 a_i* theta_i* e_i*
    a = torch.tensor([1.0, 3.0, 0.5, 2.0], dtype=torch.float64)
    theta = nn.Parameter(torch.tensor([0.7, -1.2, 2.0, 0.3], dtype=torch.float64))
    loss_fn = lambda: (a * theta ** 4).sum() / 12  # noqa: E731
    result = gradient_alignment(loss_fn, [theta], derivative=derivative, max_iter=4)
    grad_s = torch.zeros(4, dtype=torch.float64)
    grad_s[1] = 2 * 3.0 * -1.2
    assert result.sharpness == pytest.approx(3.0 * 1.44, rel=1e-8)
    torch.testing.assert_close(result.sharpness_gradient, grad_s, rtol=1e-3, atol=1e-3)
    assert result.cosine == pytest.approx(float(theta.detach()[1].abs() / theta.detach().norm()), rel=1e-3)
    assert result.method == derivative


def test_bad_input_is_named():
    net, loss_fn = small_mlp()
    params = list(net.parameters())
    with pytest.raises(ValueError, match="loss_fn.*scalar"):
        sharpness(lambda: net(torch.randn(3, 5, dtype=torch.float64)), params)
    frozen = nn.Linear(2, 2)
    frozen.weight.requires_grad_(False)
    with pytest.raises(ValueError, match=r"weight does not require grad"):
        sharpness(lambda: frozen(torch.ones(2)).sum(), frozen.named_parameters())
    n = sum(p.numel() for p in params)
    with pytest.raises(ValueError, match=f"k: asked for {n + 1}"):
        sharpness(loss_fn, params, k=n + 1)
    with pytest.raises(FloatingPointError, match="loss_fn.*non-finite"):
        sharpness(lambda: loss_fn() * float("nan"), params)
    with pytest.raises(ValueError, match="params.*empty"):
        sharpness(loss_fn, [])
    with pytest.raises(ValueError, match="hvp"):
        sharpness(loss_fn, params, hvp="magic")
    with pytest.raises(TypeError, match="k"):
        sharpness(loss_fn, params, k=1.5)
    with pytest.raises(ValueError, match="m"):
        ErfNetwork(2, 10, m=-1.0)
    with pytest.raises(ValueError, match="true"):
        ErfNetwork(2, 10, m=math.inf)(torch.ones(1, 2), derivative="true")


# ---------------------------------------------------------------------------- NTK
def test_empirical_ntk_of_a_linear_model_is_the_gram_matrix():
    model = nn.Linear(3, 1, bias=False).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(sg_ntk(model, x), x @ x.t())
    multi = nn.Linear(3, 2).double()
    kernel = sg_ntk(multi, x[:2], x)
    assert kernel.shape == (2, 5, 2, 2)
    torch.testing.assert_close(kernel[:, :, 0, 0], x[:2] @ x.t() + 1)
    torch.testing.assert_close(kernel[:, :, 0, 1], torch.zeros(2, 5, dtype=torch.float64))


@pytest.mark.parametrize("m,k", [(2.0, 1.0), (5.0, 5.0), (20.0, 1.0), (math.inf, 1.0)])
def test_analytic_kernel_matches_monte_carlo(m, k):
    x = ex.circle_inputs(5)[[0, 1, 3]] * torch.tensor([[1.0], [0.7], [1.3]], dtype=torch.float64)
    sigma_b = 0.5
    kernel = erf_ntk(x, x, m, surrogate_m=None if m == k else k, sigma_b=sigma_b)
    # Monte Carlo over one very wide layer's expectations: E over hidden units = E over (w, c) ~ N(0, 1)
    g = torch.Generator().manual_seed(0)
    n = 400_000
    w, c = torch.randn(n, 2, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    h = x @ w.t() / math.sqrt(2) + sigma_b * c  # [3, n]
    phi = torch.sign(h) if math.isinf(m) else torch.erf(m * h)
    dphi_k = 2 * k / math.sqrt(math.pi) * torch.exp(-(k * h) ** 2)
    sigma1 = x @ x.t() / 2 + sigma_b ** 2
    nngp = phi @ phi.t() / n + sigma_b ** 2
    if math.isinf(m):  # only the NNGP part can be sampled (phi' is a delta); check it and finiteness
        torch.testing.assert_close(erf_ntk(x, x, m, kind="nngp", sigma_b=sigma_b), nngp, rtol=0.01, atol=0.01)
        assert torch.isfinite(kernel).all()
        return
    dphi_m = 2 * m / math.sqrt(math.pi) * torch.exp(-(m * h) ** 2)
    mc = nngp + sigma1 * (dphi_m @ dphi_k.t() / n)
    torch.testing.assert_close(kernel, mc, rtol=0.03, atol=0.01)


def test_sign_limit_naive_ntk_diverges_sg_ntk_stays_finite():
    growth = ex.diagonal_growth((2, 20, 200, 2000))
    naive, sg = growth["naive_diagonal"], growth["sg_diagonal"]
    assert all(b > 5 * a for a, b in zip(naive[1:], naive[2:]))  # grows like m
    assert sg[-1] == pytest.approx(growth["sg_diagonal_sign_limit"], rel=1e-3) and sg[-1] < 2 * sg[0]


def test_empirical_sg_ntk_approaches_the_analytic_kernel():
    conv = ex.ntk_convergence((10, 1000), (2.0,), points=6, seeds=2)
    small, large = conv["errors"]["2.0"]
    assert large < small / 4 and large < 0.1  # 1/sqrt(width): a factor 10 expected


# ---------------------------------------------------------------------------- reproductions, toy size
def test_edge_of_stability_direction_toy():
    x, y, _ = ex.digits_regression(100)
    net = ex.tanh_mlp([64, 32, 32, 10], seed=0)
    run = ex.full_batch_gd(net, lambda: ex.half_mse(net(x), y), lr=0.2, steps=600, every=30)
    s = ex.summarize(run)
    assert s["steps_to_90pct"] is not None and 0.85 < s["settled_ratio"] < 1.15
    assert s["final_loss"] < 0.5 * s["initial_loss"] and s["loss_increases"] > 0


def test_weight_decay_keeps_sharpness_below_two_over_lr_toy():
    x, y, _ = ex.digits_regression(100)
    results = {}
    for wd in (0.0, 3e-2):
        net = ex.tanh_mlp([64, 32, 32, 10], seed=0)
        results[wd] = ex.summarize(ex.full_batch_gd(net, lambda: ex.half_mse(net(x), y), lr=0.2, steps=600,
                                                    every=30, weight_decay=wd))
    assert results[0.0]["settled_ratio"] > 0.85
    assert results[3e-2]["settled_ratio"] < 0.8


# ---------------------------------------------------------------------------- training monitor and CLI
def _train(monitor, tmp_path):
    from neurosim.models import SpikingMLP
    from neurosim.training import Trainer, make_encoder

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.rand(40, 6), torch.randint(0, 3, (40,)))
    model = SpikingMLP([6, 16, 3])
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    trainer = Trainer(model, optimizer, encoder=make_encoder("rate", 6), batch_size=8, progress=False, seed=3,
                      log_dir=str(tmp_path), tensorboard=False, callbacks=[monitor] if monitor else [])
    history = trainer.fit(data, epochs=2)
    return trainer, history


def test_monitor_leaves_training_bit_for_bit_identical(tmp_path):
    monitor = SharpnessMonitor(every=3, log_dir=str(tmp_path / "with"))
    with_monitor, history = _train(monitor, tmp_path / "with")
    without, history_plain = _train(None, tmp_path / "without")
    for a, b in zip(with_monitor.module.state_dict().values(), without.module.state_dict().values()):
        assert torch.equal(a, b)
    state_a, state_b = with_monitor.optimizer.state_dict()["state"], without.optimizer.state_dict()["state"]
    for k in state_a:
        for n in state_a[k]:
            assert torch.equal(torch.as_tensor(state_a[k][n]), torch.as_tensor(state_b[k][n]))
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in history_plain]
    assert [h["rate/neurons.0"] for h in history] == [h["rate/neurons.0"] for h in history_plain]
    assert [r["step"] for r in monitor.records] == [1, 3, 6, 9]  # 5 batches per epoch, 2 epochs
    assert all(r["two_over_lr"] == pytest.approx(400.0) and r["sharpness"] > 0 for r in monitor.records)
    assert "rate/neurons.0" in monitor.records[0] and "hvp_method" in monitor.records[0]
    assert (tmp_path / "with" / "diagnostics.csv").read_text().count("\n") == 5
    header = (tmp_path / "with" / "metrics.csv").read_text().splitlines()[0]
    assert "sharpness" in header and "two_over_lr" in header and "grad_norm" in header
    pytest.importorskip("matplotlib")
    monitor.plot(str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").stat().st_size > 0


def test_cli_diagnose_sharpness(tmp_path):
    import json

    from neurosim import cli

    out = tmp_path / "run"
    assert cli.main(["train", "--limit", "48", "--epochs", "1", "--T", "5", "--hidden", "16", "--diagnose",
                     "sharpness", "--every", "2", "--out", str(out), "--no-progress", "--no-plots"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["diagnostics"]["measurements"] == 2  # 48 samples, batch 32: steps 1 and 2
    assert results["diagnostics"]["hvp_method"] in ("double_backward", "finite_difference")
    assert (out / "diagnostics.csv").exists() and "sharpness" in (out / "metrics.csv").read_text()


@pytest.mark.parametrize("argv,needle", [(["--every", "0"], "--every"), (["--every", "x"], "--every"),
                                         (["--diagnose", "curvature"], "--diagnose")])
def test_cli_mistakes_exit_2_with_one_line(argv, needle, capsys):
    from neurosim import cli

    assert cli.main(["train", *argv]) == 2  # main returns the exit status; `python -m neurosim` exits with it
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


@needs_cpp
def test_spiking_network_sharpens_through_native_kernels_toy():
    # the spiking reproduction at toy size: measured through the native kernels (finite differences),
    # sharpness grows well above its initial value while surrogate-gradient GD lowers the loss
    x, y, _ = ex.digits_regression(100)
    xs = x.unsqueeze(0).expand(6, -1, -1).contiguous()
    net = ex.spiking_mlp([64, 32, 10], seed=0, backend="cpp")
    run = ex.full_batch_gd(net, lambda: ex.half_mse(net(xs).mean(0), y), lr=5.0, steps=60, every=15)
    values = [r["sharpness"] for r in run["records"]]
    assert all(r["hvp_method"] == "finite_difference" for r in run["records"])
    assert max(values[1:]) > 2 * values[0] and run["losses"][-1] < run["losses"][0]
