"""Time-major modules for the NIR nodes that have no neurosim layer of their own, and the module
that runs an imported graph.

Every module takes ``x[T, B, *features]`` and works on whole sequences; the ``*_dim`` arguments
and parameter shapes are in NIR's per-sample coordinates (the features, without time and batch).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from neurosim import surrogate as surrogates
from neurosim.layers import fold_time, unfold_time
from neurosim.neurons.base import initial_value


def _check_input(x, module: str, min_dim: int = 3, expected: str = "[T, B, *features]") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{module}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(f"{module}: expected a time-major input {expected}, got shape {tuple(x.shape)}")


class Scale(nn.Module):
    """NIR ``Scale``: ``y = x * scale`` elementwise, ``scale`` of the feature shape (or a number)."""

    def __init__(self, scale):
        super().__init__()
        self.register_buffer("scale", initial_value(scale, "scale"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "Scale", 2)
        return x * self.scale.to(x.dtype)

    def extra_repr(self) -> str:
        return f"scale={tuple(self.scale.shape) or float(self.scale)}"


class Flatten(nn.Module):
    """NIR ``Flatten``: flattens the feature dims ``start_dim..end_dim`` (feature coordinates: 0 is
    the first dim after time and batch, as NIR counts without the batch)."""

    def __init__(self, start_dim: int = 0, end_dim: int = -1):
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
        self.start_dim, self.end_dim = start_dim, end_dim

    def _dims(self, features: int) -> Tuple[int, int]:
        start = self.start_dim + features if self.start_dim < 0 else self.start_dim
        end = self.end_dim + features if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < features:
            raise ValueError(f"Flatten: start_dim={self.start_dim}, end_dim={self.end_dim} do not fit an input "
                             f"with {features} feature dims")
        return start + 2, end + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "Flatten")
        return x.flatten(*self._dims(x.dim() - 2))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class SumPool2d(nn.Module):
    """NIR ``SumPool2d``: the sum over each window of ``x[T, B, C, H, W]`` (zero padding). Computed as
    ``avg_pool2d`` with ``divisor_override=1``, which adds the window up and divides by one."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "SumPool2d", 5, "[T, B, C, H, W]")
        y = F.avg_pool2d(fold_time(x), self.kernel_size, self.stride, self.padding, divisor_override=1)
        return unfold_time(y, x.shape[0])

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _pair(value, name: str, low: int) -> Tuple[int, int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (int,)) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value)):
        raise ValueError(f"{name}: expected an int >= {low} or a pair of them, got {value!r}")
    return (int(value[0]), int(value[1]))


class Threshold(nn.Module):
    """NIR ``Threshold``: ``z = H(x - threshold)`` with ``H(0) = 0`` (spikes where x exceeds the
    threshold), with ``surrogate``'s derivative in the backward pass. No state."""

    def __init__(self, threshold=1.0, surrogate="fast_sigmoid"):
        super().__init__()
        self.register_buffer("threshold", initial_value(threshold, "threshold"))
        self.surrogate = surrogates.get(surrogate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "Threshold", 2)
        return self.surrogate(x - self.threshold.to(x.dtype))

    def extra_repr(self) -> str:
        thr = f"{self.threshold.item():.6g}" if self.threshold.numel() == 1 else f"tensor{tuple(self.threshold.shape)}"
        return f"threshold={thr}, surrogate={self.surrogate.name}({self.surrogate.param:g})"


class GraphModule(nn.Module):
    """Runs an imported NIR graph on whole sequences: each node's module is called once on
    ``[T, B, ...]`` in topological order, a node's input being the sum of its predecessors'
    outputs (NIR's rule for several incoming edges). Recurrent LIF/CubaLIF subgraphs have been
    folded into ``RLIF``/``RSynaptic`` modules by the importer, so the graph left here is acyclic.

    ``forward(x)`` returns the output node's sequence, or a dict by output name when the graph
    has several output nodes. The node modules are in ``.nodes`` under their NIR names (dots
    replaced by ``_``).
    """

    def __init__(self, modules: Dict[str, Optional[nn.Module]], order: Sequence[str],
                 inputs: Dict[str, List[str]], input_node: str, output_nodes: Sequence[str],
                 input_shape: Optional[Tuple[int, ...]] = None, names: Optional[Dict[str, str]] = None):
        super().__init__()
        self.names = dict(names or {k: k for k in order})
        self.nodes = nn.ModuleDict({self.names[k]: m for k, m in modules.items() if m is not None})
        self.order = list(order)
        self.inputs = {k: list(v) for k, v in inputs.items()}
        self.input_node = input_node
        self.output_nodes = list(output_nodes)
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)

    def forward(self, x: torch.Tensor):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x: expected a torch.Tensor [T, B, *features], got {type(x).__name__}")
        if x.dim() < 3:
            raise ValueError(f"x: expected a time-major tensor [T, B, *features], got shape {tuple(x.shape)}")
        if self.input_shape is not None and tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(f"x: the graph's input node {self.input_node!r} expects features {self.input_shape} "
                             f"([T, B, {', '.join(map(str, self.input_shape))}]), got shape {tuple(x.shape)}")
        values = {self.input_node: x}
        for name in self.order:
            if name == self.input_node:
                continue
            sources = self.inputs[name]
            value = values[sources[0]]
            for source in sources[1:]:
                value = value + values[source]
            key = self.names[name]
            values[name] = self.nodes[key](value) if key in self.nodes else value
        if len(self.output_nodes) == 1:
            return values[self.output_nodes[0]]
        return {name: values[name] for name in self.output_nodes}
