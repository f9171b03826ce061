"""Run by cuda_build_check.sh in the CUDA-torch venv: the installed build has its CUDA kernels,
and its CPU ops agree with the pure-PyTorch reference (no GPU needed)."""

import sys

import torch

import neurosim

info = neurosim.build_info()
print("build_info:", info)
problems = []
if not info["native"]:
    problems.append(f"native extension missing: {info['failure'] or info['import_error']}")
if not info["cuda_kernels"]:
    problems.append("CUDA kernels missing from a NEUROSIM_CUDA=1 build")
if info["torch"] != torch.__version__.split("+")[0]:
    problems.append(f"built against torch {info['torch']}, running {torch.__version__}")
if info["cxx_standard"] != "c++20":
    problems.append(f"torch {torch.__version__} needs C++20, built with {info['cxx_standard']}")
if problems:
    sys.exit("cuda_smoke: " + "; ".join(problems))

torch.manual_seed(0)
x = torch.randn(40, 3, 17, dtype=torch.float64, requires_grad=True)
for name, run in {
    "lif": lambda backend: neurosim.functional.lif(x, beta=0.8, threshold=0.7, backend=backend).spikes,
    "ultralif": lambda backend: neurosim.functional.ultralif(x, tau=0.8, eps=0.5, theta=0.1, backend=backend).spikes,
}.items():
    outputs = {}
    for backend in ("cpp", "torch"):
        x.grad = None
        out = run(backend)
        (out * torch.linspace(0, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        outputs[backend] = (out.detach(), x.grad.clone())
    torch.testing.assert_close(outputs["cpp"][0], outputs["torch"][0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(outputs["cpp"][1], outputs["torch"][1], rtol=1e-9, atol=1e-12)
    print(f"cuda_smoke: {name} cpp == torch reference (values and gradients)")
print("cuda_smoke: ok")
