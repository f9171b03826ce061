"""Without the native extension the package still imports, warns once and runs on 'torch'."""

import subprocess
import sys

CODE = r"""
import sys, warnings
sys.modules["neurosim._C"] = None  # makes `from neurosim import _C` fail like a missing build
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import neurosim
    import torch
    assert neurosim.backends() == ["torch"], neurosim.backends()
    x = torch.randn(9, 2, 3, requires_grad=True)
    s = neurosim.LIF()(x)
    s.sum().backward()
    assert x.grad is not None
    try:
        neurosim.LIF(backend="cpp")(x)
    except RuntimeError as e:
        assert "cpp" in str(e)
    else:
        raise AssertionError("backend='cpp' should fail without the extension")
msgs = [str(w.message) for w in caught if "native kernels unavailable" in str(w.message)]
assert len(msgs) == 1, msgs
print("ok")
"""


def test_package_works_without_native_extension():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_warning_names_the_build_failure_and_its_log():
    from neurosim.core.backends import unavailable_reason

    record = {"torch": "2.13.0", "failure": "lif.cpp:3: error: boom", "failure_log": "/x/_build_failure.log"}
    reason = unavailable_reason(record, "ImportError: no _C", "2.13.0+cpu")
    assert "lif.cpp:3: error: boom" in reason and "/x/_build_failure.log" in reason
    stale = unavailable_reason({"torch": "2.13.0"}, "ImportError: undefined symbol", "2.14.1+cu130")
    assert "built against torch 2.13.0" in stale and "2.14.1" in stale
    assert "could not be imported (ImportError: x)" in unavailable_reason({}, "ImportError: x", "2.13.0")


def test_cuda_backend_error_says_why():
    import importlib

    import pytest
    import torch

    import neurosim

    backends = importlib.import_module("neurosim.core.backends")
    if backends.cuda_built():
        pytest.skip("this install has CUDA kernels")
    with pytest.raises(RuntimeError, match="no CUDA kernels .*build_info"):
        backends.resolve_backend("cuda", torch.device("cuda"))
    assert neurosim.build_info()["cuda_kernels"] is False
