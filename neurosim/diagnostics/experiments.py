"""The experiments behind examples/edge_of_stability.py and examples/sg_ntk.py, sized by arguments so
that the examples run them at full size and the tests at toy size."""

from __future__ import annotations

import math
import time
from typing import Callable, Dict, List, Sequence

import torch
from torch import nn

from neurosim.diagnostics.hessian import gradient_alignment, sharpness
from neurosim.diagnostics.ntk import ErfNetwork, erf_ntk, sg_ntk


def digits_regression(samples: int = 500, dtype=torch.float32):
    """The first ``samples`` scikit-learn digits: inputs in [0, 1] ``[n, 64]``, one-hot targets ``[n, 10]``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    if not 1 <= samples <= len(digits.target):
        raise ValueError(f"samples: expected 1..{len(digits.target)}, got {samples}")
    x = torch.tensor(digits.data[:samples], dtype=dtype) / 16.0
    labels = torch.tensor(digits.target[:samples])
    return x, nn.functional.one_hot(labels, 10).to(dtype), labels


def tanh_mlp(sizes: Sequence[int], seed: int = 0) -> nn.Sequential:
    """Linear-tanh-...-Linear with PyTorch's default initialisation from ``seed``."""
    torch.manual_seed(seed)
    layers: List[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def spiking_mlp(sizes: Sequence[int], seed: int = 0, backend: str = "auto", beta: float = 0.9):
    """A :class:`neurosim.models.SpikingMLP` of LIF neurons (fast-sigmoid surrogate)."""
    from neurosim.models import SpikingMLP

    torch.manual_seed(seed)
    return SpikingMLP(list(sizes), neuron="lif", neuron_options={"beta": beta, "backend": backend})


def half_mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``0.5 * ||out - target||^2`` averaged over samples (Cohen et al.'s square loss)."""
    return 0.5 * (out - target).pow(2).sum(-1).mean()


def full_batch_gd(model: nn.Module, loss_fn: Callable[[], torch.Tensor], lr: float, steps: int, every: int,
                  weight_decay: float = 0.0, alignment: bool = False, hvp: str = "auto",
                  max_iter: int = 20, tol: float = 1e-3) -> Dict:
    """Full-batch gradient descent ``theta <- theta - lr (grad L + weight_decay theta)`` with the
    sharpness of ``L`` (weight decay excluded) measured every ``every`` steps. Returns the loss at
    every step and the measurements (step, sharpness, and with ``alignment`` the cosine between
    theta and grad sharpness)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    losses, records, vector, hvps = [], [], None, 0
    started = time.perf_counter()
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            result = sharpness(loss_fn, params, init=vector, hvp=hvp, max_iter=max_iter, tol=tol, module=model)
            vector, hvps = result.eigenvectors[0], hvps + result.num_hvps
            row = {"step": step, "sharpness": float(result), "loss": result.loss, "grad_norm": result.grad_norm,
                   "hvp_method": result.hvp_method}
            if alignment:
                row["alignment"] = gradient_alignment(loss_fn, params, eigen=result, module=model).cosine
            records.append(row)
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        if not math.isfinite(float(loss.detach())):
            break  # diverged: the records say where
        loss.backward()
        losses.append(float(loss.detach()))
        optimizer.step()
    return {"lr": lr, "weight_decay": weight_decay, "two_over_lr": 2.0 / lr, "losses": losses,
            "records": records, "hvps": hvps, "seconds": time.perf_counter() - started}


def summarize(run: Dict, settle_fraction: float = 0.5) -> Dict:
    """Steps until sharpness first reaches 90 % of 2/lr; mean sharpness / (2/lr) over the last
    ``settle_fraction`` of the measurements; how often the loss went up; the final loss."""
    threshold = run["two_over_lr"]
    records = run["records"]
    reach = next((r["step"] for r in records if r["sharpness"] >= 0.9 * threshold), None)
    tail = records[int(len(records) * (1 - settle_fraction)):] or records
    tail_mean = sum(r["sharpness"] for r in tail) / len(tail)
    losses = run["losses"]
    ups = sum(b > a for a, b in zip(losses, losses[1:]))
    return {"lr": run["lr"], "weight_decay": run["weight_decay"], "two_over_lr": threshold,
            "steps_to_90pct": reach, "settled_ratio": tail_mean / threshold,
            "tail_spread": (max(r["sharpness"] for r in tail) - min(r["sharpness"] for r in tail)) / threshold,
            "loss_increases": ups / max(len(losses) - 1, 1), "initial_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None,
            "alignment": [r["alignment"] for r in records if "alignment" in r][-1:] or None}


# ---------------------------------------------------------------------------- SG-NTK
def circle_inputs(n: int, dtype=torch.float64) -> torch.Tensor:
    """``n`` unit vectors at equally spaced angles (the SG-NTK paper's 1-D angle task)."""
    angles = torch.arange(n, dtype=dtype) * (2 * math.pi / n)
    return torch.stack([angles.cos(), angles.sin()], 1)


def ntk_convergence(widths: Sequence[int], ms: Sequence[float], points: int = 12, seeds: int = 3,
                    surrogate_m: float = 1.0, sigma_b: float = 0.5) -> Dict:
    """Relative Frobenius error ``||K_emp - K_inf|| / ||K_inf||`` of the empirical SG-NTK of
    :class:`ErfNetwork` against :func:`erf_ntk`, mean over ``seeds`` networks per (m, width), and the
    log-log slope of error against width for each m (-1/2 expected)."""
    x = circle_inputs(points)
    out: Dict = {"widths": list(widths), "ms": list(ms), "errors": {}, "slopes": {}}
    for m in ms:
        analytic = erf_ntk(x, x, m, surrogate_m=surrogate_m, sigma_b=sigma_b)
        errors = []
        for width in widths:
            e = 0.0
            for seed in range(seeds):
                net = ErfNetwork(2, width, m, surrogate_m, sigma_b=sigma_b,
                                 generator=torch.Generator().manual_seed(1000 * seed + width))
                kernel = sg_ntk(net, x, true_model=lambda z, net=net: net(z, derivative="true"))
                e += float((kernel - analytic).norm() / analytic.norm()) / seeds
            errors.append(e)
        lw, le = torch.tensor(widths, dtype=torch.float64).log(), torch.tensor(errors, dtype=torch.float64).log()
        slope = float(((lw - lw.mean()) * (le - le.mean())).sum() / ((lw - lw.mean()) ** 2).sum())
        out["errors"][str(m)], out["slopes"][str(m)] = errors, slope
    return out


def diagonal_growth(ms: Sequence[float], surrogate_m: float = 1.0, sigma_b: float = 0.5) -> Dict:
    """The kernel at x = x' (a unit vector) as m grows: naive NTK vs SG-NTK (and m = inf for SG)."""
    x = circle_inputs(1)
    naive = [float(erf_ntk(x, x, m, sigma_b=sigma_b)) for m in ms]
    sg = [float(erf_ntk(x, x, m, surrogate_m=surrogate_m, sigma_b=sigma_b)) for m in ms]
    return {"ms": list(ms), "naive_diagonal": naive, "sg_diagonal": sg,
            "sg_diagonal_sign_limit": float(erf_ntk(x, x, math.inf, surrogate_m=surrogate_m, sigma_b=sigma_b))}
