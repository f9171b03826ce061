"""Open Neuromorphic LIF workloads: ``Linear(n, n) + LIF`` and ``LIF`` alone, T=500, B=16; the
other neurons of the generic scan (Synaptic, ALIF, LI) beside LIF alone.

For each implementation (neurosim backends, snnTorch, Norse, SpikingJelly when installed, and
two baselines) it measures forward time, backward time and peak memory of one training step
(loss = spikes.sum()). Baselines: ``bare-elementwise`` is one elementwise pass over the same
tensors (x*0.9 forward, g*x backward), the floor of any LIF; ``linear-only`` is the Linear
layer without a neuron, to show what the LIF adds to it.

CPU memory is the growth of the resident set during the step (peak reset through
/proc/self/clear_refs); on CUDA it is ``max_memory_allocated`` above the inputs.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

import neurosim
from neurosim.bench import peers
from neurosim.neurons.registry import NEURONS

T_STEPS = 500
BATCH = 16


@dataclass
class Result:
    workload: str
    impl: str
    n: int
    forward_ms: float
    backward_ms: float
    total_ms: float
    best_total_ms: float
    peak_mb: float | None
    device: str
    reps: int
    note: str = ""


@dataclass
class Report:
    device: str
    device_type: str
    threads: int
    torch_version: str
    neurosim_version: str
    peer_versions: dict
    results: list = field(default_factory=list)


class _BarePass(torch.autograd.Function):
    """x * 0.9 forward and g * x backward: one elementwise pass over the same tensors."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 0.9

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


class _Bare(nn.Module):
    def forward(self, x):
        return _BarePass.apply(x)


class _Identity(nn.Module):
    def forward(self, x):
        return x


ULTRA_MODELS = {"ultralif": "UltraLIF", "ultradlif": "UltraDLIF"}
SCAN_NEURONS = ("synaptic", "alif", "li")
"""Neurons of the generic scan benchmarked beside LIF on the ``lif`` workload (registry names)."""


def build(impl: str, workload: str, n: int, device: torch.device) -> nn.Module:
    linear = workload == "linear_lif"
    model, _, backend = impl.partition("-")
    if model == "neurosim":
        neuron = neurosim.LIF(beta=0.9, threshold=1.0, backend=backend)
    elif model in ULTRA_MODELS:  # e.g. "ultralif-cpp": neurosim's UltraLIF on that backend
        neuron = getattr(neurosim, ULTRA_MODELS[model])(tau=0.9, eps=1.0, backend=backend)
    elif model in NEURONS:  # e.g. "synaptic-cpp": a registry neuron with its defaults on that backend
        neuron = NEURONS[model].module(backend=backend)
    elif impl == "bare-elementwise":
        neuron = _Bare()
    elif impl == "linear-only":
        neuron = _Identity()
    else:
        return peers.make_peer(impl, n, linear=linear, device=device)
    layers = [nn.Linear(n, n), neuron] if linear else [neuron]
    return nn.Sequential(*layers).to(device)


def implementations(workload: str, device: torch.device, include_peers=True, include_torch_backend=True):
    names = []
    for backend in neurosim.backends():
        runs_here = {"cuda": device.type == "cuda", "cpp": device.type == "cpu"}.get(backend, True)
        if not runs_here:
            continue
        if backend == "torch" and not include_torch_backend:
            continue
        names.append(f"neurosim-{backend}")
    if workload == "lif":
        native = [b for b in ("cuda", "cpp") if f"neurosim-{b}" in names][:1]
        names += [f"{neuron}-{b}" for neuron in SCAN_NEURONS for b in native]
    if include_peers:
        names += [p for p in peers.PEERS if peers.peer_version(p) is not None]
    names.append("bare-elementwise" if workload == "lif" else "linear-only")
    return names


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _release_free_heap() -> None:
    """Returns freed heap pages to the OS so that RSS growth shows the step's own allocations."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _step(model, x):
    """One training step split in two timed halves; returns (forward s, backward s)."""
    device = x.device
    _sync(device)
    t0 = time.perf_counter()
    out = model(x)
    loss = out.sum()
    _sync(device)
    t1 = time.perf_counter()
    loss.backward()
    _sync(device)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def measure(impl, workload, n, device, reps=5, steps=T_STEPS, batch=BATCH) -> Result:
    torch.manual_seed(0)
    model = build(impl, workload, n, device)
    x = torch.randn(steps, batch, n, device=device)
    if workload == "lif":
        x.requires_grad_()

    def clear():
        model.zero_grad(set_to_none=True)
        x.grad = None

    _step(model, x)  # warm-up
    clear()
    fwd, bwd = [], []
    for _ in range(reps):
        f, b = _step(model, x)
        fwd.append(f)
        bwd.append(b)
        clear()

    gc.collect()
    peak_mb = None
    if device.type == "cuda":
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        _step(model, x)
        peak_mb = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    elif _reset_peak_rss():
        _release_free_heap()
        base = _rss_bytes()
        _reset_peak_rss()
        _step(model, x)
        peak_mb = max(0, _peak_rss_bytes() - base) / 2**20
    clear()
    model = x = None  # free them before the next measurement
    gc.collect()
    f_ms, b_ms = statistics.median(fwd) * 1e3, statistics.median(bwd) * 1e3
    best = min(f + b for f, b in zip(fwd, bwd)) * 1e3
    return Result(workload, impl, n, f_ms, b_ms, f_ms + b_ms, best, peak_mb, str(device), reps)


def run(sizes=(512, 2048, 8192), workloads=("lif", "linear_lif"), device="cpu", reps=5,
        include_peers=True, include_torch_backend=True, linear_max_n=None, progress=print) -> Report:
    device = torch.device(device)
    report = Report(
        device_type=device.type,
        device=torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})",
        threads=torch.get_num_threads(),
        torch_version=torch.__version__,
        neurosim_version=neurosim.__version__,
        peer_versions={p: peers.peer_version(p) for p in peers.PEERS},
    )
    for workload in workloads:
        for n in sizes:
            if workload == "linear_lif" and linear_max_n is not None and n > linear_max_n:
                continue
            for impl in implementations(workload, device, include_peers, include_torch_backend):
                r = measure(impl, workload, n, device, reps=reps)
                report.results.append(r)
                if progress:
                    progress(format_row(r))
    return report


def format_row(r: Result) -> str:
    mem = "-" if r.peak_mb is None else f"{r.peak_mb:9.0f}"
    return (f"{r.workload:<11} {r.n:>6} {r.impl:<18} {r.forward_ms:10.1f} {r.backward_ms:10.1f} "
            f"{r.total_ms:10.1f} {r.best_total_ms:10.1f} {mem:>9}")


def table(report: Report) -> str:
    head = f"{'workload':<11} {'n':>6} {'impl':<18} {'fwd ms':>10} {'bwd ms':>10} {'total ms':>10} {'best ms':>10} {'peak MB':>9}"
    lines = [f"device: {report.device}, threads: {report.threads}, torch {report.torch_version}", head, "-" * len(head)]
    lines += [format_row(r) for r in report.results]
    lines += ["", *summary(report)]
    return "\n".join(lines)


def _find(report, workload, impl, n):
    for r in report.results:
        if (r.workload, r.impl, r.n) == (workload, impl, n):
            return r
    return None


def summary(report: Report) -> list[str]:
    """Ratios behind the project's targets, computed within this one run from the best
    (minimum) fwd+bwd time of each implementation, the estimate least disturbed by a shared machine."""
    lines = []
    native = "neurosim-cuda" if report.device_type == "cuda" else "neurosim-cpp"
    for r in report.results:
        neuron = r.impl.partition("-")[0]
        if r.workload == "lif" and neuron in SCAN_NEURONS and r.impl.endswith(native.partition("-")[2]):
            bare = _find(report, "lif", "bare-elementwise", r.n)
            if bare:
                lines.append(f"{NEURONS[neuron].module.__name__} n={r.n}: {r.best_total_ms:.1f} ms = "
                             f"{r.best_total_ms / bare.best_total_ms:.2f}x one bare elementwise pass")
            continue
        if r.impl != native:
            continue
        if r.workload == "lif":
            bare = _find(report, "lif", "bare-elementwise", r.n)
            if bare:
                lines.append(f"LIF n={r.n}: {r.best_total_ms:.1f} ms = "
                             f"{r.best_total_ms / bare.best_total_ms:.2f}x one bare elementwise pass")
            for peer in peers.PEERS:
                p = _find(report, "lif", peer, r.n)
                if p:
                    mem = ""
                    if p.peak_mb and r.peak_mb is not None:
                        mem = f", memory {r.peak_mb / p.peak_mb:.2f}x of {peer}'s"
                    lines.append(f"LIF n={r.n}: {p.best_total_ms / r.best_total_ms:.1f}x faster than {peer}{mem}")
        else:
            lin = _find(report, "linear_lif", "linear-only", r.n)
            if lin:
                lines.append(f"Linear+LIF n={r.n}: the LIF adds "
                             f"{100 * (r.best_total_ms / lin.best_total_ms - 1):+.1f} % to Linear alone")
    return lines


def write(report: Report, out_dir: str) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "lif_benchmark.json"), "table": os.path.join(out_dir, "lif_benchmark.txt")}
    payload = asdict(report)
    payload["summary"] = summary(report)
    with open(paths["json"], "w") as f:
        json.dump(payload, f, indent=2)
    with open(paths["table"], "w") as f:
        f.write(table(report) + "\n")
    png = plot(report, os.path.join(out_dir, "lif_benchmark.png"))
    if png:
        paths["png"] = png
    return paths


def plot(report: Report, path: str):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    workloads = sorted({r.workload for r in report.results})
    fig, axes = plt.subplots(1, len(workloads), figsize=(6 * len(workloads), 4.5), squeeze=False)
    for ax, workload in zip(axes[0], workloads):
        rows = [r for r in report.results if r.workload == workload]
        for impl in dict.fromkeys(r.impl for r in rows):
            pts = sorted((r.n, r.best_total_ms) for r in rows if r.impl == impl)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=impl)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("neurons n")
        ax.set_ylabel("forward + backward (ms)")
        ax.set_title(f"{workload}, T={T_STEPS}, B={BATCH}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(report.device)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
