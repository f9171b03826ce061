"""The CUDA UltraDLIF kernels' work decomposition, run on the CPU against the reference.

No GPU has run the CUDA kernels. Their per-thread code lives in ``neurosim/ultradlif.h``;
``tests/cpp/ultradlif_thread_emulation.cpp`` runs it with the kernels' decomposition (K adjacent
neurons per thread, rows spread over a cluster of blocks, one edge exchange per step through the
neighbouring thread or block, double-buffered) and the global-memory kernels' two-phase steps,
threads one after another. This test compiles it with the host compiler and checks both against
the pure-PyTorch reference in float64: forward outputs and every gradient.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch
from conftest import compile_host_program, needs_host_compiler

from neurosim.core.ultra_reference import ultradlif_reference

pytestmark = needs_host_compiler


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    return compile_host_program("ultradlif_thread_emulation.cpp", tmp_path_factory.mktemp("emulator") / "emulator")


def write(path, tensor):
    tensor.detach().double().contiguous().numpy().tofile(path)


def read(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype=np.float64).reshape(shape))


# (T, B, N, blocks per row, threads per block, neurons per thread K): uneven slices, a cluster of
# several blocks, a single thread owning the whole ring, the smallest ring, K = 2 and 4.
LAYOUTS = [
    (9, 2, 37, 4, 3, 4),    # 12 threads over 37 neurons: slices of 3 and 4, block edges inside the row
    (7, 3, 23, 2, 5, 4),    # 10 threads, slices of 2 and 3
    (6, 2, 16, 1, 8, 2),    # one block, exactly 2 per thread
    (5, 2, 11, 8, 1, 2),    # eight one-thread blocks (every exchange crosses a block)
    (8, 1, 3, 1, 1, 4),     # one thread owns the whole ring of 3: it is its own neighbour
    (8, 2, 3, 3, 1, 2),     # three one-neuron threads
]


@pytest.mark.parametrize("form", ["library", "ablation"])
@pytest.mark.parametrize("per_feature", [False, True])
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda l: "T{}B{}N{}c{}t{}k{}".format(*l))
def test_cuda_decomposition_matches_reference(emulator, tmp_path, form, per_feature, layout):
    steps, batch, n, blocks, threads, k = layout
    gen = torch.Generator().manual_seed(n * 7 + blocks)
    shape = (n,) if per_feature else (1,)
    x = torch.randn(steps, batch, n, generator=gen, dtype=torch.float64) * 2
    v0 = torch.randn(batch, n, generator=gen, dtype=torch.float64) * 0.5
    tau = torch.rand(shape, generator=gen, dtype=torch.float64) * 0.5 + 0.4
    eps = torch.rand(shape, generator=gen, dtype=torch.float64) * 1.5 + 0.2
    theta = torch.randn(shape, generator=gen, dtype=torch.float64) * 0.3
    grad_spikes = torch.randn(steps, batch, n, generator=gen, dtype=torch.float64)
    grad_state = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    grad_membrane = torch.randn(steps, batch, n, generator=gen, dtype=torch.float64) * 0.1
    leaves = [t.clone().requires_grad_() for t in (x, v0, tau, eps, theta)]
    spikes, state, membrane = ultradlif_reference(*leaves, form=form, record_membrane=True)
    loss = (spikes * grad_spikes).sum() + (state * grad_state).sum() + (membrane * grad_membrane).sum()
    loss.backward()

    for name, t in dict(x=x, v0=v0, tau=tau, eps=eps, theta=theta, grad_spikes=grad_spikes,
                        grad_state=grad_state, grad_membrane=grad_membrane).items():
        write(tmp_path / f"{name}.bin", t)
    args = [emulator, str(tmp_path), str(0 if form == "library" else 1), str(steps), str(batch), str(n),
            str(blocks), str(threads), str(k), str(int(per_feature)), "1"]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    def reduce(g):  # per-element partial sums -> the parameter's shape
        return g.sum(0) if per_feature else g.sum().reshape(1)

    want = dict(spikes=spikes, state=state, membrane=membrane, grad_x=leaves[0].grad, grad_v0=leaves[1].grad,
                grad_tau=leaves[2].grad, grad_eps=leaves[3].grad, grad_theta=leaves[4].grad)
    for kernel in ("onchip", "global"):
        for name, ref in want.items():
            shape = (batch, n) if name.startswith("grad_") and name not in ("grad_x", "grad_v0") else ref.shape
            got = read(tmp_path / f"{kernel}_{name}.bin", shape)
            if name in ("grad_tau", "grad_eps", "grad_theta"):
                got = reduce(got)
            torch.testing.assert_close(got, ref.detach(), rtol=1e-10, atol=1e-11,
                                       msg=lambda m: f"{kernel} kernel, {name}: {m}")


def test_emulator_rejects_a_layout_that_leaves_a_thread_without_neurons(emulator, tmp_path):
    done = subprocess.run([emulator, str(tmp_path), "0", "2", "1", "5", "2", "4", "2", "0", "0"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "layout" in done.stderr
