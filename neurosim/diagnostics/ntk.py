"""Neural tangent kernels: the empirical kernel ``J(x) J~(x')^T`` of any model (the surrogate-gradient
NTK when ``J~`` is the surrogate Jacobian BPTT uses), and the analytic infinite-width kernel of a
one-hidden-layer network with activation ``erf(m x)`` (``m = inf``: the sign function) and an
``erf``-shaped surrogate derivative (Eilers, Memmesheimer & Goedeke, NeurIPS 2024)."""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from torch import nn

from neurosim.diagnostics.hvp import Params, as_param_list, flatten


# ---------------------------------------------------------------------------- model
class _ErfActivation(torch.autograd.Function):
    """Forward ``erf(m x)`` (``sign(x)`` for m = inf); backward multiplies by ``deriv_m``'s
    derivative ``2 k / sqrt(pi) exp(-(k x)^2)`` (k = m: the true derivative; otherwise a surrogate)."""

    @staticmethod
    def forward(ctx, x, m: float, k: float):
        ctx.save_for_backward(x)
        ctx.k = k
        return torch.sign(x) if math.isinf(m) else torch.erf(m * x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        k = ctx.k
        return grad * (2.0 * k / math.sqrt(math.pi)) * torch.exp(-(k * x) ** 2), None, None


class ErfNetwork(nn.Module):
    """One hidden layer in the NTK parametrisation, every parameter drawn from N(0, 1)::

        h(x) = sigma_w / sqrt(n_in) * W x + sigma_b * c          (hidden pre-activations, [width])
        f(x) = sigma_w / sqrt(width) * a . phi(h(x)) + sigma_b * b

    with ``phi(z) = erf(m z)`` (``m = inf``: ``sign(z)``, the binary / spiking limit).
    ``forward(x, derivative="true")`` backpropagates the true derivative ``phi'`` (undefined for
    m = inf); ``derivative="surrogate"`` uses ``surrogate_m``'s erf derivative
    ``2 k / sqrt(pi) exp(-(k z)^2)`` (k = ``surrogate_m``) instead, as surrogate-gradient learning does.
    """

    def __init__(self, in_features: int, width: int, m: float = 2.0, surrogate_m: float = 1.0, *,
                 out_features: int = 1, sigma_w: float = 1.0, sigma_b: float = 0.0,
                 generator: Optional[torch.Generator] = None, dtype=torch.float64):
        super().__init__()
        for name, value in (("in_features", in_features), ("width", width), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        for name, value in (("m", m), ("surrogate_m", surrogate_m)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name}: expected a number > 0 (m may be math.inf), got {value!r}")
        if math.isinf(surrogate_m):
            raise ValueError("surrogate_m: must be finite (a surrogate derivative is a smooth bump)")
        if not (sigma_w > 0 and sigma_b >= 0):
            raise ValueError(f"sigma_w must be > 0 and sigma_b >= 0, got {sigma_w!r}, {sigma_b!r}")
        self.m, self.surrogate_m, self.sigma_w, self.sigma_b = float(m), float(surrogate_m), sigma_w, sigma_b
        draw = lambda *shape: nn.Parameter(torch.randn(*shape, generator=generator, dtype=dtype))
        self.W, self.c = draw(width, in_features), draw(width)
        self.a, self.b = draw(out_features, width), draw(out_features)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        n_in = self.W.shape[1]
        return self.sigma_w / math.sqrt(n_in) * x @ self.W.t() + self.sigma_b * self.c

    def forward(self, x: torch.Tensor, derivative: str = "surrogate") -> torch.Tensor:
        if derivative not in ("true", "surrogate"):
            raise ValueError(f"derivative: expected 'true' or 'surrogate', got {derivative!r}")
        if derivative == "true" and math.isinf(self.m):
            raise ValueError("derivative='true' needs a finite m: sign has no derivative (that is why SGL exists)")
        k = self.m if derivative == "true" else self.surrogate_m
        phi = _ErfActivation.apply(self.hidden(x), self.m, k)
        width = self.W.shape[0]
        return self.sigma_w / math.sqrt(width) * phi @ self.a.t() + self.sigma_b * self.b


# ---------------------------------------------------------------------------- empirical kernel
def _jacobian(fn: Callable, inputs, params, output_fn) -> torch.Tensor:
    out = fn(inputs)
    out = output_fn(out) if output_fn is not None else out
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"model: must return a tensor (or output_fn must map it to one), got {type(out).__name__}")
    if out.dim() not in (1, 2):
        raise ValueError(f"model output: expected [N] or [N, K] per input batch, got shape {tuple(out.shape)}; "
                         "pass output_fn (e.g. lambda out: out.sum(0) for time-major spike counts)")
    flat = out.reshape(out.shape[0], -1)
    if not flat.requires_grad:
        raise ValueError("model output: does not depend on params (no gradient graph)")
    rows = []
    for i in range(flat.shape[0]):
        for j in range(flat.shape[1]):
            grads = torch.autograd.grad(flat[i, j], params, retain_graph=True, allow_unused=True)
            rows.append(flatten(grads, params))
    return torch.stack(rows).reshape(flat.shape[0], flat.shape[1], -1)


def sg_ntk(model: Callable, inputs: torch.Tensor, inputs2: Optional[torch.Tensor] = None, *,
           true_model: Optional[Callable] = None, params: Optional[Params] = None,
           output_fn: Optional[Callable] = None) -> torch.Tensor:
    """The empirical (surrogate-gradient) neural tangent kernel ``J(inputs) J~(inputs2)^T``.

    ``J~`` is the Jacobian of ``model``'s outputs in its parameters as autograd computes it, i.e.
    with the surrogate derivatives BPTT uses for spiking layers. ``J`` is the Jacobian of
    ``true_model`` (a callable over the same parameters that backpropagates the true derivative,
    e.g. ``lambda x: net(x, derivative="true")`` for :class:`ErfNetwork`); without it ``J = J~`` and
    the result is the ordinary symmetric empirical NTK (exact for smooth models).

    Args:
        model / true_model: callables ``inputs -> outputs [N] or [N, K]`` (or anything
            ``output_fn`` maps to that, e.g. ``lambda out: out.sum(0)`` for spike counts of a
            time-major ``[T, N, K]`` network).
        inputs, inputs2: the two batches (``inputs2`` defaults to ``inputs``).
        params: parameters to differentiate in (default ``model.parameters()``).

    Returns ``[N1, N2]`` for one output, else ``[N1, N2, K, K]``. Cost: ``(N1 + N2) K`` backward
    passes; memory ``(N1 + N2) K`` times the parameter count.
    """
    if params is None:
        if not isinstance(model, nn.Module):
            raise TypeError("params: required when model is not an nn.Module")
        params = [p for p in model.parameters() if p.requires_grad]
    params, _ = as_param_list(params)
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs: expected a tensor, got {type(inputs).__name__}")
    inputs2 = inputs if inputs2 is None else inputs2
    j_left = _jacobian(true_model if true_model is not None else model, inputs, params, output_fn)
    j_right = _jacobian(model, inputs2, params, output_fn)
    if j_left.shape[1] != j_right.shape[1]:
        raise ValueError(f"model and true_model give different output sizes ({j_left.shape[1]} vs {j_right.shape[1]})")
    kernel = torch.einsum("ikp,jlp->ijkl", j_left, j_right)
    return kernel[:, :, 0, 0] if kernel.shape[-1] == 1 else kernel


# ---------------------------------------------------------------------------- analytic kernel
def _erf_pair(m: float, k: float, s11, s22, s12):
    """E[phi_m(u) phi_k(v)] for phi_m = erf(m .), (u, v) ~ N(0, [[s11, s12], [s12, s22]])."""
    if math.isinf(m) and math.isinf(k):
        rho = s12 / torch.sqrt(s11 * s22)
    else:
        a = 1.0 / (m * m) if not math.isinf(m) else 0.0
        b = 1.0 / (k * k) if not math.isinf(k) else 0.0
        rho = 2.0 * s12 / torch.sqrt((a + 2.0 * s11) * (b + 2.0 * s22))
    return (2.0 / math.pi) * torch.asin(rho.clamp(-1.0, 1.0))


def _erf_derivative_pair(m: float, k: float, s11, s22, s12):
    """E[phi_m'(u) phi_k'(v)], phi_m'(z) = 2m/sqrt(pi) exp(-m^2 z^2): (4/pi) / sqrt(det(D^-1 + 2 Lambda))
    with D = diag(m^2, k^2); m = inf (sign, phi' = 2 delta) is the limit, infinite where det Lambda = 0
    and m = k = inf."""
    a = 1.0 / (m * m) if not math.isinf(m) else 0.0
    b = 1.0 / (k * k) if not math.isinf(k) else 0.0
    det = (a + 2.0 * s11) * (b + 2.0 * s22) - 4.0 * s12 * s12
    return (4.0 / math.pi) / torch.sqrt(det.clamp_min(0.0))


def erf_ntk(x1: torch.Tensor, x2: Optional[torch.Tensor] = None, m: float = 2.0, surrogate_m: Optional[float] = None,
            *, sigma_w: float = 1.0, sigma_b: float = 0.0, kind: str = "ntk") -> torch.Tensor:
    """The infinite-width kernel of :class:`ErfNetwork` between ``x1 [N1, d]`` and ``x2 [N2, d]``.

    With ``Lambda`` the covariance of the hidden pre-activations at (x, x'),
    ``Sigma1(x, x') = sigma_w^2 x.x'/d + sigma_b^2``::

        Theta(x, x') = sigma_w^2 E[phi(u) phi(v)] + sigma_b^2 + Sigma1(x, x') sigma_w^2 E[phi'(u) phi~'(v)]

    ``kind="ntk"`` with ``surrogate_m=None``: the naive NTK (``phi~' = phi'``); as m -> inf its
    diagonal grows like m (ill-posed for sign). With ``surrogate_m=k``: the surrogate-gradient NTK
    ``J(x) J~(x')^T`` (true derivative at x, surrogate erf'(k .) at x'), finite for every m including
    ``math.inf``. ``kind="nngp"`` returns only the first two terms (the output covariance at
    initialisation). Returned in float64.

    The closed forms are Williams' (1997) arcsine kernel and the Gaussian integral of two Gaussian
    bumps; the recursion (one hidden layer) is the standard NTK one with the surrogate put in the
    backward factor, as in the SG-NTK paper (our reconstruction: see docs/diagnostics.md).
    """
    if kind not in ("ntk", "nngp"):
        raise ValueError(f"kind: expected 'ntk' or 'nngp', got {kind!r}")
    for name, value in (("m", m), ("surrogate_m", 1.0 if surrogate_m is None else surrogate_m)):
        if not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name}: expected a number > 0, got {value!r}")
    if surrogate_m is not None and math.isinf(surrogate_m):
        raise ValueError("surrogate_m: must be finite")
    if not isinstance(x1, torch.Tensor) or x1.dim() != 2:
        raise ValueError(f"x1: expected a [N, d] tensor, got {getattr(x1, 'shape', type(x1).__name__)}")
    x2 = x1 if x2 is None else x2
    if not isinstance(x2, torch.Tensor) or x2.dim() != 2 or x2.shape[1] != x1.shape[1]:
        raise ValueError(f"x2: expected a [N, {x1.shape[1]}] tensor, got {getattr(x2, 'shape', type(x2).__name__)}")
    x1, x2 = x1.double(), x2.double()
    d = x1.shape[1]
    s12 = sigma_w ** 2 * (x1 @ x2.t()) / d + sigma_b ** 2
    s11 = (sigma_w ** 2 * (x1 * x1).sum(1) / d + sigma_b ** 2)[:, None].expand_as(s12)
    s22 = (sigma_w ** 2 * (x2 * x2).sum(1) / d + sigma_b ** 2)[None, :].expand_as(s12)
    nngp = sigma_w ** 2 * _erf_pair(m, m, s11, s22, s12) + sigma_b ** 2
    if kind == "nngp":
        return nngp
    k = m if surrogate_m is None else surrogate_m
    return nngp + s12 * sigma_w ** 2 * _erf_derivative_pair(m, k, s11, s22, s12)
