"""Local plasticity rules as pure functions of activity (and traces, modulators) -> weight change.

Conventions shared by every rule:

* Activity is one time step ``[B, n]`` or a whole sequence ``[T, B, n]``; weights are shaped like
  ``nn.Linear.weight``: ``[n_out, n_in]`` (post x pre).
* The weight change is **averaged over the batch and summed over time**: a sequence gives the
  sum of the per-step changes, computed as one matrix product over all T x B samples.
* The returned tensor is the change to *add* to the weights (``W += dW``).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

from neurosim.core import resolve_backend
from neurosim.core.event_op import event_matmul_native
from neurosim.core.trace_op import stdp_rows_native
from neurosim.functional.trace import exp_trace
from neurosim.plasticity._checks import (
    check_activity,
    check_batch,
    check_finite,
    check_number,
    check_same_samples,
    check_same_shape,
    check_tensor,
    check_weight,
)

DEPENDENCES = ("additive", "multiplicative")

# Above this fraction of nonzero entries a dense GEMM beats visiting the spikes one by one.
EVENT_DENSITY_LIMIT = 0.2


def _batch_size(activity: torch.Tensor) -> int:
    return activity.shape[-2]


def _outer(post: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """sum over time, mean over batch of post_s pre_s^T: one GEMM over all T x B samples."""
    post2 = post.reshape(-1, post.shape[-1])
    pre2 = pre.reshape(-1, pre.shape[-1])
    return post2.transpose(0, 1).matmul(pre2.to(post2.dtype)) / _batch_size(pre)


def _pair(pre, post) -> None:
    check_activity(pre, "pre")
    check_activity(post, "post")
    check_same_samples(pre, post, "pre", "post")


def _promoted(*tensors: torch.Tensor):
    """The tensors in their common (promoted) floating dtype: every rule computes and returns its
    change in ``torch.result_type`` of its inputs, whichever path (dense GEMM or the event-driven
    sum, chosen by the spikes' density) runs, and mixed float32/float64 inputs do not fail in a
    matrix product."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return tuple(t.to(dtype) for t in tensors)


def hebbian(pre: torch.Tensor, post: torch.Tensor, lr: float = 1.0) -> torch.Tensor:
    """Hebb's rule ``dW = lr <post pre^T>``: pre [(T,) B, n_in], post [(T,) B, n_out] -> [n_out, n_in]."""
    _pair(pre, post)
    pre, post = _promoted(pre, post)
    return check_number(lr, "lr") * _outer(post, pre)


def anti_hebbian(pre: torch.Tensor, post: torch.Tensor, lr: float = 1.0) -> torch.Tensor:
    """Anti-Hebbian rule ``dW = -lr <post pre^T>`` (decorrelates post from pre)."""
    return -hebbian(pre, post, lr)


def oja(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, lr: float = 1.0) -> torch.Tensor:
    """Oja's single-unit rule ``dw = lr <y (x - y w)>``: x [B, n_in], y [B], w [n_in] -> dw [n_in].

    With ``y = x @ w`` the weight converges to the unit-norm first principal component of x.
    """
    check_tensor(x, "x", (2,))
    check_batch(x, "x", 0)
    check_tensor(y, "y", (1,))
    check_tensor(w, "w", (1,))
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y: expected {x.shape[0]} entries (one per sample of x), got {y.shape[0]}")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w: expected {x.shape[1]} entries (one per input of x), got {w.shape[0]}")
    lr = check_number(lr, "lr")
    x, y, w = _promoted(x, y, w)
    return lr * (y.matmul(x) - y.square().sum() * w) / x.shape[0]


def oja_subspace(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, lr: float = 1.0) -> torch.Tensor:
    """Oja's subspace rule ``dW = lr <y x^T - y y^T W>``: x [(T,) B, n_in], y [(T,) B, k], W [k, n_in].

    With ``y = x W^T`` the rows of W converge to an orthonormal basis of the top-k principal
    subspace of x (Hebbian ``y x^T`` plus the anti-Hebbian lateral term ``-y y^T W``).
    """
    check_activity(x, "x")
    check_activity(y, "y")
    check_same_samples(x, y, "x", "y")
    check_weight(w, y.shape[-1], x.shape[-1], "w")
    lr = check_number(lr, "lr")
    x, y, w = _promoted(x, y, w)
    return lr * (_outer(y, x) - _outer(y, y).matmul(w))


def _check_theta(theta, post: torch.Tensor) -> None:
    """The BCM threshold: a number-like 0-D tensor or one entry (shared) or one per post neuron."""
    check_tensor(theta, "theta", (0, 1))
    if theta.dim() == 1 and theta.shape[0] not in (1, post.shape[-1]):
        raise ValueError(f"theta: expected 1 or {post.shape[-1]} entries (one per post neuron), got {theta.shape[0]}")
    if theta.device != post.device:
        raise ValueError(f"theta: is on {theta.device} but post is on {post.device}")
    check_finite(theta, "theta")


def bcm(pre: torch.Tensor, post: torch.Tensor, theta: torch.Tensor, lr: float = 1.0) -> torch.Tensor:
    """BCM rule ``dW = lr <post (post - theta) pre^T>`` with a sliding threshold theta [n_out]
    (update it with :func:`bcm_threshold`)."""
    _pair(pre, post)
    _check_theta(theta, post)
    pre, post, theta = _promoted(pre, post, theta)
    return check_number(lr, "lr") * _outer(post * (post - theta), pre)


def bcm_threshold(theta: torch.Tensor, post: torch.Tensor, tau: float) -> torch.Tensor:
    """Sliding BCM threshold: ``theta + (<post^2> - theta) / tau`` (a running mean of post^2)."""
    check_activity(post, "post")
    _check_theta(theta, post)
    tau = check_number(tau, "tau", positive=True)
    second_moment = post.reshape(-1, post.shape[-1]).square().mean(0)
    return theta + (second_moment - theta) / tau


class STDPTraces(NamedTuple):
    pre: torch.Tensor
    """Presynaptic trace [(T,) B, n_in] (decays with tau_plus; pairs with post spikes for LTP)."""
    post: torch.Tensor
    """Postsynaptic trace [(T,) B, n_out] (decays with tau_minus; pairs with pre spikes for LTD)."""


def stdp_traces(pre: torch.Tensor, post: torch.Tensor, *, tau_plus: float = 20.0, tau_minus: float = 20.0,
                dt: float = 1.0, state: Optional[STDPTraces] = None, backend: str = "auto"):
    """Pre and post traces of whole spike sequences [T, B, n] in two fused native calls.

    ``x_t = exp(-dt/tau_plus) x_{t-1} + pre_t`` and ``y_t = exp(-dt/tau_minus) y_{t-1} + post_t``
    (each spike adds 1; the trace includes the spike of the current step). Returns
    ``(STDPTraces of [T, B, n], STDPTraces of the last step [B, n])``; pass the second as
    ``state`` to continue a stream.
    """
    check_tensor(pre, "pre", (3,))
    check_tensor(post, "post", (3,))
    check_batch(pre, "pre", 1)
    check_same_samples(pre[..., :1], post[..., :1], "pre", "post")
    decay_pre = math.exp(-check_number(dt, "dt", True) / check_number(tau_plus, "tau_plus", True))
    decay_post = math.exp(-dt / check_number(tau_minus, "tau_minus", True))
    pre_state, post_state = (None, None) if state is None else state
    x = exp_trace(pre, pre_state, decay=decay_pre, backend=backend)
    y = exp_trace(post, post_state, decay=decay_post, backend=backend)
    return STDPTraces(x.trace, y.trace), STDPTraces(x.state, y.state)


def _weight_factors(weight, dependence, w_min, w_max, n_out, n_in):
    if dependence not in DEPENDENCES:
        raise ValueError(f"dependence: expected one of {DEPENDENCES}, got {dependence!r}")
    if dependence == "additive":
        return None, None
    if weight is None:
        raise ValueError("weight: multiplicative STDP needs the current weight [n_out, n_in]")
    check_weight(weight, n_out, n_in)
    w_min, w_max = check_number(w_min, "w_min"), check_number(w_max, "w_max")
    if w_max <= w_min:
        raise ValueError(f"w_max: must exceed w_min ({w_min}), got {w_max}")
    w = weight.detach()
    # Soft bounds: potentiation shrinks near w_max, depression near w_min.
    return w_max - w, w - w_min


def _use_events(spikes: torch.Tensor, backend: str, *others: torch.Tensor) -> bool:
    """The event-driven native sum pays off for sparse spikes on the CPU. It has no autograd, so a
    change that must be differentiated (inputs that require grad) takes the dense path, whose
    gradient is exact, instead of silently getting none."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in (spikes, *others)):
        return False
    if spikes.device.type != "cpu" or resolve_backend(backend, spikes.device) != "cpp" or spikes.numel() == 0:
        return False
    sample = spikes[::16]  # every 16th sample row is plenty to estimate the density
    return int(torch.count_nonzero(sample)) <= EVENT_DENSITY_LIMIT * sample.numel()


def _finite_on_cpu(t: torch.Tensor) -> bool:
    """True when the CPU tensor ``t`` holds only finite values (the event path runs on the CPU only)."""
    return bool(torch.isfinite(t).all())


def _spike_outer(spikes: torch.Tensor, dense: torch.Tensor, scale: float, backend: str) -> torch.Tensor:
    """``scale * <spikes dense^T>`` -> [n_spikes, n_dense]: batch mean, summed over time."""
    spikes2 = spikes.reshape(-1, spikes.shape[-1])
    dense2 = dense.reshape(-1, dense.shape[-1]).to(spikes2.dtype)
    scale = scale / _batch_size(spikes)
    # the event sum skips the zero spikes, so NaN/inf in ``dense`` would reach fewer weights than
    # in the dense product (0 * NaN = NaN): such input takes the dense path, and both agree
    if _use_events(spikes2, backend, dense2) and _finite_on_cpu(dense2):
        return event_matmul_native(spikes2.contiguous(), dense2.contiguous(), scale).to(spikes.dtype)
    return scale * spikes2.transpose(0, 1).matmul(dense2)


def _stdp_from_parts(post, pre_trace, post_trace, pre, a_plus, a_minus, factors, backend):
    """LTP pairs each post spike with the pre trace, LTD each pre spike with the post trace."""
    up, down = factors
    ltp = _spike_outer(post, pre_trace, a_plus, backend)
    ltd = _spike_outer(pre, post_trace, a_minus, backend).transpose(0, 1)
    if up is None:
        return ltp - ltd
    return up * ltp - down * ltd


def _stdp_args(pre, post, pre_trace, post_trace, tau_plus, tau_minus, dt, backend):
    _pair(pre, post)
    if pre_trace is None and post_trace is None:
        if pre.dim() != 3:
            raise ValueError(
                "pre_trace: one step [B, n] of activity needs its traces; pass pre_trace and post_trace, or "
                "give whole sequences [T, B, n] so the traces are computed"
            )
        traces, _ = stdp_traces(pre, post, tau_plus=tau_plus, tau_minus=tau_minus, dt=dt, backend=backend)
        return traces.pre, traces.post
    if pre_trace is None or post_trace is None:
        raise ValueError("pre_trace/post_trace: give both traces or neither")
    check_activity(pre_trace, "pre_trace")
    check_activity(post_trace, "post_trace")
    if pre_trace.shape != pre.shape:
        raise ValueError(f"pre_trace: expected the shape of pre {tuple(pre.shape)}, got {tuple(pre_trace.shape)}")
    if post_trace.shape != post.shape:
        raise ValueError(f"post_trace: expected the shape of post {tuple(post.shape)}, got {tuple(post_trace.shape)}")
    return pre_trace, post_trace


def stdp(pre: torch.Tensor, post: torch.Tensor, pre_trace: Optional[torch.Tensor] = None,
         post_trace: Optional[torch.Tensor] = None, *, a_plus: float = 0.01, a_minus: float = 0.012,
         tau_plus: float = 20.0, tau_minus: float = 20.0, dt: float = 1.0, weight: Optional[torch.Tensor] = None,
         dependence: str = "additive", w_min: float = 0.0, w_max: float = 1.0, backend: str = "auto") -> torch.Tensor:
    """Pair-based STDP with exponential traces:
    ``dW = a_plus f+(W) <post x^T> - a_minus f-(W) <y pre^T>``.

    x and y are the pre and post traces (see :func:`stdp_traces`), so a pre spike followed by a
    post spike ``d`` steps later gives ``+a_plus exp(-d dt/tau_plus)`` and the reverse order gives
    ``-a_minus exp(-d dt/tau_minus)``. ``dependence="additive"``: f+ = f- = 1;
    ``"multiplicative"`` (soft bounds): f+ = w_max - W, f- = W - w_min (needs ``weight``).

    Args:
        pre, post: spikes [B, n] for one step (then pass both traces) or [T, B, n] for a whole
            sequence (traces computed by the fused native kernel when not given).
        pre_trace, post_trace: traces shaped like pre and post.
    Returns:
        dW [n_out, n_in] (batch mean, summed over time).
    """
    _pair(pre, post)
    pre, post = _promoted(pre, post)
    a_plus, a_minus = check_number(a_plus, "a_plus"), check_number(a_minus, "a_minus")
    factors = _weight_factors(weight, dependence, w_min, w_max, post.shape[-1], pre.shape[-1])
    if (pre_trace is None and post_trace is None and factors[0] is None and pre.dim() == 3
            and _use_events(pre, backend, post)):
        return _additive_stdp_over_pre_spikes(pre, post, a_plus, a_minus, tau_plus, tau_minus, dt, backend)
    pre_trace, post_trace = _stdp_args(pre, post, pre_trace, post_trace, tau_plus, tau_minus, dt, backend)
    return _stdp_from_parts(post, pre_trace, post_trace, pre, a_plus, a_minus, factors, backend)


def _additive_stdp_over_pre_spikes(pre, post, a_plus, a_minus, tau_plus, tau_minus, dt, backend):
    """Additive whole-sequence STDP as ONE event-driven sum over the presynaptic spikes.

    Swapping the sums of the LTP term, ``sum_t post_t x_t^T = sum_t R_t pre_t^T`` with
    ``R_t = exp(-dt/tau_plus) R_{t+1} + post_t`` (the reverse-time post trace), so
    ``dW^T = sum over pre spikes of (a_plus R - a_minus y)``: both traces come from the post spikes
    (two native calls) and the spike-driven accumulation runs once instead of twice.
    """
    _pair(pre, post)
    decay_plus = math.exp(-check_number(dt, "dt", True) / check_number(tau_plus, "tau_plus", True))
    decay_minus = math.exp(-dt / check_number(tau_minus, "tau_minus", True))
    if a_plus == 0.0:
        past = exp_trace(post, decay=decay_minus, backend=backend).trace
        return _spike_outer(pre, past, -a_minus, backend).transpose(0, 1)
    # a+ R - a- y = a+ (R - (a-/a+) y): one native call writes the rows, a+ goes into the sum's scale.
    flat = post.reshape(post.shape[0], post.shape[1], -1).contiguous()
    rows = stdp_rows_native(flat, decay_plus, decay_minus, a_minus / a_plus)
    return _spike_outer(pre, rows, a_plus, backend).transpose(0, 1)


def stdp_per_sample(pre: torch.Tensor, post: torch.Tensor, pre_trace: torch.Tensor, post_trace: torch.Tensor,
                    *, a_plus: float = 0.01, a_minus: float = 0.012, weight: Optional[torch.Tensor] = None,
                    dependence: str = "additive", w_min: float = 0.0, w_max: float = 1.0) -> torch.Tensor:
    """The STDP change of one step for each batch element separately: [B, n_out, n_in]
    (what a per-sample eligibility trace accumulates in online three-factor learning)."""
    for name, t in (("pre", pre), ("post", post), ("pre_trace", pre_trace), ("post_trace", post_trace)):
        check_tensor(t, name, (2,))
    check_same_samples(pre, post, "pre", "post")
    check_same_shape(pre, pre_trace, "pre", "pre_trace")
    check_same_shape(post, post_trace, "post", "post_trace")
    check_same_samples(pre, pre_trace, "pre", "pre_trace")  # and the same device
    check_same_samples(post, post_trace, "post", "post_trace")
    a_plus, a_minus = check_number(a_plus, "a_plus"), check_number(a_minus, "a_minus")
    up, down = _weight_factors(weight, dependence, w_min, w_max, post.shape[-1], pre.shape[-1])
    ltp = torch.einsum("bo,bi->boi", post, pre_trace.to(post.dtype))
    ltd = torch.einsum("bo,bi->boi", post_trace, pre.to(post.dtype))
    if up is not None:
        ltp, ltd = up * ltp, down * ltd
    return a_plus * ltp - a_minus * ltd


def _check_modulator(modulator, steps: int, batch: int, like: torch.Tensor) -> torch.Tensor:
    if isinstance(modulator, (int, float)) and not isinstance(modulator, bool):
        modulator = torch.tensor(float(modulator), dtype=like.dtype, device=like.device)
    check_tensor(modulator, "modulator", (0, 1, 2))
    check_finite(modulator, "modulator")
    if modulator.dim() == 0:
        return modulator.expand(steps, batch)
    if modulator.dim() == 1:
        if modulator.shape[0] != steps:
            raise ValueError(f"modulator: a 1-D modulator needs one value per step ({steps}), got {modulator.shape[0]}")
        return modulator[:, None].expand(steps, batch)
    if tuple(modulator.shape) != (steps, batch):
        raise ValueError(f"modulator: expected shape [T, B] = [{steps}, {batch}], got {tuple(modulator.shape)}")
    return modulator


class ThreeFactorState(NamedTuple):
    """Where a three-factor stream stands after its last step (pass it as ``state`` to continue)."""
    traces: STDPTraces
    """The STDP traces of the last step ([B, n_in], [B, n_out])."""
    eligibility: torch.Tensor
    """The per-sample eligibility of the last step, ``e_{T-1}`` [B, n_out, n_in]."""


def three_factor(pre: torch.Tensor, post: torch.Tensor, modulator: torch.Tensor, *, tau_eligibility: float = 200.0,
                 lr: float = 1.0, a_plus: float = 0.01, a_minus: float = 0.012, tau_plus: float = 20.0,
                 tau_minus: float = 20.0, dt: float = 1.0, weight: Optional[torch.Tensor] = None,
                 dependence: str = "additive", w_min: float = 0.0, w_max: float = 1.0,
                 backend: str = "auto", state: Optional[ThreeFactorState] = None, return_state: bool = False):
    """Reward-modulated STDP with an eligibility trace over a whole sequence:
    ``e_t = exp(-dt/tau_eligibility) e_{t-1} + STDP_t`` per synapse and sample, ``dW = lr sum_t <m_t e_t>``.

    Computed without storing ``e`` over time: ``sum_t m_t e_t = sum_t STDP_t M_t`` with M the
    reverse-time trace of the modulator (``M_t = decay M_{t+1} + m_t``, one fused native call), so the
    whole change is one GEMM of the STDP terms weighted by M. A zero modulator changes nothing.

    Args:
        pre, post: spikes [T, B, n_in] / [T, B, n_out].
        modulator: reward / neuromodulator: a number, [T] (shared by the batch) or [T, B].
        state: a :class:`ThreeFactorState` returned by the previous piece of the same stream (its
            traces and eligibility carry over), or None to start from rest.
        return_state: also return the state after the last step (costs one batched product for the
            per-sample eligibility ``e_{T-1}`` [B, n_out, n_in]).
    Returns:
        dW [n_out, n_in], or ``(dW, ThreeFactorState)`` with ``return_state=True``. Feeding a stream
        in pieces (passing the state on) gives the same total change as feeding it whole.
    """
    check_tensor(pre, "pre", (3,))
    check_tensor(post, "post", (3,))
    _pair(pre, post)
    if not isinstance(return_state, bool):
        raise TypeError(f"return_state: expected a bool, got {type(return_state).__name__}")
    pre, post = _promoted(pre, post)
    steps, batch = pre.shape[0], pre.shape[1]
    mod = _check_modulator(modulator, steps, batch, post)
    decay = math.exp(-check_number(dt, "dt", True) / check_number(tau_eligibility, "tau_eligibility", True))
    lr = check_number(lr, "lr")
    a_plus, a_minus = check_number(a_plus, "a_plus"), check_number(a_minus, "a_minus")
    previous = _check_three_factor_state(state, pre, post)
    traces, last = stdp_traces(pre, post, tau_plus=tau_plus, tau_minus=tau_minus, dt=dt, backend=backend,
                               state=None if previous is None else previous.traces)
    pre_trace, post_trace = traces
    future = exp_trace(mod.to(post.dtype).contiguous()[..., None], decay=decay, reverse=True, backend=backend).trace
    factors = _weight_factors(weight, dependence, w_min, w_max, post.shape[-1], pre.shape[-1])
    dw = lr * _stdp_from_parts(future * post, pre_trace, future * post_trace, pre, a_plus, a_minus, factors,
                               backend)
    if previous is not None:
        # the eligibility carried in decays through this piece: sum_t m_t decay^(t+1) e_prev = decay M_0 e_prev
        carried = previous.eligibility.to(dw.dtype)
        dw = dw + lr * decay * (future[0, :, :, None].to(dw.dtype) * carried).mean(0)
    if not return_state:
        return dw
    # e_{T-1} = decay^T e_prev + sum_s decay^(T-1-s) STDP_s, per sample
    ages = torch.arange(steps - 1, -1, -1, dtype=torch.float64, device=post.device)
    weights = torch.pow(torch.tensor(decay, dtype=torch.float64, device=post.device), ages).to(post.dtype)
    weights = weights[:, None, None]
    up, down = factors
    ltp = torch.einsum("tbo,tbi->boi", weights * post, pre_trace.to(post.dtype))
    ltd = torch.einsum("tbo,tbi->boi", weights * post_trace, pre.to(post.dtype))
    if up is not None:
        ltp, ltd = up * ltp, down * ltd
    eligibility = a_plus * ltp - a_minus * ltd
    if previous is not None:
        eligibility = eligibility + decay ** steps * previous.eligibility.to(eligibility.dtype)
    return dw, ThreeFactorState(last, eligibility)


def _check_three_factor_state(state, pre, post) -> Optional[ThreeFactorState]:
    if state is None:
        return None
    if not isinstance(state, ThreeFactorState):
        raise TypeError(f"state: expected a ThreeFactorState (from return_state=True) or None, got {type(state).__name__}")
    batch, n_in, n_out = pre.shape[1], pre.shape[-1], post.shape[-1]
    expected = {"state.traces.pre": (state.traces.pre, (batch, n_in)),
                "state.traces.post": (state.traces.post, (batch, n_out)),
                "state.eligibility": (state.eligibility, (batch, n_out, n_in))}
    for name, (tensor, shape) in expected.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name}: expected a tensor, got {type(tensor).__name__}")
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name}: expected shape {list(shape)} (batch {batch}, n_in {n_in}, n_out {n_out}), "
                             f"got {list(tensor.shape)}")
    return state
