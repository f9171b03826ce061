"""Per-layer spike rates, recorded with forward hooks on the spiking layers of a model."""

from __future__ import annotations

import contextlib
from typing import Dict, Iterable, Optional, Tuple

from torch import nn


def spiking_layers(model: nn.Module) -> Dict[str, nn.Module]:
    """The model's neuron layers (modules defined in ``neurosim.neurons``), by qualified name."""
    return {name: m for name, m in model.named_modules()
            if type(m).__module__.startswith("neurosim.neurons") and name}


class SpikeRateMonitor:
    """Mean spike rate (spikes per neuron per step) of each neuron layer, averaged over the
    forward calls made while it is attached::

        with SpikeRateMonitor(model) as monitor:
            model(x)
        monitor.rates()  # {"neurons.0": 0.12, ...}
    """

    def __init__(self, model: nn.Module, layers: Optional[Dict[str, nn.Module]] = None):
        self.layers = spiking_layers(model) if layers is None else dict(layers)
        self._sums: Dict[str, Tuple[float, int]] = {}
        self._handles = []

    def _hook(self, name: str):
        def record(_module, _inputs, output):
            spikes = output.spikes if hasattr(output, "spikes") else output
            if isinstance(spikes, tuple):
                spikes = spikes[0]
            total, count = self._sums.get(name, (0.0, 0))
            self._sums[name] = (total + spikes.detach().float().sum().item(), count + spikes.numel())
        return record

    def __enter__(self) -> "SpikeRateMonitor":
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self.layers.items()]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    @contextlib.contextmanager
    def paused(self):
        """Forward passes inside are not recorded (e.g. a diagnostic's own evaluations)."""
        attached = bool(self._handles)
        self.__exit__()
        try:
            yield self
        finally:
            if attached:
                self.__enter__()

    def reset(self) -> None:
        self._sums.clear()

    def rates(self) -> Dict[str, float]:
        return {name: total / max(count, 1) for name, (total, count) in self._sums.items()}

    def totals(self) -> Iterable[Tuple[str, float, int]]:
        """(layer, spike sum, element count) for reducing across processes."""
        return [(n, t, c) for n, (t, c) in self._sums.items()]
