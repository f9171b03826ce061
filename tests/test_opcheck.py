"""torch.library.opcheck of the native scan ops with the LIF model: schema, fake (meta) kernels,
autograd registration, over dtypes, reset modes and the optional inputs. (Every other model of the
scan is opchecked by the contract suite, tests/test_scan_contract.py.)"""

import pytest
import torch
from conftest import NATIVE, needs_native

from neurosim.core.models import LIF

DEVICES = [d for _, d in NATIVE]


def forward_args(device, dtype, T=37, B=2, F=5, per_feature=True, record=True, reset=0, requires_grad=True):
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    x = (torch.randn(T, B, F) * 1.5).to(device, dtype).requires_grad_(requires_grad)
    u0 = torch.zeros(1, B, F, device=device, dtype=acc).requires_grad_(requires_grad)
    beta = torch.full((F if per_feature else 1,), 0.9, device=device, dtype=acc).requires_grad_(requires_grad)
    thr = torch.full((F if per_feature else 1,), 1.0, device=device, dtype=acc).requires_grad_(requires_grad)
    return (x, u0, [beta, thr], LIF.code, reset, 0, 25.0, True, record)


@needs_native
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("reset", [0, 1, 2])
def test_opcheck_lif_forward(device, dtype, record, reset):
    args = forward_args(device, dtype, record=record, reset=reset, per_feature=reset != 1)
    torch.library.opcheck(torch.ops.neurosim.scan_forward.default, args)


@needs_native
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("with_optional", [False, True])
def test_opcheck_lif_backward(device, with_optional):
    x, u0, params, model, *cfg = forward_args(device, torch.float32, requires_grad=False)
    _, _, checkpoints, _ = torch.ops.neurosim.scan_forward(x, u0, params, model, *cfg)
    grad_out = torch.randn_like(x)
    grad_u = torch.randn_like(u0) if with_optional else None
    grad_m = torch.randn(1, *x.shape, device=device) if with_optional else None
    args = (grad_out, grad_u, grad_m, x, checkpoints, params, [True, True, True, True], model, 0, 1, 2.0, False)
    torch.library.opcheck(torch.ops.neurosim.scan_backward.default, args)
