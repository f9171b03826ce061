"""Learning-dynamics diagnostics: sharpness and the edge of stability, batch sharpness for SGD,
the alignment of the parameters with the gradient of sharpness (weight decay), and the
surrogate-gradient neural tangent kernel (empirical and analytic). See docs/diagnostics.md."""

from neurosim.diagnostics.hessian import (
                                          BatchSharpness,
                                          HessianEigen,
                                          SharpnessAlignment,
                                          batch_sharpness,
                                          gradient_alignment,
                                          hessian_matrix,
                                          preserved,
                                          sharpness,
)
from neurosim.diagnostics.hvp import HVP_METHODS, HessianVectorProduct, NoDoubleBackward, flatten, unflatten
from neurosim.diagnostics.monitor import SharpnessMonitor, plot_sharpness
from neurosim.diagnostics.ntk import ErfNetwork, erf_ntk, sg_ntk

__all__ = [
    "BatchSharpness", "ErfNetwork", "HVP_METHODS", "HessianEigen", "HessianVectorProduct", "NoDoubleBackward",
    "SharpnessAlignment", "SharpnessMonitor", "batch_sharpness", "erf_ntk", "flatten", "gradient_alignment",
    "hessian_matrix", "plot_sharpness", "preserved", "sg_ntk", "sharpness", "unflatten",
]
