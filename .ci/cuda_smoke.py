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
if not info.get("cpu_float32_only"):
    problems.append("expected the float32-only CPU build that cuda_build_check.sh asks for")
if problems:
    sys.exit("cuda_smoke: " + "; ".join(problems))
try:  # the build holds float32 CPU kernels only: other dtypes get a clear error, not a crash
    neurosim.functional.lif(torch.randn(3, 2, 4, dtype=torch.float64), backend="cpp")
    sys.exit("cuda_smoke: a float32-only build ran a float64 CPU kernel")
except RuntimeError as error:
    assert "float32 only" in str(error), error

torch.manual_seed(0)
x = (torch.randn(40, 3, 17) * 1.5).requires_grad_()
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
    exact = name == "lif"  # LIF's spikes are the reference's bit for bit; UltraLIF's relaxed ones up to rounding
    torch.testing.assert_close(outputs["cpp"][0], outputs["torch"][0], rtol=0 if exact else 1e-5,
                               atol=0 if exact else 1e-6)
    torch.testing.assert_close(outputs["cpp"][1], outputs["torch"][1], rtol=1e-4, atol=1e-5)
    assert 0 < float(outputs["cpp"][0].abs().sum()), f"{name}: no output to compare"
    print(f"cuda_smoke: {name} cpp == torch reference (values and gradients)")
print("cuda_smoke: ok")
