"""Hessian-vector products of a scalar loss: double backward, or central differences of gradients.

Both forms see the loss through a closure ``loss_fn() -> scalar`` evaluated on a fixed batch. The
double-backward form differentiates the gradient graph a second time; it is exact but needs every op
in the graph to have a differentiable backward. neurosim's native kernels (the ``cpp``/``cuda``
backends) compute their backward in C++ and cannot be differentiated again, so a graph through them
either raises or yields a silently incomplete second derivative. :class:`HessianVectorProduct`
detects both (an error, torch's "no autograd kernel" warning, or an all-zero second derivative of a
loss with a nonzero gradient) and falls back to differences of gradients, which only need the
ordinary backward and so work through every op, surrogate gradients included.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch

HVP_METHODS = ("auto", "double_backward", "finite_difference")
Params = Union[Iterable[torch.Tensor], Dict[str, torch.Tensor]]


class NoDoubleBackward(RuntimeError):
    """The loss graph cannot be differentiated twice (raised only when double backward was requested)."""


def as_param_list(params: Params, name: str = "params") -> Tuple[List[torch.Tensor], List[str]]:
    """Parameters as a list plus display names; checks that each is a floating tensor with grad."""
    if isinstance(params, torch.Tensor):
        raise TypeError(f"{name}: expected an iterable of tensors (e.g. model.parameters()), got one tensor; "
                        "wrap it in a list")
    if isinstance(params, dict):
        names, tensors = list(params.keys()), list(params.values())
    else:
        try:
            items = list(params)
        except TypeError:
            raise TypeError(f"{name}: expected an iterable of tensors, got {type(params).__name__}") from None
        if items and all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], str) for i in items):
            names, tensors = [i[0] for i in items], [i[1] for i in items]  # model.named_parameters()
        else:
            names, tensors = [f"{name}[{i}]" for i in range(len(items))], items
    if not tensors:
        raise ValueError(f"{name}: is empty; pass the parameters the loss depends on")
    for n, p in zip(names, tensors):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{name}: {n} is a {type(p).__name__}, expected a torch.Tensor")
        if not p.is_floating_point():
            raise TypeError(f"{name}: {n} has dtype {p.dtype}; expected a floating tensor")
        if not p.requires_grad:
            raise ValueError(f"{name}: {n} does not require grad; pass only trainable parameters "
                             "(e.g. [p for p in model.parameters() if p.requires_grad])")
    return tensors, names


def flatten(tensors: Sequence[Optional[torch.Tensor]], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate ``tensors`` (None counts as zeros shaped like ``like``) into one flat vector."""
    return torch.cat([(torch.zeros_like(p) if t is None else t).reshape(-1) for t, p in zip(tensors, like)])


def unflatten(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """Split a flat vector into tensors shaped like ``like`` (views of ``vector``)."""
    out, start = [], 0
    for p in like:
        out.append(vector[start:start + p.numel()].view_as(p))
        start += p.numel()
    return out


def evaluate_loss(loss_fn: Callable[[], torch.Tensor], where: str = "") -> torch.Tensor:
    """Calls ``loss_fn()`` and checks that it gave one finite number."""
    loss = loss_fn()
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"loss_fn: must return a scalar torch.Tensor, got {type(loss).__name__}")
    if loss.dim() != 0:
        raise ValueError(f"loss_fn: must return a scalar (0-dim) loss, got shape {tuple(loss.shape)}; "
                         "reduce it first (e.g. .mean())")
    if not loss.is_floating_point():
        raise TypeError(f"loss_fn: must return a floating loss, got dtype {loss.dtype}")
    # a measurement, not a training hot path: one sync per loss evaluation is the price of a clear error
    if not math.isfinite(loss.detach().item()):
        raise FloatingPointError(f"loss_fn: returned a non-finite loss ({loss.detach().item()}){where}; "
                                 "the Hessian is undefined there")
    return loss


def _gradient(loss_fn, params, create_graph: bool, where: str = "") -> Tuple[torch.Tensor, List[Optional[torch.Tensor]]]:
    loss = evaluate_loss(loss_fn, where)
    if not loss.requires_grad:
        raise ValueError("loss_fn: the loss does not depend on any of params (it has no gradient graph)")
    grads = torch.autograd.grad(loss, params, create_graph=create_graph, allow_unused=True)
    return loss, list(grads)


class RNGReplay:
    """Every loss evaluation sees the same random numbers (a fixed dropout mask or spike encoding),
    and the caller's generators are left exactly as they were."""

    def __init__(self, devices: Sequence[torch.device]):
        self.devices = sorted({d.index or 0 for d in devices if d.type == "cuda"})

    def __enter__(self):
        self._fork = torch.random.fork_rng(devices=self.devices)
        self._fork.__enter__()
        self.cpu = torch.get_rng_state()
        self.cuda = [torch.cuda.get_rng_state(d) for d in self.devices]
        return self

    def replay(self) -> None:
        torch.set_rng_state(self.cpu)
        for d, s in zip(self.devices, self.cuda):
            torch.cuda.set_rng_state(s, d)

    def __exit__(self, *exc):
        return self._fork.__exit__(*exc)


@contextlib.contextmanager
def _capture_autograd_warnings(sink: List[str]):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = str(w.message)
        if "autograd kernel was not registered" in text or "backprop through it" in text:
            sink.append(text.split("\n")[0])
        else:  # not ours to swallow
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


class HessianVectorProduct:
    """``hvp(v)`` = H v for the Hessian H of ``loss_fn()`` in ``params`` (v and H v flat vectors).

    Args:
        loss_fn: ``() -> scalar`` on a fixed batch. Random numbers it draws are replayed identically
            on every call (see :class:`RNGReplay`, entered by the caller).
        params: the tensors to differentiate in.
        method: "auto" (double backward, else finite differences), "double_backward",
            "finite_difference".
        fd_step: finite-difference step as a fraction of ``max(1, ||params||)``; default
            ``eps**(1/3)`` of the dtype (about 5e-3 in float32, 6e-6 in float64), which balances
            the O(h^2) truncation error of central differences against rounding.

    After the first product, ``method`` says which form is in use and ``reason`` why.
    Each product costs one backward through the gradient graph (double backward; the loss graph is
    built once and kept) or two gradients (finite differences). ``num_products`` counts them.
    Finite differences move the parameters in place and restore them from a saved copy, so they
    are bit-for-bit unchanged afterwards.
    """

    def __init__(self, loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor], method: str = "auto",
                 fd_step: Optional[float] = None, replay: Optional[Callable[[], None]] = None):
        if method not in HVP_METHODS:
            raise ValueError(f"hvp: expected one of {HVP_METHODS}, got {method!r}")
        if fd_step is not None and not (isinstance(fd_step, (int, float)) and 0 < fd_step < 1):
            raise ValueError(f"fd_step: expected a number in (0, 1), got {fd_step!r}")
        self.loss_fn, self.params = loss_fn, list(params)
        self.method, self.reason = method, "requested" if method != "auto" else ""
        self.replay = replay or (lambda: None)
        self.num_products = 0
        self._checked = False
        self.num_gradients = 0
        dtype = self.params[0].dtype
        self.fd_step = fd_step if fd_step is not None else torch.finfo(dtype).eps ** (1.0 / 3.0)
        self._grads: Optional[List[Optional[torch.Tensor]]] = None
        self.loss: Optional[torch.Tensor] = None
        self.gradient: Optional[torch.Tensor] = None  # flat gradient at the current parameters
        if method in ("auto", "double_backward"):
            self._build_graph()

    # ------------------------------------------------------------ double backward
    def _build_graph(self) -> None:
        self.replay()
        self._native_warnings: List[str] = []
        loss = evaluate_loss(self.loss_fn)
        if not loss.requires_grad:
            raise ValueError("loss_fn: the loss does not depend on any of params (it has no gradient graph)")
        self.loss = loss.detach()
        try:
            with _capture_autograd_warnings(self._native_warnings):
                self._grads = list(torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True))
        except Exception as e:  # noqa: BLE001 - an op refusing create_graph; a real error resurfaces below
            # in the plain gradients the finite differences take
            self._unsupported(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            return
        self.num_gradients += 1
        self.gradient = flatten([None if g is None else g.detach() for g in self._grads], self.params)
        if not any(g is not None and g.requires_grad for g in self._grads):
            self._unsupported("the gradient has no graph of its own (ops without a differentiable backward)")

    def _unsupported(self, why: str) -> None:
        if self.method == "double_backward":
            raise NoDoubleBackward(f"double backward is not available for this loss: {why}; "
                                   "use method='finite_difference' (or 'auto')")
        self.method, self.reason, self._grads = "finite_difference", f"double backward unavailable: {why}", None

    def _double_backward(self, v: torch.Tensor) -> Optional[torch.Tensor]:
        vs = unflatten(v, self.params)
        pairs = [(g, u) for g, u in zip(self._grads, vs) if g is not None and g.requires_grad]
        inner = sum((g * u).sum() for g, u in pairs)
        sink: List[str] = []
        try:
            with _capture_autograd_warnings(sink):
                hv = torch.autograd.grad(inner, self.params, retain_graph=True, allow_unused=True)
        except Exception as e:  # noqa: BLE001 - e.g. a native backward refusing a second pass
            self._unsupported(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            return None
        if sink or self._native_warnings:
            self._unsupported("a native op has no differentiable backward (" + (sink or self._native_warnings)[0] + ")")
            return None
        out = flatten([None if h is None else h.detach() for h in hv], self.params)
        if not self._checked:
            # a graph through a non-differentiable backward can also come back as exact zeros
            self._checked = True
            if not bool(out.any()) and bool(self.gradient.any()) and bool(v.any()):
                self._unsupported("the second derivative came back identically zero")
                return None
            if self.method == "auto":
                self.method, self.reason = "double_backward", "every op in the graph supports double backward"
        return out

    # ------------------------------------------------------------ finite differences
    def _flat_gradient(self, centre: bool = False) -> torch.Tensor:
        self.replay()
        loss, grads = _gradient(self.loss_fn, self.params, create_graph=False,
                                where="" if centre else " at a finite-difference point")
        self.num_gradients += 1
        if centre:
            self.loss = loss.detach()
        return flatten(grads, self.params)

    @torch.no_grad()
    def _shift(self, v: List[torch.Tensor], saved: List[torch.Tensor], scale: float) -> None:
        for p, s, u in zip(self.params, saved, v):
            p.copy_(s).add_(u, alpha=scale)

    def _finite_difference(self, v: torch.Tensor) -> torch.Tensor:
        norm_v = float(v.norm())
        if norm_v == 0.0:
            return torch.zeros_like(v)
        if self.gradient is None:  # gradient and loss at the centre, for callers that want them
            self.gradient = self._flat_gradient(centre=True)
        saved = [p.detach().clone() for p in self.params]
        theta_norm = math.sqrt(sum(float(s.double().pow(2).sum()) for s in saved))
        h = self.fd_step * max(1.0, theta_norm) / norm_v
        vs = unflatten(v, self.params)
        try:
            self._shift(vs, saved, h)
            g_plus = self._flat_gradient()
            self._shift(vs, saved, -h)
            g_minus = self._flat_gradient()
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, saved):
                    p.copy_(s)
        return (g_plus - g_minus) / (2.0 * h)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.num_products += 1
        if self.method != "finite_difference":
            out = self._double_backward(v)
            if out is not None:
                return out
        return self._finite_difference(v)

    def release(self) -> None:
        """Frees the kept double-backward graph."""
        self._grads = None
        self.loss = None
