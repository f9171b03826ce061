"""Sharpness (top Hessian eigenvalues) by Lanczos or power iteration on Hessian-vector products,
batch sharpness for SGD, and the alignment of the parameters with the gradient of sharpness."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Sequence

import torch
from torch import nn

from neurosim.diagnostics.hvp import (
    HVP_METHODS,
    HessianVectorProduct,
    Params,
    RNGReplay,
    as_param_list,
    evaluate_loss,
    flatten,
    unflatten,
)

SOLVERS = ("lanczos", "power")


@dataclass
class HessianEigen:
    """Top-k eigenpairs of a loss Hessian.

    Attributes:
        eigenvalues: ``[k]`` float64, largest first (``float(result)`` is the largest: the sharpness).
        eigenvectors: ``[k, n]`` unit vectors over the flattened parameters (dtype of the parameters);
            :meth:`vector` splits one back into parameter-shaped tensors.
        residuals: ``||H v - lambda v||`` estimate for each pair (Lanczos: ``beta_m |s_m|``).
        hvp_method: "double_backward" or "finite_difference" (what "auto" chose), and ``hvp_reason``.
        num_hvps: Hessian-vector products used. ``num_gradients``: gradient evaluations in all.
        converged: every residual under ``tol * |lambda_1|``.
        loss, grad_norm: loss and gradient norm at the parameters (free by-products).
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residuals: torch.Tensor
    hvp_method: str
    hvp_reason: str
    num_hvps: int
    num_gradients: int
    converged: bool
    loss: float
    grad_norm: float
    shapes: List[torch.Size] = field(default_factory=list, repr=False)

    def __float__(self) -> float:
        return float(self.eigenvalues[0])

    def vector(self, i: int = 0) -> List[torch.Tensor]:
        """Eigenvector ``i`` as tensors shaped like the parameters."""
        out, start = [], 0
        for s in self.shapes:
            n = int(torch.Size(s).numel())
            out.append(self.eigenvectors[i, start:start + n].view(s))
            start += n
        return out


def _check_int(value, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name}: must be >= {low}, got {value}")


def _module_buffers(module: Optional[nn.Module]) -> List[torch.Tensor]:
    if module is None:
        return []
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected an nn.Module or None, got {type(module).__name__}")
    return [b for b in module.buffers()]


@contextlib.contextmanager
def preserved(params: Sequence[torch.Tensor], module: Optional[nn.Module] = None):
    """Replays the same random numbers into every loss evaluation inside, and afterwards restores the
    generators, the parameters' values and ``module``'s buffers (e.g. BatchNorm statistics) exactly."""
    buffers = _module_buffers(module)
    saved = [b.detach().clone() for b in buffers]
    replay = RNGReplay([p.device for p in params])
    try:
        with replay:
            yield replay
    finally:
        with torch.no_grad():
            for b, s in zip(buffers, saved):
                b.copy_(s)


def _random_unit(n: int, like: torch.Tensor, seed: int) -> torch.Tensor:
    generator = torch.Generator(device="cpu").manual_seed(seed)  # a private generator: global RNG untouched
    v = torch.randn(n, generator=generator, dtype=torch.float64).to(device=like.device, dtype=like.dtype)
    return v / v.norm()


def _lanczos(hvp, n: int, k: int, max_iter: int, tol: float, start: torch.Tensor,
             locked: Optional[torch.Tensor] = None):
    """Lanczos with full reorthogonalisation; stops when the top-k Ritz pairs have relative
    residual below ``tol``. With ``locked`` (orthonormal rows) the operator is ``P H P`` for ``P``
    the projector onto their orthogonal complement, and the Krylov space stays in that complement.
    Returns (values desc, vectors [top, n], residuals, converged): ``top = min(k, Krylov dimension)``;
    converged when those residuals are under ``tol`` or the Krylov space closed (its Ritz pairs exact)."""

    def project(x):
        if locked is None:
            return x
        for _ in range(2):
            x = x - locked.t() @ (locked @ x)
        return x

    start = project(start)
    basis = [start / start.norm()]
    alphas: List[float] = []
    betas: List[float] = []
    dim = n - (0 if locked is None else locked.shape[0])
    m = min(max_iter, dim)
    converged = False
    for j in range(m):
        q = basis[j]
        w = project(hvp(q))
        alpha = float(torch.dot(w.double(), q.double()))
        alphas.append(alpha)
        w = w - alpha * q - (betas[-1] * basis[j - 1] if j > 0 else 0.0)
        Q = torch.stack(basis)
        for _ in range(2):  # full reorthogonalisation, twice is enough (Kahan)
            w = project(w - Q.t() @ (Q @ w))
        beta = float(w.norm())
        T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if j > 0:
            off = torch.tensor(betas, dtype=torch.float64)
            T = T + torch.diag(off, 1) + torch.diag(off, -1)
        theta, S = torch.linalg.eigh(T)
        theta, S = theta.flip(0), S.flip(1)
        top = min(k, j + 1)
        residuals = (beta * S[-1, :top]).abs()
        scale = max(abs(float(theta[0])), 1e-30)
        invariant = beta <= 1e-10 * max(scale, 1.0) or j + 1 == dim
        if invariant or (top == k and bool((residuals <= tol * scale).all())):
            converged = True
            break
        if j == m - 1:
            break
        betas.append(beta)
        basis.append(w / beta)
    top = min(k, len(alphas))
    Q = torch.stack(basis[:len(alphas)])
    vectors = (S[:, :top].t().to(Q.dtype) @ Q)
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    return theta[:top], vectors, residuals[:top], converged


def _lanczos_restarted(hvp, n: int, k: int, max_iter: int, tol: float, start: torch.Tensor, seed: int):
    """The k largest eigenvalues counted with multiplicity.

    One Lanczos run sees one vector of each eigenspace (the start vector's component in it), so a
    repeated eigenvalue shows up once. For k > 1, after a converged run its Ritz pairs are locked
    and Lanczos restarts from a fresh random vector on the operator deflated by every locked vector
    (``P H P`` on their orthogonal complement); the new pairs are merged in. This repeats until a
    run adds nothing above the current k-th value (or the complement is exhausted), at most k + 1
    runs of at most ``max_iter`` products each. Converged: every run converged and the last one
    confirmed the top k."""
    values, vectors, residuals, converged = _lanczos(hvp, n, k, max_iter, tol, start)
    if k == 1 or not converged:
        return values, vectors, residuals, converged
    runs = 1
    while vectors.shape[0] < n:
        if runs > k:
            converged = False  # the top k kept changing: no run confirmed them
            break
        restart = _random_unit(n, start, seed + 1 + runs)
        restart = restart - vectors.t() @ (vectors @ restart)
        restart = restart - vectors.t() @ (vectors @ restart)
        if float(restart.norm()) <= 1e-8:  # the random vector lies in the locked span (rounding)
            restart = _random_unit(n, start, seed + 1000 + runs)
            restart = restart - vectors.t() @ (vectors @ restart)
        new_values, new_vectors, new_residuals, ok = _lanczos(hvp, n, k, max_iter, tol, restart, locked=vectors)
        runs += 1
        kth = float(values.sort(descending=True).values[k - 1]) if values.numel() >= k else -float("inf")
        scale = max(abs(float(values.max())), 1e-30)
        values = torch.cat([values, new_values])
        vectors = torch.cat([vectors, new_vectors.to(vectors.dtype)])
        residuals = torch.cat([residuals.double(), new_residuals.double()])
        converged = converged and ok
        if not ok:
            break
        if values.numel() >= k and float(new_values[0]) <= kth + tol * scale:
            break  # nothing new above the k-th: the top k are confirmed
    order = values.argsort(descending=True)[:k]
    return values[order], vectors[order], residuals[order], converged


def _power_iterate(hvp, v: torch.Tensor, deflate: List[torch.Tensor], shift: float, budget: int, tol: float):
    """Power iteration on ``H + shift I`` restricted to the complement of ``deflate`` (orthonormal),
    from the unit vector ``v``, for at most ``budget`` products. Returns (Rayleigh quotient of H,
    vector, residual ``||H v - lambda v||``, converged, products used)."""

    def project(x):
        for u in deflate:
            x = x - torch.dot(u, x) * u
        return x

    v = project(v)
    v = v / v.norm()
    lam, res, used = 0.0, float("inf"), 0
    for _ in range(budget):
        w = project(hvp(v))
        used += 1
        lam = float(torch.dot(w.double(), v.double()))
        res = float((w - lam * v).norm())
        if res <= tol * max(abs(lam), 1e-30):
            break
        w = project(w + shift * v)
        norm_w = w.norm()
        if float(norm_w) == 0.0:
            break
        v = w / norm_w
    return lam, v, res, res <= tol * max(abs(lam), 1e-30), used


def _power(hvp, n: int, k: int, max_iter: int, tol: float, start: torch.Tensor, seed: int):
    """The k largest (algebraic) eigenpairs by power iteration with deflation.

    Plain power iteration finds the eigenvalue of largest *magnitude*, mu. If mu >= 0 it is the
    largest eigenvalue. Either way ``s = |mu| + residual`` bounds the spectral radius (once the
    iteration has converged; it is at least ``||H v||``), so ``H + s I`` has its spectrum in
    [0, 2 s], ordered like H's: the largest eigenvalues of H are the dominant ones of the shifted
    operator, and deflating against the pairs found gives the next largest, not the next in
    magnitude. Every pair is iterated on that shifted operator except a nonnegative mu itself."""
    per_pair = max(1, max_iter // k)
    mu, v, res, ok, used = _power_iterate(hvp, start, [], 0.0, per_pair, tol)
    shift = abs(mu) + res
    values, vectors, residuals, flags = [], [], [], []
    if mu >= 0:  # the dominant eigenvalue is the largest one
        values.append(mu), vectors.append(v), residuals.append(res), flags.append(ok)
    else:  # the most negative one dominates: the products it took come out of the budget
        per_pair = max(1, (max_iter - used) // k)
    for i in range(len(values), k):
        v = start if i == 0 else _random_unit(n, start, seed + i)
        lam, v, res, ok, _ = _power_iterate(hvp, v, vectors, shift, per_pair, tol)
        values.append(lam), vectors.append(v), residuals.append(res), flags.append(ok)
    order = sorted(range(k), key=lambda i: -values[i])
    return (torch.tensor([values[i] for i in order], dtype=torch.float64),
            torch.stack([vectors[i] for i in order]), torch.tensor([residuals[i] for i in order]), all(flags))


def sharpness(loss_fn: Callable[[], torch.Tensor], params: Params, k: int = 1, *, max_iter: int = 20,
              tol: float = 1e-3, method: str = "lanczos", hvp: str = "auto", fd_step: Optional[float] = None,
              init: Optional[torch.Tensor] = None, seed: int = 0, module: Optional[nn.Module] = None) -> HessianEigen:
    """The top-``k`` eigenvalues (largest algebraic) and eigenvectors of the Hessian of ``loss_fn()``.

    Args:
        loss_fn: ``() -> scalar tensor``: the loss on a fixed batch, e.g.
            ``lambda: F.cross_entropy(model(x), y)``. Any random numbers it draws (dropout, a rate
            code) are replayed identically on every call, so the Hessian is that of one function.
        params: the parameters (``model.parameters()``, ``model.named_parameters()``, a list or a
            name -> tensor dict); each must require grad.
        k: how many eigenpairs (1 <= k <= number of parameters).
        max_iter: most Hessian-vector products (Lanczos steps) per Lanczos run. 20 resolve the top
            eigenvalue of typical networks to well under 1 %; more for larger ``k`` or clustered
            spectra. For k > 1 Lanczos restarts on the Hessian deflated by the pairs found, from a
            fresh random vector, until a run finds nothing above the k-th value (so repeated
            eigenvalues are counted with multiplicity): up to k + 1 runs, ``num_hvps`` says how many
            products were used.
        tol: stop early when every Ritz residual ``||H v - lambda v||`` is under ``tol * |lambda_1|``
            (the eigenvalue error is then about ``tol**2 * lambda_1 / gap``).
        method: "lanczos" (default) or "power" iteration (with deflation for k > 1; it shifts the
            Hessian by its spectral radius where needed, so it too returns the largest algebraic
            eigenvalues, but then converges slowly: see docs/diagnostics.md).
        hvp: "auto" (double backward where every op supports it, else central differences of
            gradients), "double_backward" or "finite_difference". The result says which was used.
        fd_step: relative finite-difference step (see :class:`HessianVectorProduct`).
        init: a starting vector (flat, e.g. the previous eigenvector when tracking sharpness during
            training: warm starts converge in a few products). Default: random from ``seed``.
        module: also restore this module's buffers afterwards (BatchNorm running statistics).

    Nothing of the caller's changes: parameters (bit for bit), buffers of ``module``, the global
    random generators, ``.grad`` fields and any optimizer state are as they were.
    """
    params, _names = as_param_list(params)
    _check_int(k, "k", 1)
    _check_int(max_iter, "max_iter", 1)
    n = sum(p.numel() for p in params)
    if k > n:
        raise ValueError(f"k: asked for {k} eigenvalues but the parameters have only {n} entries")
    if method not in SOLVERS:
        raise ValueError(f"method: expected one of {SOLVERS}, got {method!r}")
    if hvp not in HVP_METHODS:
        raise ValueError(f"hvp: expected one of {HVP_METHODS}, got {hvp!r}")
    if not (isinstance(tol, (int, float)) and 0 <= tol < 1):
        raise ValueError(f"tol: expected a number in [0, 1), got {tol!r}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a callable returning a scalar loss, got {type(loss_fn).__name__}")
    if init is not None:
        if not isinstance(init, torch.Tensor) or init.numel() != n:
            raise ValueError(f"init: expected a tensor with {n} entries (the flattened parameters), "
                             f"got {getattr(init, 'shape', type(init).__name__)}")
    dtype = params[0].dtype
    with preserved(params, module) as rng:
        product = HessianVectorProduct(loss_fn, params, method=hvp, fd_step=fd_step, replay=rng.replay)
        start = (init.detach().reshape(-1).to(device=params[0].device, dtype=dtype) if init is not None
                 else _random_unit(n, params[0], seed))
        if float(start.norm()) == 0.0:
            raise ValueError("init: is the zero vector")
        start = start / start.norm()
        if method == "lanczos":
            values, vectors, residuals, converged = _lanczos_restarted(product, n, k, max_iter, tol, start, seed)
            if values.numel() < k:  # the budget ran out before k Ritz pairs existed
                raise ValueError(f"max_iter: {max_iter} Lanczos steps gave only {values.numel()} of the k={k} "
                                 f"eigenvalues asked for; raise max_iter")
        else:
            values, vectors, residuals, converged = _power(product, n, k, max_iter, tol, start, seed)
        if product.gradient is None or product.loss is None:
            product.gradient = product._flat_gradient(centre=True)
        loss = float(product.loss.detach())
        grad_norm = float(product.gradient.norm())
        product.release()
    return HessianEigen(eigenvalues=values.to(torch.float64), eigenvectors=vectors.detach(),
                        residuals=residuals.double(), hvp_method=product.method, hvp_reason=product.reason,
                        num_hvps=product.num_products, num_gradients=product.num_gradients, converged=converged,
                        loss=loss, grad_norm=grad_norm, shapes=[p.shape for p in params])


@dataclass
class BatchSharpness:
    """Batch sharpness and per-batch curvature for SGD.

    ``value`` = mean over batches B of ``g_B^T H_B g_B / ||g_B||^2`` (the curvature of each batch's
    loss along its own gradient: Andreyev & Beneventano's "batch sharpness", which hovers at 2/eta
    under SGD). ``per_batch`` holds those ratios; ``per_batch_max`` the top eigenvalue of each batch
    Hessian (when ``top_eigenvalues=True``)."""

    value: float
    per_batch: List[float]
    per_batch_max: Optional[List[float]]
    hvp_method: str
    num_hvps: int


def batch_sharpness(loss_fn: Callable[[object], torch.Tensor], params: Params, batches: Iterable, *,
                    top_eigenvalues: bool = False, hvp: str = "auto", max_iter: int = 20,
                    module: Optional[nn.Module] = None) -> BatchSharpness:
    """Curvature seen by SGD: for each ``batch`` in ``batches``, the directional curvature of
    ``loss_fn(batch)`` along its own gradient, averaged (and, with ``top_eigenvalues``, the
    sharpness of each batch's Hessian by :func:`sharpness`). One HVP per batch (plus Lanczos steps).
    """
    params, _ = as_param_list(params)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a callable batch -> scalar loss, got {type(loss_fn).__name__}")
    ratios, tops, method, count = [], [] if top_eigenvalues else None, "", 0
    for i, batch in enumerate(batches):
        closure = (lambda b=batch: loss_fn(b))
        with preserved(params, module) as rng:
            product = HessianVectorProduct(closure, params, method=hvp, replay=rng.replay)
            if product.gradient is None:
                product.gradient = product._flat_gradient(centre=True)
            g = product.gradient
            gg = float(torch.dot(g.double(), g.double()))
            if gg == 0.0:
                raise ValueError(f"batches: batch {i} has a zero gradient; its curvature along it is undefined")
            hg = product(g)
            ratios.append(float(torch.dot(hg.double(), g.double())) / gg)
            method, count = product.method, count + product.num_products
            product.release()
        if tops is not None:
            result = sharpness(closure, params, hvp=hvp, max_iter=max_iter, module=module)
            tops.append(float(result))
            count += result.num_hvps
    if not ratios:
        raise ValueError("batches: is empty")
    return BatchSharpness(value=sum(ratios) / len(ratios), per_batch=ratios, per_batch_max=tops,
                          hvp_method=method, num_hvps=count)


@dataclass
class SharpnessAlignment:
    """``cosine`` between the parameter vector and the gradient of sharpness, ``sharpness_gradient``
    (flat), the sharpness itself and how the third derivative was taken."""

    cosine: float
    sharpness: float
    sharpness_gradient: torch.Tensor
    parameter_norm: float
    method: str


def gradient_alignment(loss_fn: Callable[[], torch.Tensor], params: Params, *, eigen: Optional[HessianEigen] = None,
                       derivative: str = "auto", fd_step: Optional[float] = None,
                       module: Optional[nn.Module] = None, **sharpness_options) -> SharpnessAlignment:
    """The alignment measure of the weight-decay / edge-of-stability analysis (Saether, Kolic,
    Poggio & Beneventano 2026): the cosine between the parameters ``theta`` and the gradient of the
    sharpness ``S(theta) = lambda_max``.

    By Hellmann-Feynman, ``grad S = grad_theta (v^T H(theta) v)`` with the top unit eigenvector ``v``
    held fixed (valid while lambda_max is simple). "auto" takes it by a third backward pass where
    every op supports it, else by a second difference of gradients along ``v``:
    ``(g(theta + h v) + g(theta - h v) - 2 g(theta)) / h^2`` with ``h = eps**(1/4) max(1, ||theta||)``.
    Weight decay ``wd`` adds ``-wd * theta`` to each step, so a positive cosine means decay pushes
    sharpness down (the paper's mechanism for sharpness settling below 2/eta).
    """
    params, _ = as_param_list(params)
    if derivative not in ("auto", "autograd", "finite_difference"):
        raise ValueError(f"derivative: expected 'auto', 'autograd' or 'finite_difference', got {derivative!r}")
    if eigen is None:
        eigen = sharpness(loss_fn, params, module=module, **sharpness_options)
    v = eigen.eigenvectors[0]
    theta = flatten([p.detach() for p in params], params)
    grad_s, method = None, derivative
    with preserved(params, module) as rng:
        if derivative == "autograd" or (derivative == "auto" and eigen.hvp_method == "double_backward"):
            try:
                rng.replay()
                loss = evaluate_loss(loss_fn)
                grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
                vs = unflatten(v, params)
                inner = sum((g * u).sum() for g, u in zip(grads, vs) if g is not None)
                hv = torch.autograd.grad(inner, params, create_graph=True, allow_unused=True)
                curvature = sum((h * u).sum() for h, u in zip(hv, vs) if h is not None)
                if not isinstance(curvature, torch.Tensor) or not curvature.requires_grad:
                    raise RuntimeError("the Hessian-vector product has no graph")
                grad_s = flatten(torch.autograd.grad(curvature, params, allow_unused=True), params).detach()
                method = "autograd"
            except RuntimeError:
                if derivative == "autograd":
                    raise
        if grad_s is None:
            product = HessianVectorProduct(loss_fn, params, method="finite_difference", replay=rng.replay)
            g0 = product._flat_gradient()
            step = fd_step if fd_step is not None else torch.finfo(params[0].dtype).eps ** 0.25
            h = step * max(1.0, float(theta.double().norm()))
            saved = [p.detach().clone() for p in params]
            vs = unflatten(v, params)
            try:
                product._shift(vs, saved, h)
                g_plus = product._flat_gradient()
                product._shift(vs, saved, -h)
                g_minus = product._flat_gradient()
            finally:
                with torch.no_grad():
                    for p, s in zip(params, saved):
                        p.copy_(s)
            grad_s = (g_plus + g_minus - 2.0 * g0) / (h * h)
            method = "finite_difference"
    cosine = float(torch.nn.functional.cosine_similarity(theta.double(), grad_s.double(), dim=0))
    return SharpnessAlignment(cosine=cosine, sharpness=float(eigen), sharpness_gradient=grad_s,
                              parameter_norm=float(theta.double().norm()), method=method)


def hessian_matrix(loss_fn: Callable[[], torch.Tensor], params: Params) -> torch.Tensor:
    """The full ``[n, n]`` Hessian by double backward (one product per column; small models only)."""
    params, _ = as_param_list(params)
    n = sum(p.numel() for p in params)
    with preserved(params) as rng:
        product = HessianVectorProduct(loss_fn, params, method="double_backward", replay=rng.replay)
        product(_random_unit(n, params[0], 0))  # a generic first product: checks double backward works
        eye = torch.eye(n, dtype=params[0].dtype, device=params[0].device)
        cols = [product(eye[i]) for i in range(n)]
        product.release()
    return torch.stack(cols, 1)
