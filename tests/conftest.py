import os
import shutil
import subprocess

import pytest
import torch

import neurosim


def native_backends():
    """Native backends to compare against the reference, with the device they run on."""
    out = []
    if "cpp" in neurosim.backends():
        out.append(("cpp", "cpu"))
    if "cuda" in neurosim.backends():
        out.append(("cuda", "cuda"))
    return out


NATIVE = native_backends()


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module (or a test asking for it): the sizes in these tests are far
    too small for a thread pool, which on a busy machine only adds waiting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_compile_matches_eager(step, x):
    """``torch.compile(step, fullgraph=True)`` (aot_eager) gives the eager value and gradient in x."""
    eager = step(x)
    (g_eager,) = torch.autograd.grad(eager, x)
    got = torch.compile(step, fullgraph=True, backend="aot_eager")(x)
    (g_got,) = torch.autograd.grad(got, x)
    torch.testing.assert_close(got, eager)
    torch.testing.assert_close(g_got, g_eager)
needs_native = pytest.mark.skipif(not NATIVE, reason="neurosim native extension not built")


def take_gpu_path(monkeypatch, backend: str = "cpp", gpu_path: bool = True) -> None:
    """Makes the CPU twin run the CUDA kernel's own thread body (NEUROSIM_SCAN_GPU_PATH=1) for
    the rest of the test; the switch exists for the CPU backend only, so other backends skip."""
    if not gpu_path:
        return
    if backend != "cpp":
        pytest.skip("the CUDA path switch is for the CPU twin")
    monkeypatch.setenv("NEUROSIM_SCAN_GPU_PATH", "1")


def run_lif(x, state, backend, *, weights=None, **kwargs):
    """Runs neurosim.functional.lif and returns outputs plus gradients of a fixed random loss
    over spikes, final state and membrane trace (w.r.t. x, state and tensor parameters)."""
    leaves = [t for t in (x, state, kwargs.get("beta"), kwargs.get("threshold")) if isinstance(t, torch.Tensor)]
    for t in leaves:
        t.grad = None
    out = neurosim.functional.lif(x, state, record_membrane=True, backend=backend, **kwargs)
    ws, wu, wm = weights
    loss = (out.spikes.to(ws.dtype) * ws).sum() + (out.state * wu).sum() + (out.membrane.to(wm.dtype) * wm).sum()
    loss.backward()
    grads = [t.grad.clone() if t.grad is not None else None for t in leaves]
    return out, grads


def loss_weights(x, acc=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = tuple(x.shape)
    ws = torch.randn(shape, generator=g, dtype=acc).to(x.device)
    wu = torch.randn(shape[1:], generator=g, dtype=acc).to(x.device)
    wm = torch.randn(shape, generator=g, dtype=acc).to(x.device) * 0.1
    return ws, wu, wm


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_COMPILER = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")
needs_host_compiler = pytest.mark.skipif(HOST_COMPILER is None, reason="needs a C++17 compiler")


def compile_host_program(source: str, exe, *flags: str) -> str:
    """Compiles tests/cpp/<source> with the host compiler against the kernels' headers (native code
    no CPU build runs, or runs only inside the library) and returns the executable's path."""
    cmd = [HOST_COMPILER, "-std=c++17", *(flags or ("-O1",)), "-I", os.path.join(ROOT, "cuda_kernels", "include"),
           os.path.join(ROOT, "tests", "cpp", source), "-o", str(exe)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return str(exe)
