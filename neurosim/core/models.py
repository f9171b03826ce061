"""The per-neuron models of the generic scan: one row each (parameters with their ranges, state
variables, recorded values, reference). The native policies are in
cuda_kernels/include/neurosim/<model>.h, listed in scan_models.h."""

from __future__ import annotations

from neurosim.core.reference import alif_reference, li_reference, lif_reference, synaptic_reference
from neurosim.core.temporal import ParamSpec, ScanModel, register_scan_model
from neurosim.core.ultra_reference import ultralif_reference


def _lif(x, state, params, options, record):
    spikes, u, membrane = lif_reference(x, state[0], *params, options.reset, options.surrogate,
                                        options.detach_reset, record)
    return spikes, (u,), ((membrane,) if record else None)


def _ultralif(x, state, params, options, record):
    spikes, v, membrane = ultralif_reference(x, state[0], *params, record)
    return spikes, (v,), ((membrane,) if record else None)


def _synaptic(x, state, params, options, record):
    spikes, syn, mem, syn_t, mem_t = synaptic_reference(x, *state, *params, options.reset, options.surrogate,
                                                        options.detach_reset, record)
    return spikes, (syn, mem), ((syn_t, mem_t) if record else None)


def _alif(x, state, params, options, record):
    spikes, u, a, u_t, a_t = alif_reference(x, *state, *params, options.reset, options.surrogate,
                                            options.detach_reset, record)
    return spikes, (u, a), ((u_t, a_t) if record else None)


def _li(x, state, params, options, record):
    out, u = li_reference(x, state[0], *params)
    return out, (u,), None


DECAY = (0.0, 1.0)

LIF = register_scan_model(ScanModel(
    "lif", (ParamSpec("beta", *DECAY), ParamSpec("threshold")), ("mem",), ("mem",), _lif))
ULTRALIF = register_scan_model(ScanModel(
    "ultralif", (ParamSpec("log_tau"), ParamSpec("eps"), ParamSpec("theta")), ("v",), ("membrane",), _ultralif))
SYNAPTIC = register_scan_model(ScanModel(
    "synaptic", (ParamSpec("alpha", *DECAY), ParamSpec("beta", *DECAY), ParamSpec("threshold")),
    ("syn", "mem"), ("syn", "mem"), _synaptic))
ALIF = register_scan_model(ScanModel(
    "alif", (ParamSpec("beta", *DECAY), ParamSpec("rho", *DECAY), ParamSpec("gamma", 0.0), ParamSpec("threshold")),
    ("mem", "adaptation"), ("mem", "adaptation"), _alif))
LI = register_scan_model(ScanModel("li", (ParamSpec("beta", *DECAY),), ("mem",), (), _li))
