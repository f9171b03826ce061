"""Bad input raises a clear Python exception naming the argument, before native code runs."""

import pytest
import torch

import neurosim
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
