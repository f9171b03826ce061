"""NIR interchange: :func:`to_nir` writes a neurosim network as a ``nir.NIRGraph``; :func:`from_nir`
builds a neurosim network from a graph (or a ``.nir`` file) written by any library.

NIR's neurons are continuous-time ODEs; neurosim's are their forward-Euler step with the time step
``dt`` (an argument of both functions, default 1e-4 as snnTorch uses). For NIR's LIF,
``tau du/dt = (v_leak - u) + r*I`` with the reset to ``v_reset`` in the step that spikes
(``z = H(u - v_threshold)``), the step is

    u_t = beta*u_{t-1} + (1 - beta)*v_leak + g*I_t,  beta = 1 - dt/tau,  g = r*dt/tau,
    z_t = H(u_t - v_threshold),  u_t = v_reset where z_t = 1,

which is ``neurosim.LIF(beta, v_threshold, reset="zero", reset_delay=False, v_reset, v_leak,
input_scale=g)``. CubaLIF, LI, IF, I and the recurrent subgraphs map the same way; docs/nir.md has
the whole table. A neurosim model that NIR cannot express (subtractive or delayed resets of the
current-based and recurrent neurons, UltraLIF's soft spikes, max pooling, ...) is refused with an
error naming the layer, or exported with ``approximate=True`` as the nearest NIR model with a
warning per layer and the fact recorded in the node's metadata.
"""

from __future__ import annotations

import math
import numbers
import pathlib
import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from neurosim import layers as ns_layers
from neurosim.interop import modules as interop_modules
from neurosim.neurons.li import LI
from neurosim.neurons.lif import LIF
from neurosim.neurons.recurrent import RLIF, RSynaptic
from neurosim.neurons.synaptic import Synaptic
from neurosim.surrogate import Surrogate

DEFAULT_DT = 1e-4
"""snnTorch's time step, so graphs move between the two without a change of units."""

_META = "neurosim_"


def _require_nir():
    try:
        import nir  # noqa: F401
        import nirtorch  # noqa: F401
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError("neurosim.interop needs the 'nir' and 'nirtorch' packages: "
                          "pip install 'neurosim[nir]'") from error
    return nir


def _check_dt(dt) -> float:
    """A real number (not a bool, not a string): TypeError; not finite or <= 0: ValueError."""
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real):
        raise TypeError(f"dt: expected a number (the time step in seconds), got {type(dt).__name__} {dt!r}")
    if not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: expected a finite time step > 0 (seconds), got {dt!r}")
    return float(dt)


# --------------------------------------------------------------------------------------------
# import
# --------------------------------------------------------------------------------------------

_RECURRENT_NEURONS = ("LIF", "CubaLIF")
_RECURRENT_WEIGHTS = ("Affine", "Linear")
SUPPORTED_NODES = ("Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "Flatten", "SumPool2d",
                   "AvgPool2d", "LIF", "CubaLIF", "LI", "IF", "I", "Threshold", "NIRGraph")


def from_nir(graph_or_path, dt: float = DEFAULT_DT) -> nn.Module:
    """A neurosim network running a NIR graph on time-major input.

    Args:
        graph_or_path: a ``nir.NIRGraph`` or the path of a NIR file (``nir.write``'s HDF5).
        dt: the time step (seconds) of the forward-Euler step of every neuron, > 0.

    Returns:
        An ``nn.Module`` (:class:`neurosim.interop.modules.GraphModule`) whose ``forward(x)`` takes
        ``x[T, B, *features]`` and returns the output node's sequence over all T (spikes for a
        spiking output), using neurosim's fused neurons. Its node modules are in ``.nodes``.

    Raises:
        ValueError / TypeError before anything runs, naming the node or argument: a file that is
        not NIR, a node type neurosim does not support (``Delay``, ``CubaLI``, ...), parameter
        arrays of inconsistent shapes, NaN parameters, ``tau < dt``, ``dt <= 0``, cycles other than a
        LIF/CubaLIF with an Affine/Linear from its own output.
    """
    nir = _require_nir()
    dt = _check_dt(dt)
    graph = _load(graph_or_path, nir)
    return _import_graph(graph, dt, nir, "")


def _load(graph_or_path, nir):
    if isinstance(graph_or_path, nir.NIRGraph):
        return graph_or_path
    if isinstance(graph_or_path, (str, pathlib.Path)):
        path = pathlib.Path(graph_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"graph_or_path: no such file {str(path)!r}")
        try:
            # nir.read(path) would type-check with the grouped convolutions' input channels wrong
            # (see _grouped_conv_types); read unchecked, correct them, then run nir's own checks
            graph = nir.read(path, type_check=False)
            _grouped_conv_types(graph, nir)
            graph.infer_types()
            graph.check_types()
            return graph
        except Exception as error:  # h5py's OSError, a missing 'node' group, an unknown type, ...
            raise ValueError(f"graph_or_path: {str(path)!r} is not a NIR file nir {nir.version} can read "
                             f"({type(error).__name__}: {error})") from error
    raise TypeError(f"graph_or_path: expected a nir.NIRGraph or a file path, got {type(graph_or_path).__name__}")


def _grouped_conv_types(graph, nir) -> None:
    """nir 1.0.8's Conv1d/Conv2d set their input type's channels to ``weight.shape[1]``, which is
    ``C_in / groups`` (PyTorch's weight layout, which NIR's ``groups`` field follows): a grouped
    convolution then fails nir's type check against the layer before it. Sets them to
    ``weight.shape[1] * groups``."""
    for node in graph.nodes.values():
        if not isinstance(node, (nir.Conv1d, nir.Conv2d)):
            continue
        groups = int(np.asarray(node.groups))
        shape = (node.input_type or {}).get("input")
        if groups > 1 and shape is not None:
            shape = np.array(shape)
            shape[0] = np.shape(node.weight)[1] * groups
            node.input_type = {"input": shape}


def _where(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


def _array(node, where: str, field: str, *, positive: bool = False, allow_inf: bool = False) -> np.ndarray:
    value = getattr(node, field, None)
    if value is None:
        raise ValueError(f"NIR node {where!r} ({type(node).__name__}): parameter {field} is missing")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"NIR node {where!r} ({type(node).__name__}): parameter {field} is not numeric") from error
    if np.isnan(array).any():
        raise ValueError(f"NIR node {where!r} ({type(node).__name__}): parameter {field} contains NaN")
    if not allow_inf and np.isinf(array).any():
        raise ValueError(f"NIR node {where!r} ({type(node).__name__}): parameter {field} contains inf")
    if not allow_inf and array.size and np.abs(array).max() > np.finfo(np.float32).max:
        raise ValueError(f"NIR node {where!r} ({type(node).__name__}): parameter {field} exceeds float32's range "
                         f"(max |value| {np.abs(array).max():.3g})")
    if positive and (array <= 0).any():
        raise ValueError(f"NIR node {where!r} ({type(node).__name__}): parameter {field} must be > 0, "
                         f"got min {array.min():.6g}")
    return array


def _same_shapes(node, where: str, arrays: Dict[str, np.ndarray]) -> Tuple[int, ...]:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"NIR node {where!r} ({type(node).__name__}): parameter arrays have inconsistent shapes "
                         + ", ".join(f"{k}{tuple(v)}" for k, v in shapes.items()))
    return next(iter(shapes.values()))


def _decay(node, where: str, tau: np.ndarray, dt: float, field: str) -> np.ndarray:
    ratio = dt / tau
    if (ratio > 1).any():
        raise ValueError(f"NIR node {where!r} ({type(node).__name__}): {field} must be >= dt={dt:g} for the "
                         f"forward-Euler step (decay 1 - dt/{field} in [0, 1]), got min {tau.min():.6g}")
    return 1.0 - ratio


def _tensor(array: np.ndarray):
    """A float32 parameter: one number when all values agree, else the per-neuron tensor."""
    values = np.asarray(array, dtype=np.float32)
    if values.size > 0 and (values == values.flat[0]).all():
        return float(values.flat[0])
    return torch.from_numpy(values.copy())


def _optional(array: np.ndarray, neutral: float):
    """None (skip the arithmetic) when every float32 value is the neutral one, else the parameter."""
    values = np.asarray(array, dtype=np.float32)
    return None if (values == np.float32(neutral)).all() else _tensor(array)


def _surrogate_from(node):
    meta = getattr(node, "metadata", None) or {}
    name, param = meta.get(_META + "surrogate"), meta.get(_META + "surrogate_param")
    if isinstance(name, bytes):
        name = name.decode()
    try:
        return Surrogate(str(name), float(param)) if name is not None and param is not None else "fast_sigmoid"
    except (TypeError, ValueError):
        return "fast_sigmoid"


def _reset_delay_from(node) -> bool:
    """The zero reset's delay (it changes no spike, only whether the membrane is reported before
    or after the reset) restored from neurosim's metadata; NIR's own convention otherwise."""
    meta = getattr(node, "metadata", None) or {}
    reset = meta.get(_META + "reset")
    reset = reset.decode() if isinstance(reset, bytes) else reset
    return reset == "zero" and _META + "approximated" not in meta and bool(meta.get(_META + "reset_delay", False))


def _lif_params(node, where, dt):
    tau = _array(node, where, "tau", positive=True, allow_inf=True)
    arrays = dict(tau=tau, r=_array(node, where, "r"), v_leak=_array(node, where, "v_leak"),
                  v_threshold=_array(node, where, "v_threshold"), v_reset=_array(node, where, "v_reset"))
    _same_shapes(node, where, arrays)
    beta = _decay(node, where, tau, dt, "tau")
    return arrays, beta, arrays["r"] * (dt / tau)


def _cuba_params(node, where, dt):
    tau_syn = _array(node, where, "tau_syn", positive=True, allow_inf=True)
    tau_mem = _array(node, where, "tau_mem", positive=True, allow_inf=True)
    arrays = dict(tau_syn=tau_syn, tau_mem=tau_mem, r=_array(node, where, "r"), v_leak=_array(node, where, "v_leak"),
                  v_threshold=_array(node, where, "v_threshold"), v_reset=_array(node, where, "v_reset"),
                  w_in=_array(node, where, "w_in"))
    _same_shapes(node, where, arrays)
    alpha = _decay(node, where, tau_syn, dt, "tau_syn")
    beta = _decay(node, where, tau_mem, dt, "tau_mem")
    # syn in neurosim is NIR's current times k = r*dt/tau_mem; the input into it is scaled by
    # k*(dt/tau_syn)*w_in (exact in real numbers: the current is linear in its input).
    scale = arrays["r"] * (dt / tau_mem) * (dt / tau_syn) * arrays["w_in"]
    return arrays, alpha, beta, scale


def _neuron_module(node, where: str, dt: float, nir):
    kind = type(node).__name__
    if kind == "LIF":
        arrays, beta, scale = _lif_params(node, where, dt)
        delayed = _reset_delay_from(node)
        return LIF(_tensor(beta), _tensor(arrays["v_threshold"]), reset="zero", surrogate=_surrogate_from(node),
                   reset_delay=delayed, v_reset=_optional(arrays["v_reset"], 0.0),
                   v_leak=_optional(arrays["v_leak"], 0.0), input_scale=_optional(scale, 1.0))
    if kind == "IF":
        arrays = dict(r=_array(node, where, "r"), v_threshold=_array(node, where, "v_threshold"),
                      v_reset=_array(node, where, "v_reset"))
        _same_shapes(node, where, arrays)
        return LIF(1.0, _tensor(arrays["v_threshold"]), reset="zero", surrogate=_surrogate_from(node),
                   reset_delay=False, v_reset=_optional(arrays["v_reset"], 0.0),
                   input_scale=_optional(arrays["r"] * dt, 1.0))
    if kind == "LI":
        tau = _array(node, where, "tau", positive=True, allow_inf=True)
        arrays = dict(tau=tau, r=_array(node, where, "r"), v_leak=_array(node, where, "v_leak"))
        _same_shapes(node, where, arrays)
        beta = _decay(node, where, tau, dt, "tau")
        return LI(_tensor(beta), v_leak=_optional(arrays["v_leak"], 0.0),
                  input_scale=_optional(arrays["r"] * (dt / tau), 1.0))
    if kind == "I":
        r = _array(node, where, "r")
        return LI(1.0, input_scale=_optional(r * dt, 1.0))
    if kind == "CubaLIF":
        arrays, alpha, beta, scale = _cuba_params(node, where, dt)
        return Synaptic(_tensor(alpha), _tensor(beta), _tensor(arrays["v_threshold"]), reset="zero",
                        surrogate=_surrogate_from(node), reset_delay=False,
                        v_reset=_optional(arrays["v_reset"], 0.0), v_leak=_optional(arrays["v_leak"], 0.0),
                        input_scale=_optional(scale, 1.0))
    if kind == "Threshold":
        return interop_modules.Threshold(_tensor(_array(node, where, "threshold")), _surrogate_from(node))
    return None


def _weight(node, where: str) -> np.ndarray:
    weight = _array(node, where, "weight")
    if weight.ndim != 2:
        raise ValueError(f"NIR node {where!r} ({type(node).__name__}): weight must be 2-D [out, in], got shape "
                         f"{weight.shape}")
    return weight


def _linear(weight: np.ndarray, bias: Optional[np.ndarray]) -> nn.Linear:
    module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
        if bias is not None:
            module.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    return module


def _conv(node, where: str, dims: int):
    kind = type(node).__name__
    weight = _array(node, where, "weight")
    if weight.ndim != dims + 2:
        raise ValueError(f"NIR node {where!r} ({kind}): weight must be {dims + 2}-D [C_out, C_in/groups, "
                         f"{'K' if dims == 1 else 'K_h, K_w'}], got shape {weight.shape}")
    bias = _array(node, where, "bias") if getattr(node, "bias", None) is not None else np.zeros(weight.shape[0])
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"NIR node {where!r} ({kind}): bias shape {bias.shape} does not match C_out={weight.shape[0]}")
    groups = int(node.groups)

    def arg(value):
        if isinstance(value, str):
            return value
        value = np.asarray(value).astype(int).tolist()
        return tuple(value) if isinstance(value, list) else value

    cls = ns_layers.Conv1d if dims == 1 else ns_layers.Conv2d
    try:
        module = cls(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=arg(node.stride),
                     padding=arg(node.padding), dilation=arg(node.dilation), groups=groups, bias=True)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"NIR node {where!r} ({kind}): {error}") from error
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
        module.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    return module


def _pool_args(node, where):
    try:
        return tuple(interop_modules._pair(getattr(node, f), f, low) for f, low in
                     (("kernel_size", 1), ("stride", 1), ("padding", 0)))
    except ValueError as error:
        raise ValueError(f"NIR node {where!r} ({type(node).__name__}): {error}") from error


def _stateless_module(node, where: str):
    kind = type(node).__name__
    if kind == "Affine":
        weight = _weight(node, where)
        bias = _array(node, where, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"NIR node {where!r} (Affine): bias shape {bias.shape} does not match the weight's "
                             f"{weight.shape[0]} outputs")
        return _linear(weight, bias)
    if kind == "Linear":
        return _linear(_weight(node, where), None)
    if kind == "Scale":
        return interop_modules.Scale(_tensor(_array(node, where, "scale")))
    if kind == "Conv1d":
        return _conv(node, where, 1)
    if kind == "Conv2d":
        return _conv(node, where, 2)
    if kind == "Flatten":
        return interop_modules.Flatten(int(node.start_dim), int(node.end_dim))
    if kind == "SumPool2d":
        return interop_modules.SumPool2d(*_pool_args(node, where))
    if kind == "AvgPool2d":
        kernel, stride, padding = _pool_args(node, where)
        return ns_layers.AvgPool2d(kernel, stride, padding)
    return None


def _recurrent_module(neuron, weight_node, where: str, dt: float):
    """A LIF/CubaLIF with an Affine/Linear from its own output: ``RLIF`` / ``RSynaptic`` with the
    reset in the step that spikes; the loop carries the previous step's spikes, so the neuron's input
    is ``x_t + W z_{t-1} + b`` (scaled, leaked and reset by NIR's terms as a feed-forward one)."""
    kind = type(neuron).__name__
    if kind == "LIF":
        arrays, beta, scale = _lif_params(neuron, where, dt)
    else:
        arrays, alpha, beta, scale = _cuba_params(neuron, where, dt)
    shape = arrays["v_threshold"].shape
    if len(shape) != 1:
        raise ValueError(f"NIR recurrent subgraph {where!r}: the {kind}'s parameters must be 1-D (n neurons), "
                         f"got shape {shape}")
    n = shape[0]
    weight = _weight(weight_node, where + "(recurrent weight)")
    if weight.shape != (n, n):
        raise ValueError(f"NIR recurrent subgraph {where!r}: recurrent weight shape {weight.shape}, expected ({n}, {n})")
    bias = _array(weight_node, where, "bias") if type(weight_node).__name__ == "Affine" else None
    if bias is not None and bias.shape != (n,):
        raise ValueError(f"NIR recurrent subgraph {where!r}: recurrent bias shape {bias.shape}, expected ({n},)")
    diagonal = np.array_equal(weight, np.diag(np.diag(weight))) and (bias is None or not bias.any())
    common = dict(all_to_all=not diagonal, V=torch.from_numpy(np.diag(weight).astype(np.float32)) if diagonal else 1.0,
                  reset="zero", surrogate=_surrogate_from(neuron), bias=bias is not None and not diagonal,
                  reset_delay=False, v_reset=_optional(arrays["v_reset"], 0.0), v_leak=_optional(arrays["v_leak"], 0.0),
                  input_scale=_optional(scale, 1.0))
    if kind == "LIF":
        module = RLIF(n, _tensor(beta), _tensor(arrays["v_threshold"]), **common)
    else:
        module = RSynaptic(n, _tensor(alpha), _tensor(beta), _tensor(arrays["v_threshold"]), **common)
    if not diagonal:
        with torch.no_grad():
            module.recurrent.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
            if bias is not None:
                module.recurrent.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    return module


def _recurrent_pattern(graph, nir) -> Optional[Tuple[str, str]]:
    """(neuron, weight) when ``graph`` is snnTorch's / neurosim's recurrent subgraph: one Input,
    one Output, a LIF/CubaLIF and an Affine/Linear in a loop."""
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    neurons = [k for k, t in kinds.items() if t in _RECURRENT_NEURONS]
    weights = [k for k, t in kinds.items() if t in _RECURRENT_WEIGHTS]
    if len(graph.nodes) != 4 or len(neurons) != 1 or len(weights) != 1:
        return None
    ends = {t: k for k, t in kinds.items() if t in ("Input", "Output")}
    if sorted(ends) != ["Input", "Output"]:
        return None
    neuron, weight = neurons[0], weights[0]
    expected = {(ends["Input"], neuron), (neuron, weight), (weight, neuron), (neuron, ends["Output"])}
    return (neuron, weight) if {tuple(e) for e in graph.edges} == expected and len(graph.edges) == 4 else None


def _import_graph(graph, dt: float, nir, prefix: str) -> nn.Module:
    nodes = dict(graph.nodes)
    edges = [tuple(e) for e in graph.edges]
    for src, dst in edges:
        for end in (src, dst):
            if end not in nodes:
                raise ValueError(f"NIR graph{' ' + prefix.rstrip('.') if prefix else ''}: edge ({src!r}, {dst!r}) "
                                 f"names a node {end!r} that is not in the graph")
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind == "Delay":
            raise ValueError(f"NIR node {_where(prefix, name)!r} (Delay): neurosim has no synaptic delays yet, so "
                             f"the graph cannot be run exactly; remove the delay or fold it into the input")
        if kind not in SUPPORTED_NODES:
            raise TypeError(f"NIR node {_where(prefix, name)!r} has type {kind}, which neurosim does not support "
                            f"(supported: {', '.join(SUPPORTED_NODES)})")

    # recurrent loops written flat: neuron -> weight -> neuron, the weight touching nothing else
    modules: Dict[str, Optional[nn.Module]] = {}
    for name, node in list(nodes.items()):
        if type(node).__name__ not in _RECURRENT_NEURONS or name not in nodes:
            continue
        for weight in [d for s, d in edges if s == name]:
            if type(nodes.get(weight)).__name__ not in _RECURRENT_WEIGHTS:
                continue
            ins = [s for s, d in edges if d == weight]
            outs = [d for s, d in edges if s == weight]
            if ins == [name] and outs == [name]:
                modules[name] = _recurrent_module(node, nodes[weight], _where(prefix, name), dt)
                edges = [e for e in edges if weight not in e]
                del nodes[weight]
                break

    inputs = [k for k, v in nodes.items() if type(v).__name__ == "Input"]
    outputs = [k for k, v in nodes.items() if type(v).__name__ == "Output"]
    if len(inputs) != 1:
        raise ValueError(f"NIR graph{' ' + prefix.rstrip('.') if prefix else ''}: expected exactly one Input node, "
                         f"got {inputs}")
    if not outputs:
        raise ValueError(f"NIR graph{' ' + prefix.rstrip('.') if prefix else ''}: has no Output node")

    for name, node in nodes.items():
        if name in modules:
            continue
        where = _where(prefix, name)
        kind = type(node).__name__
        if kind in ("Input", "Output"):
            modules[name] = None
        elif kind == "NIRGraph":
            pattern = _recurrent_pattern(node, nir)
            if pattern is not None:
                modules[name] = _recurrent_module(node.nodes[pattern[0]], node.nodes[pattern[1]], where, dt)
            else:
                modules[name] = _import_graph(node, dt, nir, where + ".")
        else:
            try:
                module = _neuron_module(node, where, dt, nir)
                modules[name] = module if module is not None else _stateless_module(node, where)
            except (TypeError, ValueError) as error:
                if str(error).startswith("NIR "):
                    raise
                # e.g. a parameter beyond float32's range, caught by the module's own checks
                raise ValueError(f"NIR node {where!r} ({kind}): {error}") from error

    for src, dst in edges:
        out_size, in_size = _size(nodes[src], "output"), _size(nodes[dst], "input")
        if out_size is not None and in_size is not None and out_size != in_size:
            raise ValueError(f"NIR edge ({_where(prefix, src)!r}, {_where(prefix, dst)!r}): "
                             f"{type(nodes[src]).__name__} {src!r} gives {out_size} values per step but "
                             f"{type(nodes[dst]).__name__} {dst!r} takes {in_size} (parameter shapes disagree)")
    predecessors: Dict[str, List[str]] = {k: [] for k in nodes}
    for src, dst in edges:
        predecessors[dst].append(src)
    for name in nodes:
        if name not in inputs and not predecessors[name]:
            raise ValueError(f"NIR node {_where(prefix, name)!r} ({type(nodes[name]).__name__}) has no incoming edge")
    order = _topological_order(nodes, edges, prefix)
    input_type = getattr(nodes[inputs[0]], "input_type", None) or {}
    shape = next(iter(input_type.values()), None) if isinstance(input_type, dict) else None
    names = {k: k.replace(".", "_") or "_" for k in nodes}
    return interop_modules.GraphModule(modules, order, predecessors, inputs[0], outputs,
                                       None if shape is None else tuple(np.asarray(shape).astype(int).tolist()),
                                       names)


_SIZE_FIELDS = {"LIF": "v_threshold", "CubaLIF": "v_threshold", "IF": "v_threshold", "LI": "tau", "I": "r",
                "Threshold": "threshold", "Scale": "scale"}


def _size(node, side: str) -> Optional[int]:
    """The number of values per step a node takes (``side="input"``) or gives, where its
    parameters fix it (dense weights and per-neuron parameters); None where they do not."""
    kind = type(node).__name__
    if kind in ("Affine", "Linear"):
        shape = np.shape(node.weight)
        return None if len(shape) != 2 else int(shape[1] if side == "input" else shape[0])
    field = _SIZE_FIELDS.get(kind)
    if field is None or getattr(node, field, None) is None:
        return None
    return int(np.size(getattr(node, field)))


def _topological_order(nodes, edges, prefix) -> List[str]:
    indegree = {k: 0 for k in nodes}
    for _, dst in edges:
        indegree[dst] += 1
    ready = [k for k in nodes if indegree[k] == 0]
    order = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for src, dst in edges:
            if src == name:
                indegree[dst] -= 1
                if indegree[dst] == 0:
                    ready.append(dst)
    if len(order) != len(nodes):
        cycle = sorted(k for k in nodes if k not in order)
        raise ValueError(f"NIR graph{' ' + prefix.rstrip('.') if prefix else ''}: the nodes {cycle} form a cycle "
                         f"that is not a LIF/CubaLIF with an Affine/Linear from its own output (the recurrent "
                         f"layers neurosim has)")
    return order


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------

_REFUSED = {
    "MaxPool2d": "NIR has no max pooling",
    "BatchNorm1d": "NIR has no batch norm (fold it into the preceding layer's weights first)",
    "BatchNorm2d": "NIR has no batch norm (fold it into the preceding layer's weights first)",
    "Dropout": "NIR has no dropout (remove it for export; it is the identity in eval mode)",
    "ALIF": "NIR has no adaptive-threshold neuron",
    "RALIF": "NIR has no adaptive-threshold neuron",
    "UltraLIF": "its soft (sigmoid) spikes are not a NIR neuron",
    "UltraPLIF": "its soft (sigmoid) spikes are not a NIR neuron",
    "UltraDLIF": "its soft (sigmoid) spikes and ring coupling are not a NIR neuron",
    "UltraDPLIF": "its soft (sigmoid) spikes and ring coupling are not a NIR neuron",
    "PhasedLIF": "its time gate is not a NIR node",
    "PhasedLSTM": "NIR has no LSTM",
    "TimeGate": "its time gate is not a NIR node",
    "TimeDistributed": "export neurosim.layers' own Conv1d/Conv2d/AvgPool2d/Flatten or an nn.Linear instead",
}


class _Exporter:
    def __init__(self, nir, dt: float, approximate: bool, shapes: Dict[int, Tuple[tuple, tuple]],
                 names: Dict[int, str]):
        self.nir, self.dt, self.approximate, self.shapes, self.names = nir, dt, approximate, shapes, names
        self.kinds: Dict[int, str] = {}

    # helpers ---------------------------------------------------------------------------------
    def _shape(self, module) -> Tuple[tuple, tuple]:
        return self.shapes[id(module)]

    def _where(self, module) -> str:
        return f"layer {self.names.get(id(module), '?')!r} ({type(module).__name__})"

    def _where_id(self, key: int) -> str:
        return f"layer {self.names.get(key, '?')!r} ({self.kinds.get(key, '?')})"

    def _per_neuron(self, module, value, default: float = 0.0) -> np.ndarray:
        features = self._shape(module)[0]
        if value is None:
            return np.full(features, default, dtype=np.float64)
        array = value.detach().cpu().to(torch.float64).numpy() if isinstance(value, torch.Tensor) \
            else np.float64(value)
        return np.broadcast_to(array, features).astype(np.float64).copy()

    def _meta(self, module, **extra) -> dict:
        meta = {_META + "module": type(module).__name__, _META + "dt": self.dt}
        sg = getattr(module, "surrogate", None)
        if isinstance(sg, Surrogate):
            meta[_META + "surrogate"] = sg.name
            meta[_META + "surrogate_param"] = sg.param
        for key, value in extra.items():
            meta[_META + key] = value
        return meta

    def _inexact(self, module, what: str) -> dict:
        message = (f"{self._where(module)}: {what} has no exact NIR equivalent; exported as NIR's reset to "
                   f"v_reset in the step that spikes")
        if not self.approximate:
            raise ValueError(message + " only with approximate=True (refused by default: it changes the dynamics)")
        warnings.warn(message + " (approximate=True): the exported graph's spikes differ from this model's",
                      stacklevel=4)
        return {"approximated": what}

    def _tau_r(self, module, beta: np.ndarray, scale: np.ndarray, name: str) -> Tuple[np.ndarray, np.ndarray]:
        if (beta >= 1).any():
            raise ValueError(f"{self._where(module)}: {name} = 1 for some neurons but not all; NIR's leaky neurons "
                             f"need tau = dt/(1 - {name}) finite (use beta < 1, or 1 for the whole layer: IF/I)")
        tau = self.dt / (1.0 - beta)
        return tau, scale * tau / self.dt

    # modules ---------------------------------------------------------------------------------
    def lif(self, module: LIF):
        nir = self.nir
        beta = self._per_neuron(module, module.beta.clamp(0, 1))
        thr = self._per_neuron(module, module.threshold)
        scale = self._per_neuron(module, module.input_scale, 1.0)
        v_leak = self._per_neuron(module, module.v_leak)
        v_reset = self._per_neuron(module, module.v_reset)
        extra = {"reset": module.reset, "reset_delay": bool(module.reset_delay)}
        if module.reset == "none":
            # no reset: the leaky membrane, then a threshold (exactly)
            li = self._li_node(module, beta, scale, v_leak)
            threshold = nir.Threshold(threshold=thr, metadata=self._meta(module, **extra))
            features = np.array(self._shape(module)[0])
            return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": features}), "li": li,
                                       "threshold": threshold, "output": nir.Output(output_type={"output": features})},
                                edges=[("input", "li"), ("li", "threshold"), ("threshold", "output")],
                                type_check=False)
        if module.reset == "subtract":
            extra.update(self._inexact(module, "the subtractive reset"))
        if (beta == 1).all():
            return nir.IF(r=scale / self.dt, v_threshold=thr, v_reset=v_reset, metadata=self._meta(module, **extra))
        tau, r = self._tau_r(module, beta, scale, "beta")
        return nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=thr, v_reset=v_reset,
                       metadata=self._meta(module, **extra))

    def _li_node(self, module, beta, scale, v_leak):
        if (beta == 1).all():
            return self.nir.I(r=scale / self.dt, metadata=self._meta(module))
        tau, r = self._tau_r(module, beta, scale, "beta")
        return self.nir.LI(tau=tau, r=r, v_leak=v_leak, metadata=self._meta(module))

    def li(self, module: LI):
        return self._li_node(module, self._per_neuron(module, module.beta.clamp(0, 1)),
                             self._per_neuron(module, module.input_scale, 1.0),
                             self._per_neuron(module, module.v_leak))

    def _cuba(self, module, alpha, beta, thr, scale, v_leak, v_reset, extra):
        for name, value in (("alpha", alpha), ("beta", beta)):
            if (value >= 1).any():
                raise ValueError(f"{self._where(module)}: {name} = 1 has no NIR CubaLIF (tau = dt/(1 - {name}) "
                                 f"would be infinite)")
        tau_syn = self.dt / (1.0 - alpha)
        tau_mem = self.dt / (1.0 - beta)
        # r = tau_mem/dt makes the current enter the membrane unscaled (neurosim's syn); w_in carries the
        # input scale: (dt/tau_syn)*w_in = scale.
        return self.nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / self.dt, v_leak=v_leak,
                                v_threshold=thr, v_reset=v_reset, w_in=scale * tau_syn / self.dt,
                                metadata=self._meta(module, **extra))

    def synaptic(self, module: Synaptic):
        extra = {"reset": module.reset, "reset_delay": bool(module.reset_delay)}
        if module.reset == "none":
            raise ValueError(f"{self._where(module)}: reset='none' has no NIR CubaLIF (NIR's CubaLIF always resets)")
        if module.reset == "subtract":
            extra.update(self._inexact(module, "the subtractive reset"))
        elif module.reset_delay:
            extra.update(self._inexact(module, "the delayed zero reset (it clears the whole step after a spike)"))
        return self._cuba(module, self._per_neuron(module, module.alpha.clamp(0, 1)),
                          self._per_neuron(module, module.beta.clamp(0, 1)),
                          self._per_neuron(module, module.threshold),
                          self._per_neuron(module, module.input_scale, 1.0),
                          self._per_neuron(module, module.v_leak), self._per_neuron(module, module.v_reset), extra)

    def recurrent(self, module):
        nir = self.nir
        extra = {"reset": module.reset, "reset_delay": bool(module.reset_delay)}
        if module.reset == "none":
            raise ValueError(f"{self._where(module)}: reset='none' has no NIR recurrent LIF (NIR's neurons reset)")
        if module.reset == "subtract":
            extra.update(self._inexact(module, "the subtractive reset"))
        elif module.reset_delay:
            extra.update(self._inexact(module, "the delayed zero reset (it clears the whole step after a spike)"))
        n = module.size
        thr = self._per_neuron(module, module.threshold)
        scale = self._per_neuron(module, module.input_scale, 1.0)
        v_leak, v_reset = self._per_neuron(module, module.v_leak), self._per_neuron(module, module.v_reset)
        if isinstance(module, RLIF):
            beta = self._per_neuron(module, module.beta.clamp(0, 1))
            tau, r = self._tau_r(module, beta, scale, "beta")
            neuron = nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=thr, v_reset=v_reset,
                             metadata=self._meta(module, **extra))
        else:
            neuron = self._cuba(module, self._per_neuron(module, module.alpha.clamp(0, 1)),
                                self._per_neuron(module, module.beta.clamp(0, 1)), thr, scale, v_leak, v_reset,
                                extra)
        if module.all_to_all:
            weight = module.recurrent.weight.detach().cpu().double().numpy()
            bias = module.recurrent.bias
            w_node = nir.Linear(weight=weight) if bias is None else \
                nir.Affine(weight=weight, bias=bias.detach().cpu().double().numpy())
        else:
            w_node = nir.Linear(weight=np.diag(module.recurrent.V.detach().cpu().double().numpy()))
        features = np.array([n])
        return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": features}), "lif": neuron, "w_rec": w_node,
                                   "output": nir.Output(output_type={"output": features})},
                            edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
                            type_check=False)

    def linear(self, module: nn.Linear):
        weight = module.weight.detach().cpu().double().numpy()
        if module.bias is None:
            return self.nir.Linear(weight=weight)
        return self.nir.Affine(weight=weight, bias=module.bias.detach().cpu().double().numpy())

    def conv(self, module):
        if module.padding_mode != "zeros":
            raise ValueError(f"{self._where(module)}: padding_mode={module.padding_mode!r}; NIR convolutions pad "
                             f"with zeros")
        in_shape, _ = self._shape(module)
        weight = module.weight.detach().cpu().double().numpy()
        bias = np.zeros(weight.shape[0]) if module.bias is None else module.bias.detach().cpu().double().numpy()
        padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
        if isinstance(module, nn.Conv1d):
            node = self.nir.Conv1d(input_shape=int(in_shape[1]), weight=weight, stride=int(module.stride[0]),
                                   padding=padding if isinstance(padding, str) else int(padding[0]),
                                   dilation=int(module.dilation[0]), groups=int(module.groups), bias=bias)
        else:
            node = self.nir.Conv2d(input_shape=tuple(int(d) for d in in_shape[1:]), weight=weight,
                                   stride=tuple(module.stride), padding=padding, dilation=tuple(module.dilation),
                                   groups=int(module.groups), bias=bias)
        # nir (1.0.8) derives the node's input channels from weight.shape[1], which is C_in/groups
        # for a grouped convolution; the recorded shape has the true C_in.
        return self._typed(module, node)

    def _typed(self, module, node):
        in_shape, out_shape = self._shape(module)
        node.input_type = {"input": np.array(in_shape)}
        node.output_type = {"output": np.array(out_shape)}
        return node

    def avgpool(self, module):
        if module.ceil_mode or not module.count_include_pad or module.divisor_override is not None:
            raise ValueError(f"{self._where(module)}: NIR's AvgPool2d is torch's default (ceil_mode=False, "
                             f"count_include_pad=True, no divisor_override)")
        k, s, p = (interop_modules._pair(v, n, low) for v, n, low in ((module.kernel_size, "kernel_size", 1),
                                                                   (module.stride or module.kernel_size, "stride", 1),
                                                                   (module.padding, "padding", 0)))
        return self._typed(module, self.nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(s),
                                                      padding=np.array(p)))

    def sumpool(self, module):
        return self._typed(module, self.nir.SumPool2d(kernel_size=np.array(module.kernel_size),
                                                      stride=np.array(module.stride),
                                                      padding=np.array(module.padding)))

    def flatten(self, module):
        start, end = (0, -1) if isinstance(module, ns_layers.Flatten) else (module.start_dim, module.end_dim)
        in_shape, _ = self._shape(module)
        return self.nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=start, end_dim=end)

    def scale(self, module):
        return self.nir.Scale(scale=self._per_neuron(module, module.scale))

    def threshold(self, module):
        return self.nir.Threshold(threshold=self._per_neuron(module, module.threshold), metadata=self._meta(module))

    def graph_module(self, module: interop_modules.GraphModule, features_in=None):
        """An imported graph (``from_nir``'s module) back as a NIR graph, node names and edges kept."""
        nir = self.nir
        mapping = self.module_map()
        features_in = self._shape(module)[0] if features_in is None else features_in
        nodes, shapes = {}, {}
        for name in module.order:
            key = module.names[name]
            if name == module.input_node:
                nodes[name] = nir.Input(input_type={"input": np.array(features_in)})
                shapes[name] = tuple(features_in)
            elif key in module.nodes:
                child = module.nodes[key]
                if type(child) not in mapping:
                    raise TypeError(f"model: layer {name!r} ({type(child).__name__}) of the imported graph has no "
                                    f"NIR equivalent neurosim can export")
                nodes[name] = mapping[type(child)](child)
                shapes[name] = self._shape(child)[1]
            else:  # an Output node: what flows into it
                shape = np.array(shapes[module.inputs[name][0]])
                nodes[name] = nir.Output(output_type={"output": shape})
                nodes[name].input_type = {"input": shape}
        edges = [(source, name) for name in module.order for source in module.inputs.get(name, [])]
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)

    def module_map(self):
        return {
            interop_modules.GraphModule: self.graph_module,
            nn.Linear: self.linear,
            ns_layers.Conv1d: self.conv,
            ns_layers.Conv2d: self.conv,
            ns_layers.AvgPool2d: self.avgpool,
            ns_layers.Flatten: self.flatten,
            interop_modules.Flatten: self.flatten,
            interop_modules.SumPool2d: self.sumpool,
            interop_modules.Scale: self.scale,
            interop_modules.Threshold: self.threshold,
            LIF: self.lif,
            Synaptic: self.synaptic,
            LI: self.li,
            RLIF: self.recurrent,
            RSynaptic: self.recurrent,
        }


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _check_exportable(model: nn.Module, leaves) -> Dict[int, str]:
    """Every module is exportable or a container traced through; names by id for the messages."""
    names: Dict[int, str] = {}
    skip: List[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in skip):
            continue
        label = name or "model"
        names.setdefault(id(module), label)
        kind = type(module).__name__
        if type(module) in leaves:
            skip.append(name)
            continue
        if kind in _REFUSED:
            raise TypeError(f"model: layer {label!r} ({kind}) cannot be exported to NIR: {_REFUSED[kind]}")
        if isinstance(module, _CONTAINERS):
            continue
        if not list(module.children()):
            raise TypeError(f"model: layer {label!r} ({kind}) has no NIR equivalent neurosim can export "
                            f"(exportable: {', '.join(sorted({c.__name__ for c in leaves}))})")
    return names


def _with_module_names(graph, model, leaves, nirtorch, nir):
    """Names the nodes after the model's layers (``"0"``, ``"encoder.lif"``; ``"input"``/``"output"``)
    instead of torch.fx's sanitised names (``"_0"``, ``"encoder_lif"``)."""
    from nirtorch.torch_tracer import NIRTorchTracer

    traced = NIRTorchTracer(leaves).trace(model)
    rename = {}
    for node in traced.nodes:
        if node.op == "call_module":
            rename[node.name] = str(node.target)
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) == 1:
        rename[inputs[0]] = "input"
    if len(outputs) == 1:
        rename[outputs[0]] = "output"
    target = [rename.get(k, k) for k in graph.nodes]
    if len(set(target)) != len(target):  # a layer called twice keeps fx's distinct names
        return graph
    nodes = {rename.get(k, k): v for k, v in graph.nodes.items()}
    edges = [(rename.get(a, a), rename.get(b, b)) for a, b in graph.edges]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph.metadata if isinstance(graph.metadata, dict) else {},
                         type_check=False)


def to_nir(model: nn.Module, sample_data: torch.Tensor, dt: float = DEFAULT_DT, *, approximate: bool = False):
    """The NIR graph of a neurosim network.

    Args:
        model: an ``nn.Module`` built from ``nn.Linear``, ``neurosim.layers`` (``Conv1d``, ``Conv2d``,
            ``AvgPool2d``, ``Flatten``), ``neurosim.interop.modules`` (``SumPool2d``, ``Scale``, ``Flatten``,
            ``Threshold``) and the neurons ``LIF``, ``Synaptic``, ``LI``, ``RLIF``, ``RSynaptic``, in a
            ``Sequential`` or any module torch.fx can trace (additions of branches are NIR edges).
        sample_data: an input ``[T, B, *features]`` (T = B = 1 is enough); the model runs on it once
            (no gradients) to record every layer's shape.
        dt: the time step (seconds) that turns the discrete decays into NIR's time constants,
            ``tau = dt/(1 - beta)``; > 0.
        approximate: export the resets NIR cannot express (subtractive; the delayed zero reset of
            ``Synaptic``/``RLIF``/``RSynaptic``) as NIR's reset to v_reset, with a warning per layer and
            ``neurosim_approximated`` in the node's metadata. Refused (ValueError) by default.

    Returns:
        A ``nir.NIRGraph`` whose types are inferred and checked (``graph.infer_types()``), ready for
        ``nir.write``. neurosim-specific facts (reset mode and delay, surrogate, dt) are in each
        neuron node's metadata.
    """
    nir = _require_nir()
    import nirtorch

    dt = _check_dt(dt)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(sample_data, torch.Tensor) or not sample_data.is_floating_point():
        raise TypeError(f"sample_data: expected a floating torch.Tensor [T, B, *features], got "
                        f"{type(sample_data).__name__ if not isinstance(sample_data, torch.Tensor) else sample_data.dtype}")
    if sample_data.dim() < 3:
        raise ValueError(f"sample_data: expected a time-major tensor [T, B, *features], got shape "
                         f"{tuple(sample_data.shape)}")
    if not isinstance(approximate, bool):
        raise TypeError(f"approximate: expected a bool, got {type(approximate).__name__}")

    exporter = _Exporter(nir, dt, approximate, {}, {})
    module_map = exporter.module_map()
    exporter.names = _check_exportable(model, tuple(module_map))

    # one run records every layer's per-sample input and output shape, at each of its calls
    hooks = []
    calls: Dict[int, List[Tuple[tuple, tuple]]] = {}

    def record(module, args, output):
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(out, dict):  # an imported graph with several outputs
            out = next(iter(out.values()))
        shapes = (tuple(args[0].shape[2:]), tuple(out.shape[2:]))
        seen = calls.setdefault(id(module), [])
        if shapes not in seen:
            seen.append(shapes)

    for module in model.modules():
        if type(module) in module_map:
            exporter.kinds[id(module)] = type(module).__name__
            hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            output = model(sample_data)
    finally:
        for hook in hooks:
            hook.remove()
    for key, seen in calls.items():
        # NIR gives each call its own node, but every node of a module is built from the module alone,
        # with one shape: a module called at several shapes would get the first call's everywhere
        if len(seen) > 1:
            raise ValueError(f"model: {exporter._where_id(key)} is called at {len(seen)} different shapes "
                             f"(per-sample input -> output: {', '.join(f'{a} -> {b}' for a, b in seen)}); NIR "
                             f"export needs one shape per module: use a separate module for each call")
        exporter.shapes[key] = seen[0]
    if isinstance(output, tuple):
        output = output[0]
    if not isinstance(output, torch.Tensor) and not (isinstance(model, interop_modules.GraphModule)
                                                     and isinstance(output, dict)):
        raise TypeError(f"model: its output must be a tensor [T, B, *features] to export, got {type(output).__name__}")

    features_in = np.array(sample_data.shape[2:])
    if isinstance(model, interop_modules.GraphModule):
        if isinstance(output, dict):
            raise TypeError("model: an imported graph with several Output nodes cannot be exported by to_nir yet")
        graph = exporter.graph_module(model, tuple(sample_data.shape[2:]))
    elif type(model) in module_map:
        node = module_map[type(model)](model)
        graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": features_in}), "model": node,
                                    "output": nir.Output(output_type={"output": np.array(output.shape[2:])})},
                             edges=[("input", "model"), ("model", "output")], type_check=False)
    else:
        try:
            graph = nirtorch.torch_to_nir(model, module_map, default_dict=None, type_check=False)
        except (TypeError, ValueError) as error:
            if str(error).startswith(("model:", "layer ")):  # ours, from the module map: already named
                raise
            raise TypeError(f"model: cannot trace it into a NIR graph ({error})") from error
        graph = _with_module_names(graph, model, tuple(module_map), nirtorch, nir)
        for node in graph.nodes.values():
            if isinstance(node, nir.Input):
                node.input_type = {"input": features_in}
                node.output_type = {"output": features_in}
            elif isinstance(node, nir.Output):
                node.input_type = {"input": np.array(output.shape[2:])}
                node.output_type = {"output": np.array(output.shape[2:])}
    graph.infer_types()
    graph.check_types()
    return graph
