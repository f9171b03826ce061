"""One runner for every per-neuron temporal op (the generic scan of cuda_kernels/include/neurosim/scan.h).

A model is described once by a :class:`ScanModel` (its parameters, state variables, recorded
values and pure-PyTorch reference). From that description this module

* registers the fake (meta) kernels of the native ops ``torch.ops.neurosim.scan_forward`` /
  ``scan_backward`` (one pair for all models; their autograd formula is in C++, ScanFunction in
  cuda_kernels/bindings/scan_ops.cpp),
* and runs a model on any backend with :func:`run_scan`: accumulation dtype, zero state,
  ``[T, B, *F]`` flattened to ``[T, B, F]`` and back, per-feature parameters broadcast (expanded,
  never tiled) from any shape that broadcasts to the feature shape.

The functional files (``neurosim/functional/*.py``) keep only their model's checks and docs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import torch

from neurosim.core.backends import _native, native_built, resolve_backend
from neurosim.core.validation import RESETS, accumulation_dtype, check_state, flat_parameter, parameter_tensor
from neurosim.surrogate import Surrogate

# Must equal kCheckpointEvery in cuda_kernels/include/neurosim/common.h; read from the build.
CHECKPOINT_EVERY = int(getattr(_native, "CHECKPOINT_EVERY", 32))


class ScanOptions(NamedTuple):
    """Model options; each model reads those it has (LI and UltraLIF none)."""

    reset: str = "subtract"
    surrogate: Optional[Surrogate] = None
    detach_reset: bool = True


class ParamSpec(NamedTuple):
    """One parameter: its name and the closed range its values must lie in (None: unbounded)."""

    name: str
    low: Optional[float] = None
    high: Optional[float] = None


@dataclass(frozen=True)
class ScanModel:
    """The description of one per-neuron model of the generic scan.

    ``reference(x, state, params, options, record)`` (timed models: ``..., record, times``) is the
    pure-PyTorch oracle and the ``torch`` backend: ``x`` [T, B, *F], ``state`` a tuple of [B, *F] tensors and ``params`` a
    tuple of tensors broadcastable to [B, *F] (all in the accumulation dtype); it returns
    ``(out [T, B, *F] in x.dtype, final state tuple, tuple of recorded [T, B, *F] in x.dtype or
    None)``.
    """

    name: str
    params: Tuple[ParamSpec, ...]
    state: Tuple[str, ...]
    recorded: Tuple[str, ...]
    reference: Callable = field(compare=False)
    timed: bool = False
    """Reads a timestamp per step and batch element (``times`` [T] or [T, B], the phased models)."""

    @property
    def param_names(self) -> Tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def code(self) -> int:
        """The model's code in the native build (cuda_kernels/include/neurosim/scan_models.h)."""
        return NATIVE_MODELS[self.name][0]


# name -> (code, parameters, state variables, recorded values, timed), exported by the build
NATIVE_MODELS: Dict[str, Tuple[int, int, int, int, bool]] = dict(getattr(_native, "SCAN_MODELS", {}))
SCAN_MODELS: Dict[str, ScanModel] = {}
_BY_CODE: Dict[int, ScanModel] = {}


def register_scan_model(model: ScanModel) -> ScanModel:
    """Adds a model; its sizes must match the native policy's when the extension is built."""
    if model.name in SCAN_MODELS:
        raise ValueError(f"scan model {model.name!r} is already registered")
    if native_built():
        if model.name not in NATIVE_MODELS:
            raise RuntimeError(f"scan model {model.name!r} has no native policy in this build "
                               f"(native models: {sorted(NATIVE_MODELS)}); rebuild the extension")
        _, n_params, n_state, n_recorded, timed = NATIVE_MODELS[model.name]
        sizes = (len(model.params), len(model.state), len(model.recorded), model.timed)
        if sizes != (n_params, n_state, n_recorded, timed):
            raise RuntimeError(f"scan model {model.name!r}: Python describes (params, state, recorded, timed) = "
                               f"{sizes}, the native policy {(n_params, n_state, n_recorded, timed)}")
        _BY_CODE[model.code] = model
    SCAN_MODELS[model.name] = model
    return model


# ---- the native ops: fake kernels, once for every model ----------------------------

def _sizes(code: int) -> Tuple[int, int, int]:
    model = _BY_CODE[code]
    return len(model.params), len(model.state), len(model.recorded)


def _fake_forward(x, state0, params, model, reset, surrogate, surrogate_param, detach_reset, record, times=None):
    _, n_state, n_recorded = _sizes(model)
    steps, batch, features = x.shape
    acc = accumulation_dtype(x.dtype)
    chunks = (steps + CHECKPOINT_EVERY - 1) // CHECKPOINT_EVERY
    trace = x.new_empty((n_recorded, steps, batch, features)) if record and n_recorded else x.new_empty((0,))
    return (
        torch.empty_like(x),
        x.new_empty((n_state, batch, features), dtype=acc),
        x.new_empty((chunks, n_state, batch, features), dtype=acc),
        trace,
    )


def _fake_backward(grad_out, grad_state, grad_trace, x, checkpoints, params, needs_grad, model, reset, surrogate,
                   surrogate_param, detach_reset, times=None):
    _, n_state, _ = _sizes(model)
    acc = accumulation_dtype(x.dtype)
    none = x.new_empty((0,), dtype=acc)
    grad_x = torch.empty_like(x) if needs_grad[0] else x.new_empty((0,))
    grad_state0 = x.new_empty((n_state, *x.shape[1:]), dtype=acc) if needs_grad[1] else none
    grad_params = [torch.empty_like(p) if need else x.new_empty((0,), dtype=acc)
                   for p, need in zip(params, needs_grad[2:])]
    return grad_x, grad_state0, grad_params


if native_built():
    torch.library.register_fake("neurosim::scan_forward")(_fake_forward)
    torch.library.register_fake("neurosim::scan_backward")(_fake_backward)
    # the autograd formula of scan_forward is registered in C++ (cuda_kernels/bindings/scan_ops.cpp,
    # ScanFunction): Python's registration cost as much per call as a small layer's kernels


# ---- the runner ---------------------------------------------------------------------------------

def scan_parameters(model: ScanModel, x: torch.Tensor, values: dict) -> Tuple[torch.Tensor, ...]:
    """Checks the model's parameters (number, or tensor broadcastable to the feature shape, values
    in range) and returns them as tensors in the accumulation dtype, gradients kept."""
    acc = accumulation_dtype(x.dtype)
    return tuple(parameter_tensor(values[p.name], x, p.name, low=p.low, high=p.high).to(acc) for p in model.params)


def initial_state(model: ScanModel, x: torch.Tensor, state) -> Tuple[torch.Tensor, ...]:
    """The state tuple in the accumulation dtype: zeros when ``state`` is None; a single tensor is
    accepted for one-variable models. Each variable must be shaped like ``x`` without its time axis."""
    acc = accumulation_dtype(x.dtype)
    names = model.state
    if state is None:
        zeros = x.new_zeros(x.shape[1:], dtype=acc)
        return tuple(zeros for _ in names)
    if isinstance(state, torch.Tensor):
        if len(names) != 1:
            raise TypeError(f"state: {model.name} has {len(names)} state variables {names}; "
                            f"pass a tuple of {len(names)} tensors (as returned in .state), got one tensor")
        state = (state,)
    if not isinstance(state, (tuple, list)) or len(state) != len(names):
        raise TypeError(f"state: expected None or a tuple of {len(names)} tensors {names}, got {type(state).__name__}"
                        + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else ""))
    for name, s in zip(names, state):
        check_state(s, x, f"state.{name}" if len(names) > 1 else "state")
    return tuple(s.to(acc) for s in state)


def run_scan(model: ScanModel, x: torch.Tensor, state: Tuple[torch.Tensor, ...], params: Tuple[torch.Tensor, ...],
             options: ScanOptions, record: bool, backend: str, times: Optional[torch.Tensor] = None):
    """Runs ``model`` over all T steps of ``x`` [T, B, *F] (already checked) on ``backend``.

    ``state`` comes from :func:`initial_state`, ``params`` from :func:`scan_parameters`; a timed
    model also takes ``times`` [T] or [T, B] (checked, in the accumulation dtype, no gradient).
    Returns ``(out [T, B, *F], final state tuple of [B, *F], tuple of recorded [T, B, *F] or None)``.
    """
    name = resolve_backend(backend, x.device)
    if (times is not None) != model.timed:
        raise TypeError(f"times: the scan model {model.name!r} " + ("needs" if model.timed else "takes no")
                        + " timestamps")
    if name == "torch":
        if model.timed:
            return model.reference(x, state, params, options, record, times)
        return model.reference(x, state, params, options, record)
    steps, batch = x.shape[0], x.shape[1]
    features = tuple(x.shape[2:])
    n = math.prod(features)
    sg = options.surrogate
    out, final, _checkpoints, trace = torch.ops.neurosim.scan_forward(
        x.reshape(steps, batch, n).contiguous(),
        torch.stack([s.reshape(batch, n) for s in state]),
        [flat_parameter(p, features, n) for p in params],
        model.code,
        RESETS[options.reset],
        sg.code if sg is not None else 0,
        sg.param if sg is not None else 0.0,
        options.detach_reset,
        record,
        None if times is None else times.contiguous(),
    )
    state_out = tuple(s.view((batch, *features)) for s in final.unbind(0))
    traces = tuple(r.view(x.shape) for r in trace.unbind(0)) if record and model.recorded else None
    return out.view(x.shape), state_out, traces
