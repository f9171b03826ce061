"""Curl Descent (Ninou, Kadmon, Cayco-Gajic, NeurIPS 2025): student-teacher networks
``y = phi(W2 phi(W1 x))`` (M inputs -> N hidden -> 1) trained with sign-diverse plasticity
``dW1 = -lr <delta1 x^T> D1``, ``dW2 = -lr <delta2 h^T> D2`` (D = diag(+-1): flipped fractions
alpha_h of the inputs and alpha_r of the hidden units), and the random-matrix prediction of when
the teacher's solution manifold loses stability.

Everything runs for K networks at once (batched matrix products), so seeds and rule variants of
one experiment share each step. Follows the authors' code (caycogajiclab/Curl_Descent): inputs
``x ~ N(0, I/2)``, teacher and student ``U(+-r/sqrt(fan_in))``, loss ``1/2 mean (y_hat - y)^2``, no
``phi'`` at the output unit in the update, a per-step rate ``lr * B / P``, and after every step
each weight matrix rescaled to its initial Frobenius norm (``rescale=True``).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import torch

from neurosim.plasticity._checks import check_batch, check_number

NONLINEARITIES = ("linear", "tanh")


def _phi(a: torch.Tensor, nonlinearity: str) -> torch.Tensor:
    return torch.tanh(a) if nonlinearity == "tanh" else a


def _phi_prime(a: torch.Tensor, nonlinearity: str) -> torch.Tensor:
    return 1 - torch.tanh(a).square() if nonlinearity == "tanh" else torch.ones_like(a)


class Networks(NamedTuple):
    w1: torch.Tensor
    """[K, N, M] hidden-layer weights."""
    w2: torch.Tensor
    """[K, 1, N] readout weights."""


class Task(NamedTuple):
    teacher: Networks
    student: Networks
    x_train: torch.Tensor
    """[P, M] fixed training inputs (recycled every epoch)."""
    x_test: torch.Tensor
    """[P_test, M]."""


def forward(nets: Networks, x: torch.Tensor, nonlinearity: str):
    """x [S, M] -> (pre-activation [K, S, N], hidden [K, S, N], output [K, S, 1])."""
    a = torch.matmul(x, nets.w1.transpose(1, 2))
    h = _phi(a, nonlinearity)
    return a, h, _phi(torch.matmul(h, nets.w2.transpose(1, 2)), nonlinearity)


def make_task(inputs: int, hidden: int, samples: int, *, networks: int = 1, test_samples: int = 100,
              student_scale: float = 1.0, teacher: Optional[Networks] = None, seed: int = 0,
              dtype=torch.float64) -> Task:
    """K teacher/student pairs (one teacher per network) sharing one data set, as in the authors' runs."""
    for name, v in (("inputs", inputs), ("hidden", hidden), ("samples", samples), ("networks", networks)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")
    g = torch.Generator().manual_seed(seed)

    def uniform(shape, bound):
        return (torch.rand(shape, generator=g, dtype=dtype) * 2 - 1) * bound

    if teacher is None:
        teacher = Networks(uniform((networks, hidden, inputs), inputs ** -0.5),
                           uniform((networks, 1, hidden), hidden ** -0.5))
    r = check_number(student_scale, "student_scale", positive=True)
    student = Networks(uniform((networks, hidden, inputs), r * inputs ** -0.5),
                       uniform((networks, 1, hidden), r * hidden ** -0.5))
    x_train = torch.randn(samples, inputs, generator=g, dtype=dtype) / 2 ** 0.5
    x_test = torch.randn(test_samples, inputs, generator=g, dtype=dtype) / 2 ** 0.5
    return Task(teacher, student, x_train, x_test)


def curl_descent_update(student: Networks, x: torch.Tensor, y: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor,
                        lr: float, nonlinearity: str = "linear") -> Networks:
    """One minibatch update ``(dW1, dW2)`` for every network: ``-lr <delta h^T> D``.

    ``x`` [S, M] inputs, ``y`` [K, S, 1] the teachers' outputs. ``d1`` [M] or [K, M] flips inputs
    (columns of W1), ``d2`` [N] or [K, N] hidden units (columns of W2); all +1 is gradient descent
    (without phi' at the output, as in the authors' code).
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity: expected one of {NONLINEARITIES}, got {nonlinearity!r}")
    check_batch(x, "x", 0)
    a, h, y_hat = forward(student, x, nonlinearity)
    delta2 = y_hat - y                                                       # [K, S, 1]
    delta1 = torch.matmul(delta2, student.w2) * _phi_prime(a, nonlinearity)  # [K, S, N]
    batch = x.shape[0]
    d1 = d1.to(x.dtype).reshape(-1, 1, x.shape[1])
    d2 = d2.to(x.dtype).reshape(-1, 1, student.w2.shape[2])
    dw2 = -lr * torch.matmul(delta2.transpose(1, 2), h) / batch * d2
    dw1 = -lr * torch.matmul(delta1.transpose(1, 2), x) / batch * d1
    return Networks(dw1, dw2)


def error(nets: Networks, x: torch.Tensor, y: torch.Tensor, nonlinearity: str) -> torch.Tensor:
    """``1/2 mean (y_hat - y)^2`` per network [K] for inputs x [S, M] and targets y [K, S, 1]."""
    return 0.5 * (forward(nets, x, nonlinearity)[2] - y).square().mean(dim=(1, 2))


class History(NamedTuple):
    epochs: torch.Tensor
    """[R] the epochs at which errors were recorded (0 = before training)."""
    train_error: torch.Tensor
    """[R, K] training error at those epochs."""
    test_error: torch.Tensor
    """[R, K]."""
    max_train_error: torch.Tensor
    """[K] the largest recorded training error (for runs started at the teacher)."""
    student: Networks


ENGINES = ("auto", "torch", "numpy")


def _numpy_epoch(w1, w2, x, y, order, batch, scale1, scale2, tanh, norm1, norm2):
    """One epoch of minibatch updates in NumPy, in place on float arrays w1 [K, N, M], w2 [K, 1, N]:
    the same arithmetic as :func:`curl_descent_update` (scale = -lr / B * D), with ~10x less
    per-operation overhead than torch on these tiny matrices."""
    for begin in range(0, len(order), batch):
        idx = order[begin:begin + batch]
        xb, yb = x[idx], y[:, idx]
        h = xb @ w1.transpose(0, 2, 1)
        if tanh:
            h = np.tanh(h)
        out = h @ w2.transpose(0, 2, 1)
        if tanh:
            out = np.tanh(out)
        e = out - yb
        delta1 = e @ w2
        if tanh:
            delta1 = delta1 * (1 - h * h)
        w1 += (delta1.transpose(0, 2, 1) @ xb) * scale1
        w2 += (e.transpose(0, 2, 1) @ h) * scale2
        if norm1 is not None:
            w1 *= norm1 / np.linalg.norm(w1, axis=(1, 2), keepdims=True)
            w2 *= norm2 / np.linalg.norm(w2, axis=(1, 2), keepdims=True)


def train(task: Task, d1: torch.Tensor, d2: torch.Tensor, *, epochs: int, lr: float = 0.1, batch: int = 10,
          nonlinearity: str = "linear", rescale: bool = True, start: Optional[Networks] = None,
          stop_below: Optional[float] = None, record_every: int = 1, seed: int = 0,
          engine: str = "auto") -> History:
    """Minibatch curl descent for every network of ``task`` (per-step rate ``lr * batch / P``).

    Args:
        d1, d2: sign vectors (see :func:`curl_descent_update`); ones for gradient descent.
        start: initial student weights (default ``task.student``; pass the teacher to test stability).
        stop_below: stop once every network's training error is below this value.
        record_every: record the errors every this many epochs (and after the last one).
        engine: "torch" (any device), "numpy" (CPU tensors: the same arithmetic with far less
            per-operation overhead, about 5x faster for the paper's sizes) or "auto" (numpy on the CPU).
            Both draw the same minibatch order; they agree to rounding, which the non-gradient
            dynamics can amplify over thousands of epochs.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine: expected one of {ENGINES}, got {engine!r}")
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity: expected one of {NONLINEARITIES}, got {nonlinearity!r}")
    for name, v in (("epochs", epochs), ("record_every", record_every), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "epochs" else 1):
            raise ValueError(f"{name}: expected a {'non-negative' if name == 'epochs' else 'positive'} int, got {v!r}")
    lr = check_number(lr, "lr", positive=True)
    x = task.x_train
    check_batch(x, "task.x_train", 0)
    samples = x.shape[0]
    step_lr = lr * batch / samples
    y_train = forward(task.teacher, x, nonlinearity)[2]
    y_test = forward(task.teacher, task.x_test, nonlinearity)[2]
    nets = Networks(*(w.clone() for w in (start or task.student)))
    norm1 = torch.linalg.matrix_norm(nets.w1, keepdim=True)
    norm2 = torch.linalg.matrix_norm(nets.w2, keepdim=True)
    g = torch.Generator().manual_seed(seed)
    recorded = [0]
    train_hist = [error(nets, x, y_train, nonlinearity)]
    test_hist = [error(nets, task.x_test, y_test, nonlinearity)]
    use_numpy = engine == "numpy" or (engine == "auto" and x.device.type == "cpu" and nets.w1.device.type == "cpu")
    if use_numpy:
        if x.device.type != "cpu" or nets.w1.device.type != "cpu":
            raise ValueError("engine: 'numpy' needs CPU tensors")
        np_w1, np_w2 = nets.w1.numpy().copy(), nets.w2.numpy().copy()
        np_x, np_y = x.numpy(), y_train.numpy()
        dtype = np_w1.dtype
        scale1 = (-step_lr / batch * d1.to(x.dtype).reshape(-1, 1, x.shape[1])).numpy().astype(dtype)
        scale2 = (-step_lr / batch * d2.to(x.dtype).reshape(-1, 1, nets.w2.shape[2])).numpy().astype(dtype)
        np_norm1 = norm1.numpy() if rescale else None
        np_norm2 = norm2.numpy() if rescale else None
    for epoch in range(1, epochs + 1):
        order = torch.randperm(samples, generator=g)
        if use_numpy:
            _numpy_epoch(np_w1, np_w2, np_x, np_y, order.numpy(), batch, scale1, scale2, nonlinearity == "tanh",
                         np_norm1, np_norm2)
            nets = Networks(torch.from_numpy(np_w1), torch.from_numpy(np_w2))
        else:
            for begin in range(0, samples, batch):
                idx = order[begin:begin + batch]
                dw1, dw2 = curl_descent_update(nets, x[idx], y_train[:, idx], d1, d2, step_lr, nonlinearity)
                w1, w2 = nets.w1 + dw1, nets.w2 + dw2
                if rescale:
                    w1 = w1 * (norm1 / torch.linalg.matrix_norm(w1, keepdim=True))
                    w2 = w2 * (norm2 / torch.linalg.matrix_norm(w2, keepdim=True))
                nets = Networks(w1, w2)
        if epoch % record_every == 0 or epoch == epochs:
            recorded.append(epoch)
            train_hist.append(error(nets, x, y_train, nonlinearity))
            test_hist.append(error(nets, task.x_test, y_test, nonlinearity))
            if stop_below is not None and bool((train_hist[-1] < stop_below).all()):
                break
    train_errors = torch.stack(train_hist)
    if use_numpy:  # the returned weights own their memory
        nets = Networks(nets.w1.clone(), nets.w2.clone())
    return History(torch.tensor(recorded), train_errors, torch.stack(test_hist), train_errors.max(0).values, nets)


def epochs_to_reach(history: History, threshold: float, test: bool = False) -> torch.Tensor:
    """First recorded epoch at which each network's training (or test) error is below threshold
    (inf if never), [K]."""
    errors = history.test_error if test else history.train_error
    below = errors < threshold
    first = history.epochs[below.to(torch.int64).argmax(0)].to(torch.float64)
    return torch.where(below.any(0), first, torch.full_like(first, float("inf")))


def critical_alpha_h(c: float, inputs: int = 500, seeds: int = 3, seed: int = 0) -> float:
    """Critical fraction of flipped inputs from the spectrum of ``D1 + W W^T``.

    W is an [M, N] Gaussian matrix with variance 1/M (N = M / c), so ``W W^T`` is Wishart with the
    Marchenko-Pastur lower edge ``(1 - sqrt(c))^2 / c``; D1 has ``n`` entries -1 and the rest +1. The
    solution manifold is unstable once the lowest eigenvalue is negative; returns the smallest
    fraction ``n / M`` for which it is (1.0 if even all flipped stays stable), averaged over seeds.
    Binary search on n: flipping one more entry lowers D1, so the lowest eigenvalue only decreases.
    """
    c = check_number(c, "c", positive=True)
    rng = np.random.default_rng(seed)
    hidden = max(1, int(round(inputs / c)))
    fractions = []
    for _ in range(seeds):
        w = rng.standard_normal((inputs, hidden)) / np.sqrt(inputs)
        gram = w @ w.T

        def unstable(n, gram=gram):
            x = gram.copy()
            x[np.diag_indices(inputs)] += np.where(np.arange(inputs) < n, -1.0, 1.0)
            return np.linalg.eigvalsh(x)[0] < 0

        if not unstable(inputs):
            fractions.append(1.0)
            continue
        stable, failing = 0, inputs
        while failing - stable > 1:
            mid = (stable + failing) // 2
            if unstable(mid):
                failing = mid
            else:
                stable = mid
        fractions.append(failing / inputs)
    return float(np.mean(fractions))


def lowest_edge_limit(c: float, flipped_fraction: float) -> float:
    """Lowest edge of the limiting (M, N -> infinity, c = M/N fixed) spectrum of ``D1 + W W^T``.

    W W^T (W: M x N, variance 1/M) and D1 (a fraction ``flipped_fraction`` of -1 on the diagonal,
    +1 elsewhere) are asymptotically free, so their R-transforms add:
    ``R_WW(w) = 1 / (c (1 - w))`` (Marchenko-Pastur with ratio c and mean 1/c) and, from
    ``G_D(z) = (z + d) / (z^2 - 1)`` with ``d = 1 - 2 flipped_fraction``,
    ``R_D(w) = (1 + sqrt(1 + 4 w (w + d))) / (2 w) - 1 / w``. The inverse Stieltjes transform is
    ``z(w) = R_WW(w) + R_D(w) + 1/w``; below the spectrum the Stieltjes transform is negative and
    increasing towards 0, so as w runs from 0- downwards z(w) climbs from -infinity to the lowest
    edge, its first local maximum. This is the authors' theory (their ``spectral_edges_L1``, which
    finds all stationary points of the same z(w) and keeps those where the density starts); the
    derivation here is ours.

    With no flipped input (D1 = I) the edge is ``1 + (1 - sqrt c)^2 / c``; as the fraction tends to
    0 the edge tends to the position of the outliers that a few flipped inputs create.
    """
    from scipy.optimize import minimize_scalar

    c = check_number(c, "c", positive=True)
    p = check_number(flipped_fraction, "flipped_fraction")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"flipped_fraction: expected a value in [0, 1], got {p}")
    if p == 0.0:
        return float(1.0 + (1.0 - np.sqrt(c)) ** 2 / c)
    d = 1.0 - 2.0 * p

    def z(w):
        return 1.0 / (c * (1.0 - w)) + (1.0 + np.sqrt(1.0 + 4.0 * w * (w + d))) / (2.0 * w)

    # 1 + 4 w (w + d) > 0 for every w when |d| < 1; at d = -1 (all flipped) it is (1 - 2w)^2 > 0 for w < 0.
    w = -np.geomspace(1e-9, 1e6, 6000)
    values = z(w)
    rising = np.diff(values) > 0
    peak = int(np.argmin(rising)) if not rising.all() else len(w) - 1
    lo, hi = w[min(peak + 1, len(w) - 1)], w[max(peak - 1, 0)]
    best = minimize_scalar(lambda v: -z(v), bounds=(lo, hi), method="bounded", options={"xatol": 1e-13})
    return float(max(z(best.x), values[peak]))


def critical_alpha_h_limit(c: float, inputs: int = 500) -> float:
    """Critical fraction of flipped inputs in the large-network limit (the paper's phase boundary).

    The smallest ``n / inputs`` (n = 1 .. inputs, the authors' grid at M = 500) for which the
    limiting lowest edge of ``D1 + W W^T`` (:func:`lowest_edge_limit`) is negative; 1.0 if even all
    flipped stays stable (c < 1/4). :func:`critical_alpha_h` estimates the same boundary from
    finite random matrices; it lies above this limit by a finite-size bias that shrinks with M.
    """
    c = check_number(c, "c", positive=True)
    if isinstance(inputs, bool) or not isinstance(inputs, int) or inputs < 1:
        raise ValueError(f"inputs: expected a positive int, got {inputs!r}")
    if lowest_edge_limit(c, 1.0) >= 0:
        return 1.0
    stable, failing = 0, inputs  # the edge only falls as more inputs are flipped
    while failing - stable > 1:
        mid = (stable + failing) // 2
        if lowest_edge_limit(c, mid / inputs) < 0:
            failing = mid
        else:
            stable = mid
    return failing / inputs
