"""Peer spiking-network libraries behind one benchmark interface.

The peers are snnTorch, Norse and SpikingJelly. :func:`make_peer` builds, for
each of them, a module with the same contract as neurosim's own layers: the
input is a time-major float tensor ``[T, B, n]`` and the output is the spike
tensor ``[T, B, n]`` (values 0/1). Each module is the peer's own leaky
integrate-and-fire neuron with soft (subtractive) reset, configured so that the
membrane decays by ``beta`` per step and fires at ``threshold``; optionally an
``nn.Linear(n, n)`` is applied to the whole sequence first.

None of the peers is a dependency of neurosim: this module imports them lazily,
so it imports fine when none is installed. :func:`peer_version` tells which are
usable.

Reference dynamics (snnTorch ``Leaky``, reset by subtraction, the default
``reset_delay=True``)::

    mem[t] = beta * mem[t-1] + x[t] - threshold * s[t-1]
    s[t]   = H(mem[t] - threshold)

Norse (``LIFBoxCell`` with ``reset_subtract``) and SpikingJelly (``LIFNode``
with ``decay_input=False, v_reset=None``) both compute the same thing as each
other::

    h[t] = beta * v[t-1] + x[t]
    s[t] = H(h[t] - threshold)
    v[t] = h[t] - threshold * s[t]

i.e. the reset is applied in the step that fired, before the next decay, so
the amount carried into step t+1 is ``beta * threshold`` rather than
snnTorch's ``threshold``. Spike trains therefore differ from snnTorch's for
the same input (the subthreshold dynamics are identical). The surrogate
gradients also differ (snnTorch: arctan; Norse: SuperSpike; SpikingJelly:
sigmoid), and so do the tie rules at exactly the threshold (snnTorch and
Norse fire on ``>``, SpikingJelly on ``>=``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import warnings
from types import ModuleType

import torch
from torch import nn

__all__ = ["PEERS", "peer_version", "make_peer"]

PEERS = ("snntorch", "norse", "spikingjelly")


def _check_name(name: str) -> None:
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; expected one of {PEERS}")


def _import_quietly(module: str) -> ModuleType:
    """Import ``module``, hiding the deprecation noise some peers emit on import.

    Norse 1.1 applies ``torch.jit.script`` at import time, which recent torch
    versions answer with ``DeprecationWarning`` (shown under pytest).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return importlib.import_module(module)


def _load(name: str) -> ModuleType:
    """The peer's top-level module, or RuntimeError if it cannot be imported."""
    _check_name(name)
    try:
        return _import_quietly(name)
    except Exception as err:  # ImportError, or anything the peer raises on import
        raise RuntimeError(
            f"peer {name!r} is not available: importing it failed with "
            f"{type(err).__name__}: {err}"
        ) from err


def peer_version(name: str) -> str | None:
    """Installed version string of peer ``name``, or None if it does not import.

    Any exception raised while importing counts as "not installed". Raises
    ValueError for a name that is not in :data:`PEERS`.
    """
    _check_name(name)
    try:
        module = _import_quietly(name)
    except Exception:
        return None
    version = getattr(module, "__version__", None)
    if isinstance(version, str) and version:
        return version
    try:  # SpikingJelly has no __version__; ask the installed distribution.
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _check_input(x: torch.Tensor, n: int) -> None:
    if x.dim() != 3 or x.shape[-1] != n:
        raise ValueError(f"expected input of shape [T, B, {n}], got {tuple(x.shape)}")


class _SnnTorchLIF(nn.Module):
    """``snntorch.Leaky(beta, threshold, reset_mechanism="subtract")``, stepped over time.

    The membrane is carried explicitly (``spk, mem = lif(x_t, mem)``) starting from
    zeros, so every forward is independent of the previous one.
    """

    def __init__(self, n: int, beta: float, threshold: float):
        super().__init__()
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"snntorch: beta must lie in [0, 1], got {beta}")
        snntorch = _load("snntorch")
        self.n = n
        self.lif = snntorch.Leaky(beta=beta, threshold=threshold, reset_mechanism="subtract")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.n)
        mem = torch.zeros_like(x[0])
        spikes = []
        # unbind(0), not x[t]: indexing makes the backward pass O(T^2).
        for x_t in x.unbind(0):
            spk, mem = self.lif(x_t, mem)
            spikes.append(spk)
        # Leaky keeps its last membrane as a buffer; detach it so the module does
        # not hold the whole autograd graph alive after forward.
        self.lif.mem = mem.detach()
        return torch.stack(spikes)


class _NorseLIF(nn.Module):
    """Norse's current-free LIF, ``norse.torch.LIFBoxCell``, stepped over time.

    Norse's LIFBox step (Euler, no synaptic current) is::

        v' = v + dt * tau_mem_inv * ((v_leak - v) + i)
        z  = H(v' - v_th)          (surrogate: SuperSpike, method="super")
        v  = reset_method(z, v', v_reset, v_th)

    Parameter mapping used here: ``dt = 1``, ``tau_mem_inv = 1 - beta``,
    ``v_leak = 0``, ``v_th = threshold``, ``v_reset = 0`` (unused by the
    subtractive reset), ``reset_method = norse.torch.functional.reset.reset_subtract``
    and the input scaled by ``1 / (1 - beta)``. Then
    ``v' = beta * v + x``, the same decay as snnTorch's ``Leaky``.

    Differences from snnTorch's ``Leaky``:

    * Norse decays the input as well as the membrane (``dt*tau_mem_inv*i``);
      the ``1/(1-beta)`` input scaling undoes that, so ``beta`` must be < 1.
    * Norse applies the reset in the step that fired (``v -= v_th`` right after
      the spike) whereas snnTorch subtracts the threshold one step later, after
      the decay; see the module docstring.
    * Norse's default surrogate is SuperSpike, ``1 / (|v - v_th| + 1)^2``.

    Norse's plain ``LIFCell``/``LIF`` are not used because they add a synaptic
    current that low-pass filters the input (and delays it by one step).
    """

    def __init__(self, n: int, beta: float, threshold: float):
        super().__init__()
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"norse: beta must lie in [0, 1), got {beta}")
        _load("norse")
        try:
            ntorch = _import_quietly("norse.torch")
            reset = _import_quietly("norse.torch.functional.reset")
            cell_cls = ntorch.LIFBoxCell
            params_cls = ntorch.LIFBoxParameters
            state_cls = ntorch.LIFBoxFeedForwardState
            reset_subtract = reset.reset_subtract
        except (ImportError, AttributeError) as err:
            raise RuntimeError(
                "peer 'norse' is installed but lacks LIFBoxCell / reset_subtract "
                f"(norse >= 1.1 is needed): {err}"
            ) from err
        if "reset_method" not in getattr(params_cls, "_fields", ()):
            raise RuntimeError(
                "peer 'norse': LIFBoxParameters has no reset_method field, so a "
                "soft reset cannot be configured (norse >= 1.1 is needed)"
            )
        self.n = n
        self.input_scale = 1.0 / (1.0 - beta)
        self._state_cls = state_cls
        params = params_cls(
            tau_mem_inv=torch.as_tensor(1.0 - beta),
            v_leak=torch.as_tensor(0.0),
            v_th=torch.as_tensor(float(threshold)),
            v_reset=torch.as_tensor(0.0),
            method="super",
            alpha=torch.as_tensor(100.0),
            reset_method=reset_subtract,
        )
        self.cell = cell_cls(p=params, dt=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.n)
        x = x * self.input_scale
        state = self._state_cls(v=torch.zeros_like(x[0]))
        spikes = []
        for x_t in x.unbind(0):
            z, state = self.cell(x_t, state)
            spikes.append(z)
        return torch.stack(spikes)


def _sj_pick_backend(node: nn.Module, device: torch.device | None) -> str:
    """For SpikingJelly versions whose LIFNode takes ``backend`` (0.0.0.0.13/14)."""
    if device is None or device.type != "cuda":
        return "torch"
    supported = tuple(getattr(node, "supported_backends", ("torch",)))
    for backend in ("triton", "cupy"):
        if backend in supported:
            try:
                importlib.import_module(backend)
            except Exception:
                continue
            return backend
    return "torch"


class _SpikingJellyLIF(nn.Module):
    """``spikingjelly.activation_based.neuron.LIFNode`` in multi-step mode.

    Configured as ``LIFNode(tau=1/(1-beta), decay_input=False,
    v_threshold=threshold, v_reset=None, step_mode="m")``: the charge is
    ``h = v - v/tau + x = beta*v + x`` and ``v_reset=None`` selects the soft
    reset ``v = h - threshold*s``. State is reset at the start of every forward.

    Backends: SpikingJelly 0.0.0.0.14 takes a ``backend`` argument ("torch" or,
    on CUDA, "cupy"); this wrapper picks "triton"/"cupy" on CUDA when the module
    supports it and the package imports, else "torch". SpikingJelly 2.0 has no
    ``backend`` argument: it dispatches on the tensor's device (CPU: a Torch
    loop with a hand-written backward; CUDA: native/Triton kernels chosen
    automatically, overridable with the environment variable
    ``SJ_LIF_CUDA_IMPLEMENTATION=auto|cuda|triton|torch``).
    """

    def __init__(self, n: int, beta: float, threshold: float, device: torch.device | None):
        super().__init__()
        if not 0.0 < beta < 1.0:
            # LIFNode asserts tau > 1, i.e. beta > 0.
            raise ValueError(f"spikingjelly: beta must lie in (0, 1), got {beta}")
        _load("spikingjelly")
        try:
            neuron = _import_quietly("spikingjelly.activation_based.neuron")
        except Exception as err:
            raise RuntimeError(
                "peer 'spikingjelly' is installed but spikingjelly.activation_based "
                f"does not import (0.0.0.0.14 or 2.x is needed): {err}"
            ) from err
        kwargs = dict(
            tau=1.0 / (1.0 - beta),
            decay_input=False,
            v_threshold=float(threshold),
            v_reset=None,
            step_mode="m",
        )
        takes_backend = "backend" in inspect.signature(neuron.LIFNode.__init__).parameters
        if takes_backend:
            kwargs["backend"] = "torch"
        self.n = n
        self.node = neuron.LIFNode(**kwargs)
        if takes_backend:
            self.node.backend = _sj_pick_backend(self.node, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.n)
        self.node.reset()
        return self.node(x)


def make_peer(
    name: str,
    n: int,
    linear: bool,
    beta: float = 0.9,
    threshold: float = 1.0,
    device: torch.device | str | None = None,
) -> nn.Module:
    """A peer library's LIF layer as a module mapping ``[T, B, n]`` to spikes ``[T, B, n]``.

    Args:
        name: one of :data:`PEERS`.
        n: number of neurons (the input's last dimension).
        linear: if True, an ``nn.Linear(n, n)`` is applied to the whole
            ``[T, B, n]`` input in one call before the neuron's time loop.
        beta: membrane decay per step (snnTorch's ``beta``).
        threshold: firing threshold.
        device: where the module will run; the module is moved there, and for
            SpikingJelly it also decides the backend.

    Raises:
        ValueError: unknown ``name``, or ``beta`` outside what the peer supports.
        RuntimeError: the peer is not installed, or fails to import.
    """
    _check_name(name)
    dev = torch.device(device) if device is not None else None
    if name == "snntorch":
        lif: nn.Module = _SnnTorchLIF(n, beta, threshold)
    elif name == "norse":
        lif = _NorseLIF(n, beta, threshold)
    else:
        lif = _SpikingJellyLIF(n, beta, threshold, dev)
    module = nn.Sequential(nn.Linear(n, n), lif) if linear else lif
    if dev is not None:
        module = module.to(dev)
    return module
