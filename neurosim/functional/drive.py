"""The options that let the fused neurons express NIR's (continuous-time, forward-Euler) neuron
equations exactly: an input scale, a leak target, a reset value and an undelayed reset.

They are pure preprocessing and postprocessing around the unchanged fused scans:

* ``input_scale`` ``g`` and ``v_leak``: the scan's input becomes ``g*x_t + (1 - beta)*(v_leak - v_reset)``,
  i.e. ``u_t = beta*u_{t-1} + (1 - beta)*v_leak + g*x_t`` (NIR's ``tau du/dt = v_leak - u + r*I``
  stepped with ``beta = 1 - dt/tau`` and ``g = r*dt/tau``).
* ``v_reset``: the reset to a value is the reset to zero of ``w = u - v_reset``; ``w`` has leak target
  ``v_leak - v_reset`` and threshold ``threshold - v_reset``, so the scan runs on ``w`` and the
  membrane is reported as ``w + v_reset``.
* ``reset_delay=False`` (NIR's and snnTorch's ``reset_delay=False``: the membrane is reset in the
  step that spikes). For the zero reset this changes no spike: the delayed zero reset multiplies
  the previous membrane by ``1 - s_{t-1}`` before the decay, which is the same number as decaying
  the already-reset membrane. Only the *reported* membrane differs (before vs after the reset), so
  it is ``u_t*(1 - s_t)``. One exception: the state before the first step is already past its
  reset, so a starting membrane above threshold spikes in the first step, where the delayed scan
  would reset it before the step; the first step then runs without a reset
  (:func:`neurosim.functional.lif.undelayed_reset_scan`). The subtractive reset has no such
  identity (the undelayed subtraction is decayed by beta) and is refused.
"""

from __future__ import annotations

import torch

from neurosim.core.validation import accumulation_dtype, check_flag, parameter_tensor


def nir_options_used(reset_delay, v_reset, v_leak, input_scale) -> bool:
    """Whether any of the options departs from the plain fused neuron."""
    return not reset_delay or v_reset is not None or v_leak is not None or input_scale is not None


def reset_detached(detach_reset, reset_delay) -> bool:
    """``detach_reset`` as given, or by default (None) snnTorch's convention: the delayed reset is
    detached (snnTorch detaches its ``reset``), the undelayed one is not (snnTorch's
    ``reset_delay=False`` subtracts the step's own spike, which carries the surrogate gradient)."""
    check_flag(reset_delay, "reset_delay")
    if detach_reset is None:
        return reset_delay
    check_flag(detach_reset, "detach_reset")
    return detach_reset


def check_nir_options(reset: str, reset_delay, v_reset, v_leak, input_scale, *, has_reset: bool = True) -> None:
    """Validates the combination (values are checked where the tensors are made)."""
    check_flag(reset_delay, "reset_delay")
    if has_reset and not reset_delay and reset == "subtract":
        raise ValueError("reset_delay=False is supported with reset='zero' (NIR's reset to v_reset) or 'none'; "
                         "the undelayed subtractive reset is not the delayed one shifted in time (its subtraction "
                         "is decayed by beta) and the fused scans implement only the delayed one")
    if has_reset and v_reset is not None and reset != "zero":
        raise ValueError(f"v_reset: the value the membrane is reset to needs reset='zero', got reset={reset!r}")


def drive(x: torch.Tensor, beta: torch.Tensor, v_leak, v_reset, input_scale, scale_name: str = "input_scale"):
    """The scan input ``g*x + (1 - beta)*(v_leak - v_reset)`` in the accumulation dtype (x itself when
    no option is set)."""
    acc = accumulation_dtype(x.dtype)
    out = x.to(acc)
    if input_scale is not None:
        out = out * parameter_tensor(input_scale, x, scale_name).to(acc)
    if v_leak is not None or v_reset is not None:
        target = parameter_tensor(v_leak, x, "v_leak").to(acc) if v_leak is not None else 0.0
        if v_reset is not None:
            target = target - parameter_tensor(v_reset, x, "v_reset").to(acc)
        out = out + (1 - beta.to(acc)) * target
    return out


def shifted(value, x: torch.Tensor, v_reset, name: str):
    """``value - v_reset`` (the threshold or a membrane in the coordinates of ``w``)."""
    if v_reset is None or value is None:
        return value
    offset = parameter_tensor(v_reset, x, "v_reset").to(accumulation_dtype(x.dtype))
    if isinstance(value, torch.Tensor):
        return value.to(offset.dtype) - offset
    return parameter_tensor(value, x, name).to(offset.dtype) - offset


def shifted_state(state, x: torch.Tensor, v_reset, name: str = "state"):
    """A membrane state in the coordinates of ``w``; the default state (None) is the membrane at
    rest at zero, ``w = -v_reset``."""
    if v_reset is None:
        return state
    if state is None:
        state = torch.zeros(x.shape[1:], dtype=accumulation_dtype(x.dtype), device=x.device)
    return shifted(state, x, v_reset, name).expand(x.shape[1:]).contiguous()


def unshifted(w: torch.Tensor, x: torch.Tensor, v_reset):
    """``w + v_reset`` (a membrane back in the coordinates of ``u``)."""
    if v_reset is None or w is None:
        return w
    return w + parameter_tensor(v_reset, x, "v_reset").to(w.dtype)


def after_reset(membrane: torch.Tensor, spikes: torch.Tensor, detach_reset: bool) -> torch.Tensor:
    """The membrane after the zero reset of the same step, ``u*(1 - s)`` computed as snnTorch's
    ``reset_delay=False`` does (``u - s*u``)."""
    s = spikes.detach() if detach_reset else spikes
    return membrane - s.to(membrane.dtype) * membrane
