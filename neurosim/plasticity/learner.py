"""Learner: attaches a local rule to a (synapse layer, neuron layer) pair and writes its weight
change into the weight's ``.grad`` so that any torch optimizer applies it and local rules mix with
gradient training (BPTT) in the same ``optimizer.step()``."""

from __future__ import annotations

import math
from typing import Callable, Optional, Union

import torch
from torch import nn

from neurosim.plasticity import rules
from neurosim.plasticity._checks import check_finite, check_number, check_signs, check_tensor
from neurosim.plasticity.curl import SIDES, flip_signs

RULES = ("hebbian", "anti_hebbian", "oja", "bcm", "stdp", "three_factor")
MODES = ("sequence", "online")
_STDP_KEYS = ("a_plus", "a_minus", "tau_plus", "tau_minus", "dt", "dependence", "w_min", "w_max")
_RULE_KEYS = {
    "hebbian": (),
    "anti_hebbian": (),
    "oja": (),
    "bcm": ("tau_theta",),
    "stdp": _STDP_KEYS,
    "three_factor": _STDP_KEYS + ("tau_eligibility",),
}


_POSITIVE_KEYS = ("tau_plus", "tau_minus", "dt", "tau_eligibility", "tau_theta")


def _checked_params(params: dict) -> dict:
    """The rule parameters, checked once at construction for both modes (the online path computes
    its decays itself, so it must not rely on the sequence-mode functions' checks): time constants
    and ``dt`` > 0, finite amplitudes and bounds, a known ``dependence``."""
    checked = dict(params)
    for key, value in params.items():
        if key == "dependence":
            if value not in rules.DEPENDENCES:
                raise ValueError(f"dependence: expected one of {rules.DEPENDENCES}, got {value!r}")
        else:
            checked[key] = check_number(value, key, positive=key in _POSITIVE_KEYS)
    if checked.get("w_max", 1.0) <= checked.get("w_min", 0.0):
        raise ValueError(f"w_max: must exceed w_min ({checked.get('w_min', 0.0)}), got {checked.get('w_max', 1.0)}")
    return checked


def _as_steps(activity: torch.Tensor) -> torch.Tensor:
    """A recorded activity as [T, B, n] (a [B, n] call is one step)."""
    return activity.unsqueeze(0) if activity.dim() == 2 else activity


class Learner:
    """Applies ``rule`` to the weight of ``synapse`` from the activity it sees.

    Forward hooks record the input of ``synapse`` (presynaptic activity) and the output of
    ``neuron`` (postsynaptic activity; the output of ``synapse`` when ``neuron`` is None). Each
    :meth:`step` turns what was recorded since the last step into ``dW`` and subtracts it from
    ``synapse.weight.grad`` (creating it if needed), so ``optimizer.step()`` with plain SGD and
    learning rate 1 performs ``W += dW``; any gradient already in ``.grad`` (e.g. from
    ``loss.backward()``) is kept and the two are applied together.

    Args:
        synapse: a module with a ``weight`` [n_out, n_in] (e.g. ``nn.Linear``), applied to
            activity [T, B, n_in] (``mode="sequence"``) or [B, n_in] per step (``mode="online"``).
        neuron: the module whose output is the postsynaptic activity, or None.
        rule: one of ``RULES`` or a callable ``rule(pre, post) -> dW``.
        mode: ``"sequence"``: one call per whole sequence; traces come from the fused native kernel
            and the change is one GEMM over T x B. The rule's state (STDP traces, three-factor
            eligibility, BCM threshold) carries over between calls, so a stream fed in pieces gives
            the same change as fed whole. ``"online"``: traces and eligibility advance one
            step at a time (call :meth:`step` after every time step).
        lr: scales the change of the Hebbian, anti-Hebbian, Oja, BCM and three-factor rules
            (STDP's own scale is ``a_plus``/``a_minus``).
        signs: optional +-1 vector for sign-diverse ("curl") plasticity; ``sign_side`` "pre"
            (one per input) or "post" (one per output).
        **params: the rule's parameters (``a_plus, a_minus, tau_plus, tau_minus, dt, dependence,
            w_min, w_max`` for STDP, plus ``tau_eligibility`` for three-factor, ``tau_theta`` for BCM).
    """

    def __init__(self, synapse: nn.Module, neuron: Optional[nn.Module] = None,
                 rule: Union[str, Callable] = "stdp", *, mode: str = "sequence", lr: float = 1.0,
                 signs: Optional[torch.Tensor] = None, sign_side: str = "pre", backend: str = "auto", **params):
        weight = getattr(synapse, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            raise TypeError("synapse: expected a module with a 2-D `weight` [n_out, n_in] such as nn.Linear")
        if neuron is not None and not isinstance(neuron, nn.Module):
            raise TypeError(f"neuron: expected an nn.Module or None, got {type(neuron).__name__}")
        if not callable(rule) and rule not in RULES:
            raise ValueError(f"rule: expected one of {RULES} or a callable, got {rule!r}")
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        if callable(rule) and mode == "online":
            raise ValueError("mode: a custom rule callable runs on what was recorded; use mode='sequence'")
        if isinstance(rule, str):
            unknown = set(params) - set(_RULE_KEYS[rule])
            if unknown:
                raise TypeError(f"{rule}: unexpected parameters {sorted(unknown)}; allowed: {list(_RULE_KEYS[rule])}")
        if sign_side not in SIDES:
            raise ValueError(f"sign_side: expected one of {SIDES}, got {sign_side!r}")
        if signs is not None:
            check_signs(signs, weight.shape[1] if sign_side == "pre" else weight.shape[0])
        self.synapse, self.neuron, self.rule, self.mode = synapse, neuron, rule, mode
        self.lr = check_number(lr, "lr")
        self.signs, self.sign_side, self.backend = signs, sign_side, backend
        self.params = _checked_params(params)
        self._pre: list[torch.Tensor] = []
        self._post: list[torch.Tensor] = []
        self._hooks = [synapse.register_forward_hook(self._record_pre)]
        self._hooks.append((neuron or synapse).register_forward_hook(self._record_post))
        self.reset()

    @property
    def weight(self) -> torch.Tensor:
        return self.synapse.weight

    # ----- recording -------------------------------------------------------------------------
    def _record_pre(self, module, inputs, output):
        self._pre.append(inputs[0].detach())

    def _record_post(self, module, inputs, output):
        post = output[0] if isinstance(output, (tuple, list)) else output
        self._post.append(post.detach())

    def reset(self) -> None:
        """Forgets recorded activity and the rule's state (traces, eligibility, BCM threshold)."""
        self._pre.clear()
        self._post.clear()
        self.traces: Optional[rules.STDPTraces] = None
        self.eligibility: Optional[torch.Tensor] = None
        self.theta: Optional[torch.Tensor] = None

    def remove(self) -> None:
        """Detaches the hooks; the learner records nothing more."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()

    def _take(self):
        if not self._pre or not self._post:
            raise RuntimeError("Learner.step: nothing recorded; run the synapse and neuron forward first")
        pieces = {"pre": [_as_steps(p) for p in self._pre], "post": [_as_steps(p) for p in self._post]}
        self._pre.clear()
        self._post.clear()
        for side, steps in pieces.items():
            shapes = sorted({tuple(p.shape[1:]) for p in steps})
            if len(shapes) > 1:
                raise ValueError(f"recorded {side} activity: the calls since the last step had different [B, n] "
                                 f"shapes {shapes}; the pieces of one step are joined along time, so call step() "
                                 f"before changing the batch size")
        pre, post = torch.cat(pieces["pre"]), torch.cat(pieces["post"])
        if self.traces is not None and self.traces.pre.shape[0] != pre.shape[1]:
            raise ValueError(f"recorded activity has batch size {pre.shape[1]}, but the rule's state (traces, "
                             f"eligibility) carried from the previous step is per sample with batch size "
                             f"{self.traces.pre.shape[0]}; call reset() before changing the batch size")
        n_out, n_in = self.weight.shape
        if pre.shape[-1] != n_in or post.shape[-1] != n_out or pre.shape[:-1] != post.shape[:-1]:
            raise ValueError(
                f"recorded activity pre {tuple(pre.shape)} / post {tuple(post.shape)} does not match the "
                f"weight [n_out, n_in] = [{n_out}, {n_in}] (activity must be [T, B, n] or [B, n])"
            )
        return pre, post

    # ----- the weight change -----------------------------------------------------------------
    def step(self, modulator=None) -> torch.Tensor:
        """Computes dW from the activity recorded since the last step, flips it by ``signs``,
        subtracts it from ``weight.grad`` and returns it. ``modulator`` (three-factor only): a
        number, [T] or [T, B] in sequence mode; a number or [B] per step in online mode."""
        pre, post = self._take()
        if self.rule == "three_factor" and modulator is None:
            raise ValueError("modulator: the three-factor rule needs a modulator (reward)")
        if self.rule != "three_factor" and modulator is not None:
            raise ValueError(f"modulator: rule {self.rule!r} takes no modulator")
        with torch.no_grad():
            if callable(self.rule):
                dw = self.rule(pre, post)
            elif self.mode == "sequence":
                dw = self._sequence_change(pre, post, modulator)
            else:
                dw = self._online_change(pre, post, modulator)
            if self.signs is not None:
                dw = flip_signs(dw, self.signs.to(dw.device), self.sign_side)
            weight = self.weight
            dw = dw.to(weight.dtype)
            if weight.grad is None:
                weight.grad = -dw
            else:
                weight.grad.sub_(dw)
        return dw

    def _stdp_kwargs(self):
        return {k: v for k, v in self.params.items() if k in _STDP_KEYS}

    def _decays(self):
        dt = self.params.get("dt", 1.0)
        return (math.exp(-dt / self.params.get("tau_plus", 20.0)), math.exp(-dt / self.params.get("tau_minus", 20.0)))

    def _rate_change(self, pre, post):
        """Hebbian, anti-Hebbian, Oja and BCM: no traces; a sequence is summed over its steps."""
        if self.rule == "hebbian":
            return rules.hebbian(pre, post, self.lr)
        if self.rule == "anti_hebbian":
            return rules.anti_hebbian(pre, post, self.lr)
        if self.rule == "oja":
            return rules.oja_subspace(pre, post, self.weight.detach(), self.lr)
        if self.theta is None:
            self.theta = post.new_zeros(post.shape[-1])
        dw = rules.bcm(pre, post, self.theta, self.lr)
        self.theta = rules.bcm_threshold(self.theta, post, self.params.get("tau_theta", 100.0))
        return dw

    def _bcm_sequence_change(self, pre, post):
        """BCM over a sequence as the online rule steps it: step t uses the threshold slid over the
        steps before it (``theta_t = theta_{t-1} + (<post_t^2> - theta_{t-1}) / tau``), so a stream
        fed in pieces, whole, or one step at a time gives the same change and the same threshold."""
        tau = self.params.get("tau_theta", 100.0)
        if self.theta is None:
            self.theta = post.new_zeros(post.shape[-1])
        second_moment = post.square().mean(1)  # [T, n_out]
        before = []
        theta = self.theta
        for t in range(post.shape[0]):
            before.append(theta)
            theta = theta + (second_moment[t] - theta) / tau
        self.theta = theta
        thresholds = torch.stack(before)[:, None, :]  # [T, 1, n_out]
        return rules.hebbian(pre, post * (post - thresholds), self.lr)

    def _sequence_change(self, pre, post, modulator):
        if self.rule == "bcm":
            return self._bcm_sequence_change(pre, post)
        if self.rule not in ("stdp", "three_factor"):
            return self._rate_change(pre, post)
        kw = self._stdp_kwargs()
        weight = self.weight.detach()
        if self.rule == "three_factor":
            state = None if self.traces is None else rules.ThreeFactorState(self.traces, self.eligibility)
            dw, state = rules.three_factor(pre, post, modulator, lr=self.lr, weight=weight, backend=self.backend,
                                           tau_eligibility=self.params.get("tau_eligibility", 200.0),
                                           state=state, return_state=True, **kw)
            self.traces, self.eligibility = state
            return dw
        trace_kw = {k: kw[k] for k in ("tau_plus", "tau_minus", "dt") if k in kw}
        traces, self.traces = rules.stdp_traces(pre, post, state=self.traces, backend=self.backend, **trace_kw)
        stdp_kw = {k: v for k, v in kw.items() if k not in trace_kw}
        return rules.stdp(pre, post, traces.pre, traces.post, weight=weight, **stdp_kw)

    def _online_change(self, pre, post, modulator):
        dw = None
        for t in range(pre.shape[0]):
            step_dw = self._online_step(pre[t], post[t], modulator)
            dw = step_dw if dw is None else dw + step_dw
        return dw

    def _online_step(self, pre, post, modulator):
        if self.rule not in ("stdp", "three_factor"):
            return self._rate_change(pre, post)
        decay_pre, decay_post = self._decays()
        if self.traces is None:
            self.traces = rules.STDPTraces(torch.zeros_like(pre), torch.zeros_like(post))
        x = decay_pre * self.traces.pre + pre
        y = decay_post * self.traces.post + post
        self.traces = rules.STDPTraces(x, y)
        kw = {k: v for k, v in self._stdp_kwargs().items() if k not in ("tau_plus", "tau_minus", "dt")}
        weight = self.weight.detach()
        if self.rule == "stdp":
            return rules.stdp(pre, post, x, y, weight=weight, **kw)
        per_sample = rules.stdp_per_sample(pre, post, x, y, weight=weight, **kw)
        decay_e = math.exp(-self.params.get("dt", 1.0) / self.params.get("tau_eligibility", 200.0))
        self.eligibility = per_sample if self.eligibility is None else decay_e * self.eligibility + per_sample
        m = self._step_modulator(modulator, pre.shape[0], pre)
        return self.lr * (m[:, None, None] * self.eligibility).mean(0)

    @staticmethod
    def _step_modulator(modulator, batch, like):
        if isinstance(modulator, (int, float)) and not isinstance(modulator, bool):
            return torch.full((batch,), float(modulator), dtype=like.dtype, device=like.device)
        check_tensor(modulator, "modulator", (0, 1))
        check_finite(modulator, "modulator")
        if modulator.dim() == 1 and modulator.shape[0] != batch:
            raise ValueError(f"modulator: expected one value per batch element ({batch}), got {modulator.shape[0]}")
        return modulator.to(like.dtype).expand(batch)
