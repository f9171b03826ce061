"""Interchange with other tools: NIR (the Neuromorphic Intermediate Representation).

``to_nir(model, sample_data, dt=1e-4)`` writes a neurosim network as a ``nir.NIRGraph``;
``from_nir(graph_or_path, dt=1e-4)`` builds a neurosim network from one. Needs the ``nir`` and
``nirtorch`` packages (``pip install 'neurosim[nir]'``). See docs/nir.md.
"""

from neurosim.interop.modules import Flatten, GraphModule, Scale, SumPool2d, Threshold
from neurosim.interop.nir import DEFAULT_DT, SUPPORTED_NODES, from_nir, to_nir

__all__ = ["to_nir", "from_nir", "DEFAULT_DT", "SUPPORTED_NODES", "GraphModule", "Scale", "Flatten", "SumPool2d",
           "Threshold"]
