"""The per-neuron models of the generic scan: one row each (parameters with their ranges, state
variables, recorded values, reference). The native policies are in
cuda_kernels/include/neurosim/<model>.h, listed in scan_models.h."""

from __future__ import annotations

from neurosim.core.phased_reference import phased_model_reference
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


# ---- phased neurons (cuda_kernels/include/neurosim/phased.h): a model above inside the time gate of
# Phased LSTM, the gate computed in the scan from the timestamps. Parameters: the model's, then the
# gate's period tau (> 0), shift, open ratio r_on in (0, 1] and closed-phase leak (the paper's alpha).
GATE_PARAMS = (ParamSpec("tau"), ParamSpec("shift"), ParamSpec("r_on", 0.0, 1.0), ParamSpec("leak", 0.0))


def _emit_lif(state, params, options):
    return options.surrogate(state[0] - params[1])


def _emit_synaptic(state, params, options):
    return options.surrogate(state[1] - params[2])


def _emit_alif(state, params, options):
    beta, rho, gamma, threshold = params
    return options.surrogate(state[0] - (threshold + gamma * state[1]))


def _emit_li(state, params, options):
    return state[0]


def _phased(inner: ScanModel, emit, spiking: bool = True) -> ScanModel:
    reference = phased_model_reference(inner.reference, emit, spiking, len(inner.params), len(inner.recorded))
    return register_scan_model(ScanModel(f"phased_{inner.name}", inner.params + GATE_PARAMS, inner.state,
                                         inner.recorded, reference, timed=True))


PHASED_LIF = _phased(LIF, _emit_lif)
PHASED_SYNAPTIC = _phased(SYNAPTIC, _emit_synaptic)
PHASED_ALIF = _phased(ALIF, _emit_alif)
PHASED_LI = _phased(LI, _emit_li, spiking=False)
PHASED_EMIT = {"lif": _emit_lif, "synaptic": _emit_synaptic, "alif": _emit_alif, "li": _emit_li}
PHASED_MODELS = {"lif": PHASED_LIF, "synaptic": PHASED_SYNAPTIC, "alif": PHASED_ALIF, "li": PHASED_LI}
