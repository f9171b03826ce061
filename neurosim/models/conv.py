"""A small convolutional spiking network for event-camera frames ``x[T, B, C, H, W]``."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import nn

from neurosim import layers as td
from neurosim.models.stack import (
    LIReadout,
    check_model_call,
    count_stateful,
    mark_stateful,
    run_stack,
    stateful_neuron,
)


class SpikingConvNet(nn.Module):
    """Conv blocks ``Conv2d -> BatchNorm2d -> neuron -> pool`` over every time step, then
    ``Flatten -> [Dropout] -> Linear -> readout``; input ``x[T, B, C, H, W]`` (frames, e.g. N-MNIST
    34x34x2 or DVS Gesture 32x32x2), output ``[T, B, num_classes]``.

    Args:
        input_shape: (C, H, W) of one frame.
        num_classes: outputs.
        channels: output channels of each conv block.
        kernel_size: odd kernel size; padding keeps H and W (``kernel_size // 2``) before pooling.
        pool: "max" or "avg" pooling of ``pool_size`` after each block (1 for none).
        neuron: a neuron name from :func:`neurosim.models.make_neuron` (with ``neuron_options``).
        batch_norm: batch norm over time and batch after each convolution (in training mode the
            statistics are those of each call: see truncated BPTT below).
        dropout: probability of :class:`neurosim.layers.Dropout` (one mask per sequence) before the readout.
        readout: "li" (a leaky integrator, train with ``ce_mean``; default) or "spikes" (a neuron
            layer, ``ce_count``); :attr:`default_loss` names the matching loss. (After batch-normed
            conv blocks the readout's input is dense; a spiking readout then saturates and learns
            far more slowly on synthetic N-MNIST, 0.17 vs 1.0 test accuracy after 4 epochs.)

    ``model(x, state, return_state=True)`` returns ``(out, states)`` for truncated BPTT.
    With ``batch_norm=True`` in training mode each call normalises over its own time x batch
    samples (and updates the running statistics per call), so a sequence run in truncated-BPTT
    chunks is not the same computation as one call on the whole sequence; in eval mode (running
    statistics) or with ``batch_norm=False`` the chunks and the whole call agree.
    """

    def __init__(self, input_shape: Sequence[int] = (2, 34, 34), num_classes: int = 10,
                 channels: Sequence[int] = (12, 32), kernel_size: int = 5, pool: str = "max", pool_size: int = 2,
                 neuron: str = "lif", neuron_options: Optional[Dict] = None, batch_norm: bool = True,
                 dropout: float = 0.0, readout: str = "li"):
        super().__init__()
        if len(input_shape) != 3 or not all(isinstance(s, int) and s > 0 for s in input_shape):
            raise ValueError(f"input_shape: expected (C, H, W) of positive ints, got {tuple(input_shape)}")
        if not channels or not all(isinstance(c, int) and c > 0 for c in channels):
            raise ValueError(f"channels: expected positive ints, one per conv block, got {channels!r}")
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd positive int, got {kernel_size!r}")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"pool_size: expected a positive int (1 for no pooling), got {pool_size!r}")
        if pool not in ("max", "avg"):
            raise ValueError(f"pool: expected 'max' or 'avg', got {pool!r}")
        if readout not in ("spikes", "li"):
            raise ValueError(f"readout: expected 'spikes' or 'li', got {readout!r}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes: expected a positive int, got {num_classes!r}")
        self.input_shape = tuple(input_shape)
        c, h, w = self.input_shape
        blocks = []
        for out_c in channels:
            blocks.append(td.Conv2d(c, out_c, kernel_size, padding=kernel_size // 2, bias=not batch_norm))
            if batch_norm:
                blocks.append(td.BatchNorm2d(out_c))
            blocks.append(mark_stateful(stateful_neuron(neuron, neuron_options)))
            if pool_size > 1:
                blocks.append((td.MaxPool2d if pool == "max" else td.AvgPool2d)(pool_size))
                h, w = h // pool_size, w // pool_size
            if h < 1 or w < 1:
                raise ValueError(f"input_shape {self.input_shape} is too small for {len(channels)} blocks "
                                 f"pooling by {pool_size}")
            c = out_c
        blocks.append(td.Flatten())
        if dropout:
            blocks.append(mark_stateful(td.Dropout(dropout, return_state=True)))  # one mask across --tbptt chunks
        blocks.append(nn.Linear(c * h * w, num_classes))
        blocks.append(mark_stateful(stateful_neuron(neuron, neuron_options) if readout == "spikes"
                                    else LIReadout()))
        self.layers = nn.ModuleList(blocks)
        self.readout = readout
        self.default_loss = "ce_count" if readout == "spikes" else "ce_mean"

    def forward(self, x: torch.Tensor, state=None, return_state: bool = False):
        check_model_call(self, x, state, return_state, count_stateful(self.layers))
        if not isinstance(x, torch.Tensor) or x.dim() != 5 or tuple(x.shape[2:]) != self.input_shape:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"SpikingConvNet expects frames [T, B, C, H, W] with (C, H, W) = {self.input_shape}, "
                             f"got {shape}; a conv model needs image-shaped event frames (N-MNIST, DVS "
                             "Gesture), not 1-D data such as SHD")
        return run_stack(self.layers, x, state, return_state)
