"""One registry of the neuron layers: ``neurosim train --neuron``, :func:`neurosim.models.make_neuron`,
the benchmark and the op-contract tests all read it. A new neuron adds one row here."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from torch import nn

from neurosim.core.temporal import SCAN_MODELS, ScanModel
from neurosim.functional.alif import alif
from neurosim.functional.li import li
from neurosim.functional.lif import lif
from neurosim.functional.synaptic import synaptic
from neurosim.functional.ultralif import ultradlif, ultralif
from neurosim.neurons.alif import ALIF
from neurosim.neurons.li import LI
from neurosim.neurons.lif import LIF
from neurosim.neurons.synaptic import Synaptic
from neurosim.neurons.ultralif import UltraDLIF, UltraDPLIF, UltraLIF, UltraPLIF


@dataclass(frozen=True)
class NeuronSpec:
    """One neuron layer: its name, module class, whole-sequence function and parameters."""

    name: str
    module: Callable[..., nn.Module]
    functional: Callable
    params: Tuple[str, ...]
    """Parameters of the module's constructor (numbers or per-neuron tensors, learnable)."""
    scan_model: Optional[str]
    """Its model of the generic scan (neurosim.core.SCAN_MODELS), None for a separate op."""
    spiking: bool = True
    """False for layers whose output is a membrane (LI), not spikes."""
    summary: str = ""

    @property
    def reference(self) -> Callable:
        """The pure-PyTorch reference: the functional form on the ``torch`` backend."""
        return functools.partial(self.functional, backend="torch")

    @property
    def model(self) -> Optional[ScanModel]:
        return SCAN_MODELS[self.scan_model] if self.scan_model is not None else None


NEURONS: Dict[str, NeuronSpec] = {}


def register_neuron(spec: NeuronSpec) -> NeuronSpec:
    if spec.name in NEURONS:
        raise ValueError(f"neuron {spec.name!r} is already registered")
    NEURONS[spec.name] = spec
    return spec


for _spec in (
    NeuronSpec("lif", LIF, lif, ("beta", "threshold"), "lif", summary="leaky integrate-and-fire (snnTorch Leaky)"),
    NeuronSpec("synaptic", Synaptic, synaptic, ("alpha", "beta", "threshold"), "synaptic",
               summary="current-based LIF (snnTorch Synaptic, NIR CubaLIF)"),
    NeuronSpec("alif", ALIF, alif, ("beta", "rho", "gamma", "threshold"), "alif",
               summary="adaptive-threshold LIF (Bellec et al. LSNN / e-prop)"),
    NeuronSpec("li", LI, li, ("beta",), "li", spiking=False, summary="leaky integrator readout, no spikes"),
    NeuronSpec("ultralif", UltraLIF, ultralif, ("tau", "eps", "theta"), "ultralif",
               summary="soft max-plus LIF (Minoza 2026), soft spikes"),
    NeuronSpec("ultraplif", UltraPLIF, ultralif, ("tau", "eps", "theta"), "ultralif",
               summary="UltraLIF with a learned leak"),
    NeuronSpec("ultradlif", UltraDLIF, ultradlif, ("tau", "eps", "theta"), None,
               summary="UltraLIF on a ring of neighbours (separate op)"),
    NeuronSpec("ultradplif", UltraDPLIF, ultradlif, ("tau", "eps", "theta"), None,
               summary="UltraDLIF with a learned leak (separate op)"),
):
    register_neuron(_spec)
