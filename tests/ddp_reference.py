"""The model and data shared by the DDP worker and the single-process reference step."""

import torch

from neurosim.models import SpikingMLP

GLOBAL_BATCH = 8
LR = 0.5


def build():
    torch.manual_seed(0)
    return SpikingMLP([6, 16, 3])


def dataset():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(GLOBAL_BATCH, 6, generator=g) * 3
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    return torch.utils.data.TensorDataset(x, y)
