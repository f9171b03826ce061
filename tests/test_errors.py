"""Bad input raises a clear Python exception naming the argument, before native code runs."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim
from neurosim.core.validation import broadcasts_to
from neurosim.functional import lif

BACKENDS = neurosim.backends()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def x3():
    return torch.randn(5, 2, 3)


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda b: lif(torch.randn(4), backend=b), ValueError, ["x", "time"]),
        (lambda b: lif(torch.randn(0, 2, 3), backend=b), ValueError, ["x", "T=0"]),
        (lambda b: lif(torch.ones(5, 2, 3, dtype=torch.int64), backend=b), TypeError, ["x", "floating"]),
        (lambda b: lif(torch.ones(5, 2, 3, dtype=torch.bool), backend=b), TypeError, ["x", "floating"]),
        (lambda b: lif([1.0, 2.0], backend=b), TypeError, ["x", "Tensor"]),
        (lambda b: lif(x3(), torch.zeros(2, 4), backend=b), ValueError, ["state", "shape"]),
        (lambda b: lif(x3(), torch.zeros(2, 3, dtype=torch.int32), backend=b), TypeError, ["state"]),
        (lambda b: lif(x3(), torch.full((2, 3), float("nan")), backend=b), ValueError, ["state", "NaN"]),
        (lambda b: lif(x3(), beta=1.5, backend=b), ValueError, ["beta", "[0.0, 1.0]"]),
        (lambda b: lif(x3(), beta=-0.1, backend=b), ValueError, ["beta"]),
        (lambda b: lif(x3(), beta=torch.tensor([0.5, 0.9, 1.2]), backend=b), ValueError, ["beta"]),
        (lambda b: lif(x3(), beta=float("nan"), backend=b), ValueError, ["beta", "finite"]),
        (lambda b: lif(x3(), beta=torch.tensor(float("nan")), backend=b), ValueError, ["beta", "NaN"]),
        (lambda b: lif(x3(), threshold=float("inf"), backend=b), ValueError, ["threshold"]),
        (lambda b: lif(x3(), threshold=torch.tensor([1.0, float("inf"), 1.0]), backend=b), ValueError, ["threshold"]),
        (lambda b: lif(x3(), threshold=torch.ones(4), backend=b), ValueError, ["threshold", "feature shape"]),
        (lambda b: lif(x3(), threshold=torch.ones(3, dtype=torch.int64), backend=b), TypeError, ["threshold"]),
        (lambda b: lif(x3(), threshold="high", backend=b), TypeError, ["threshold"]),
        (lambda b: lif(x3(), reset="soft", backend=b), ValueError, ["reset", "subtract"]),
        (lambda b: lif(x3(), surrogate="erf", backend=b), ValueError, ["surrogate", "fast_sigmoid"]),
        (lambda b: lif(x3(), surrogate=3, backend=b), TypeError, ["surrogate"]),
        (lambda b: lif(x3(), detach_reset="yes", backend=b), TypeError, ["detach_reset"]),
        (lambda b: lif(x3(), backend="tpu"), ValueError, ["backend", "auto"]),
    ],
)
def test_bad_input_is_named(backend, call, exc, words):
    with pytest.raises(exc) as info:
        call(backend)
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"


def test_surrogate_parameters_are_checked():
    with pytest.raises(ValueError, match="slope|parameter"):
        neurosim.surrogate.fast_sigmoid(slope=-1.0)
    with pytest.raises(ValueError, match="finite"):
        neurosim.surrogate.atan(alpha=float("nan"))
    with pytest.raises(ValueError, match="unknown"):
        neurosim.surrogate.Surrogate("boxcar", 1.0)


def test_backend_not_built_or_wrong_device():
    x = x3()
    if not neurosim.core.cuda_built():
        with pytest.raises(RuntimeError, match="cuda"):
            lif(x, backend="cuda")
    else:
        with pytest.raises(ValueError, match="CUDA tensors"):
            lif(x, backend="cuda")
    if not neurosim.core.native_built():
        with pytest.raises(RuntimeError, match="cpp"):
            lif(x, backend="cpp")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_tensors_on_different_devices():
    with pytest.raises(ValueError, match="state"):
        lif(x3().cuda(), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="beta"):
        lif(x3(), beta=torch.full((3,), 0.9, device="cuda"))


def test_module_rejects_bad_construction():
    with pytest.raises(ValueError, match="beta"):
        neurosim.LIF(beta=2.0)
    with pytest.raises(ValueError, match="threshold"):
        neurosim.LIF(threshold=float("nan"))
    with pytest.raises(ValueError, match="reset"):
        neurosim.LIF(reset="hard")
    with pytest.raises(ValueError, match="backend"):
        neurosim.LIF(backend="gpu")
    with pytest.raises(ValueError, match="surrogate"):
        neurosim.LIF(surrogate="nope")


@pytest.mark.parametrize("make", [
    lambda: neurosim.LIF(beta=0.9, input_scale=2.0),
    lambda: neurosim.LIF(beta=0.9, v_leak=0.3),
    lambda: neurosim.LIF(beta=0.9, reset="zero", v_reset=0.5),
    lambda: neurosim.LIF(beta=0.9, reset="zero", reset_delay=False),
    lambda: neurosim.Synaptic(input_scale=2.0),
    lambda: neurosim.LI(v_leak=0.3),
])
def test_phased_refuses_a_neuron_with_nir_options(make):
    """The phased gate runs the neuron's plain step; it used to drop these options silently (with the
    gate always open, 94 spikes against the plain neuron's 150)."""
    neuron = make()
    with pytest.raises(ValueError, match="NIR options"):
        neurosim.Phased(neuron, size=4)
    from neurosim.neurons.phased import neuron_step
    with pytest.raises(ValueError, match="NIR options"):
        neuron_step(neuron)


def test_recurrent_alif_refuses_negative_gamma_and_clamps_a_learned_one():
    from neurosim.functional import alif, ralif
    x = torch.rand(5, 2, 3)
    with pytest.raises(ValueError, match="gamma"):
        alif(x, gamma=-1.0)
    with pytest.raises(ValueError, match="gamma"):
        ralif(x, weight=torch.zeros(3, 3), gamma=-1.0)
    with pytest.raises(ValueError, match="gamma"):
        neurosim.RALIF(3, gamma=-1.0)
    # a learned gamma pushed below 0 acts as 0 (as ALIF's), which is RLIF
    torch.manual_seed(0)
    adaptive = neurosim.RALIF(3, gamma=0.5, learn_gamma=True, backend="torch")
    plain = neurosim.RLIF(3, backend="torch")
    plain.recurrent.load_state_dict(adaptive.recurrent.state_dict())
    with torch.no_grad():
        adaptive.gamma.fill_(-0.7)
    x = torch.rand(20, 2, 3) * 2
    assert torch.equal(adaptive(x), plain(x))


@pytest.mark.parametrize("kwargs,words", [
    ({"r_on": torch.full((5,), 0.1)}, ["r_on", "shape"]),
    ({"r_on": torch.full((2, 4), 0.1)}, ["r_on", "shape"]),
    ({"shift_range": (0.0, float("inf"))}, ["shift_range", "finite"]),
    ({"shift_range": (float("nan"), 1.0)}, ["shift_range", "finite"]),
    ({"shift_range": ("a", 1.0)}, ["shift_range"]),
])
def test_time_gate_construction_names_the_argument(kwargs, words):
    with pytest.raises(ValueError) as info:
        neurosim.TimeGate(4, **kwargs)
    for w in words:
        assert w in str(info.value)


_dims = st.lists(st.integers(0, 3), max_size=4).map(tuple)


@settings(max_examples=400, deadline=None)
@given(shape=_dims, target=_dims)
def test_broadcast_check_agrees_with_torch(shape, target):
    """The parameters' shape check (a cheap form of it) accepts exactly what torch broadcasts to
    the feature shape."""
    try:
        want = torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        want = False
    assert broadcasts_to(shape, target) == want
