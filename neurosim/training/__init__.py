"""Training for time-major spiking models: the :class:`Trainer` (surrogate-gradient BPTT,
truncated BPTT, clipping, schedules, checkpoints, DDP), losses, metrics and spike encoders."""

from neurosim.training import encoders
from neurosim.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from neurosim.training.distributed import DistContext, init_distributed
from neurosim.training.encoders import delta, direct, latency, make_encoder, rate
from neurosim.training.losses import LOSSES, accuracy, ce_count, ce_mean, get_loss, mse_count, predictions
from neurosim.training.monitors import SpikeRateMonitor, spiking_layers
from neurosim.training.seeding import rng_state, seed_everything, set_rng_state
from neurosim.training.trainer import Trainer

__all__ = [
    "CheckpointError", "DistContext", "LOSSES", "SpikeRateMonitor", "Trainer", "accuracy", "ce_count",
    "ce_mean", "delta", "direct", "encoders", "get_loss", "init_distributed", "latency", "load_checkpoint",
    "make_encoder", "mse_count", "predictions", "rate", "rng_state", "save_checkpoint", "seed_everything",
    "set_rng_state", "spiking_layers",
]
