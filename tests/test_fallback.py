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
