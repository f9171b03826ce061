"""Inputs of the hippocampal model's two experiments, batched along a simulation axis S.

* ``GaussianProcessLatents``: N_z latents, each a zero-mean unit-variance Gaussian process with an
  RBF kernel exp(-lag^2 / (2 tau^2)) (tau = 1 s), and ``LatentMixing``: fixed random linear
  features W_mix z (experiment 1).
* ``RingTrack``: a periodic 1-D track (1 m), an agent whose velocity is an Ornstein-Uhlenbeck
  process (mean 0, sd 0.5 m/s, coherence time 0.7 s), Gaussian place cells (width 0.06 m, peak 1)
  and two velocity cells (experiment 2).

These are our own implementations with ratinabox's statistics (the authors used ratinabox 1.6.3),
written for batches of simulations on torch tensors; ratinabox is not needed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch


def _generator(seed):
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    g.manual_seed(int(seed) if seed is not None else torch.seed())
    return g


class GaussianProcessLatents:
    """Streams samples of ``n_latents`` independent GPs (RBF kernel, ``timescale`` s) at step ``dt``
    for ``batch`` simulations: ``sample(steps) -> [steps, batch, n_latents]``.

    ``start="stationary"`` (default): each block of ``block_steps`` samples is an exact stationary
    GP draw made by circulant embedding (FFT) of the RBF covariance; consecutive blocks are joined
    by a cos/sin crossfade over ``4 * timescale`` so the marginal variance stays 1 and the path
    stays smooth. The process is stationary from the first step.

    ``start="zero"``: the authors' sampler (``GaussianProcessSampler`` in HelmholtzHippocampus'
    ``HH_utils.py``): each sample is drawn from the GP posterior given the previous
    ``3 timescale / dt - 1`` samples (covariance RBF + 1e-5 I), with the history before the
    first sample taken as zeros: an autoregressive process of that order, run here for all series
    at once. It starts at 0 and its standard deviation ramps up to 1 over about 2 timescales
    (0.04 at 0.4 s, 0.26 at 1 s, 0.83 at 2 s with the defaults). Because the authors' mismatch loss
    is an EMA over 60 s that starts from its value at 0.4 s, this ramp enters the loss they
    report before training."""

    STARTS = ("stationary", "zero")

    def __init__(self, n_latents: int = 5, timescale: float = 1.0, dt: float = 0.025, batch: int = 1,
                 seed=None, block_steps: int = 1 << 16, dtype=torch.float32, start: str = "stationary"):
        if n_latents < 1 or batch < 1:
            raise ValueError(f"n_latents and batch must be >= 1, got {n_latents}, {batch}")
        if not (timescale > 0 and dt > 0 and math.isfinite(timescale) and math.isfinite(dt)):
            raise ValueError(f"timescale and dt must be finite and > 0, got {timescale}, {dt}")
        if start not in self.STARTS:
            raise ValueError(f"start: expected one of {self.STARTS}, got {start!r}")
        self.n_latents, self.timescale, self.dt, self.batch, self.dtype = n_latents, timescale, dt, batch, dtype
        self.start = start
        self.generator = _generator(seed)
        if start == "zero":
            self._init_sequential()
            return
        self.overlap = max(1, int(round(4 * timescale / dt)))
        self.block_steps = max(int(block_steps), 8 * self.overlap)
        self._buffer = self._draw_block()
        self._cursor = 0

    def _init_sequential(self) -> None:
        # The authors' window: t_range = arange(0, 3 tau, dt) (N + 1 points), jitter 1e-5 on the whole
        # diagonal; the next sample's posterior given the N previous ones is N(a . past, var).
        times = np.arange(0.0, 3 * self.timescale, self.dt)
        if len(times) < 3:
            raise ValueError(f"start='zero': the window 3 timescale / dt must hold >= 3 steps, got {len(times)}")
        cov = np.exp(-((times[:, None] - times[None, :]) ** 2) / (2 * self.timescale**2)) + 1e-5 * np.eye(len(times))
        past, cross = cov[:-1, :-1], cov[:-1, -1]
        self._coefficients = np.linalg.solve(past, cross)  # oldest first: [i] weighs the sample N - i steps back
        self.innovation_sd = float(np.sqrt(cov[-1, -1] - cross @ self._coefficients))
        self._history = np.zeros((len(self._coefficients), self.batch * self.n_latents))

    def _sample_sequential(self, steps: int) -> torch.Tensor:
        drive = self.innovation_sd * torch.randn(steps, self.batch * self.n_latents, generator=self.generator,
                                                 dtype=torch.float64).numpy()
        window = len(self._coefficients)
        paths = np.empty((window + steps, drive.shape[1]))
        paths[:window] = self._history
        a = self._coefficients
        for t in range(steps):  # the authors' recursion (a dot product per step), all series at once
            paths[window + t] = a @ paths[t:t + window] + drive[t]
        self._history = paths[-window:].copy()
        return torch.from_numpy(paths[window:].copy()).reshape(steps, self.batch, self.n_latents)

    def _draw_block(self) -> torch.Tensor:
        length = self.block_steps + self.overlap
        # Circulant embedding on a period of 2 * length so that every lag inside the block is exact.
        period = 2 * length
        lags = torch.arange(period, dtype=torch.float64)
        lags = torch.minimum(lags, period - lags) * self.dt
        eigen = torch.fft.fft(torch.exp(-(lags**2) / (2 * self.timescale**2))).real.clamp_min(0)
        count = self.batch * self.n_latents
        noise = torch.complex(torch.randn(count, period, generator=self.generator, dtype=torch.float64),
                              torch.randn(count, period, generator=self.generator, dtype=torch.float64))
        paths = torch.fft.fft(torch.sqrt(eigen / period) * noise)
        block = paths.real[:, :length]  # the imaginary part is a second, independent draw; unused
        return block.T.reshape(length, self.batch, self.n_latents)

    def sample(self, steps: int) -> torch.Tensor:
        if self.start == "zero":
            return self._sample_sequential(int(steps)).to(self.dtype)
        out = []
        while steps > 0:
            available = self.block_steps - self._cursor
            if available == 0:
                fresh = self._draw_block()
                angle = torch.linspace(0, math.pi / 2, self.overlap, dtype=torch.float64).view(-1, 1, 1)
                tail = self._buffer[self.block_steps:]
                fresh[: self.overlap] = torch.cos(angle) * tail + torch.sin(angle) * fresh[: self.overlap]
                self._buffer, self._cursor = fresh, 0
                continue
            take = min(steps, available)
            out.append(self._buffer[self._cursor:self._cursor + take])
            self._cursor += take
            steps -= take
        return torch.cat(out).to(self.dtype)


class LatentMixing:
    """Fixed random features ``W_mix z``: W_mix ~ N(0, scale / sqrt(n_latents)), one per simulation."""

    def __init__(self, n_latents: int = 5, n_features: int = 50, batch: int = 1, scale: float = 1.0, seed=None,
                 dtype=torch.float32):
        g = _generator(seed)
        self.weights = (torch.randn(batch, n_features, n_latents, generator=g, dtype=torch.float64)
                        * (scale / math.sqrt(n_latents))).to(dtype)

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        """latents [T, S, n_latents] -> features [T, S, n_features]."""
        return torch.einsum("sfz,tsz->tsf", self.weights, latents.to(self.weights.dtype)).contiguous()


class RingSample(NamedTuple):
    position: torch.Tensor        # [T, S] in [0, length)
    velocity: torch.Tensor        # [T, S] m/s
    place_cells: torch.Tensor     # [T, S, n_place_cells]
    velocity_cells: torch.Tensor  # [T, S, 2]: (v+, v-) = (max(0, v), max(0, -v)) / velocity_scale


class RingTrack:
    """A periodic 1-D track with an OU-velocity agent and Gaussian place cells, for S simulations.

    Each step follows ratinabox's Agent.update order: the position first moves by the previous
    step's velocity (pos_k = pos_{k-1} + v_{k-1} dt, wrapped), then the velocity takes its OU step
    v_k = v_{k-1} + (mean - v_{k-1}) dt / tau + sd sqrt(2 dt / tau) n; the velocity cells of step k
    encode v_k. Place-cell centres are evenly spaced with a uniform
    jitter inside each slot (ratinabox's jittered default); rate = exp(-d^2 / (2 width^2)) with d
    the periodic distance. ``velocity_scale`` (the velocity cells' normaliser) is fixed at
    construction to speed_mean + speed_sd, as in ratinabox."""

    def __init__(self, batch: int = 1, length: float = 1.0, n_place_cells: int = 100, width: float = 0.06,
                 speed_mean: float = 0.0, speed_sd: float = 0.5, speed_coherence: float = 0.7, dt: float = 0.025,
                 seed=None, dtype=torch.float32):
        for name, value in (("length", length), ("width", width), ("speed_sd", speed_sd),
                            ("speed_coherence", speed_coherence), ("dt", dt)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
        if batch < 1 or n_place_cells < 1:
            raise ValueError(f"batch and n_place_cells must be >= 1, got {batch}, {n_place_cells}")
        if dt >= speed_coherence:
            raise ValueError(f"dt: must be shorter than speed_coherence={speed_coherence}, got {dt}")
        self.batch, self.length, self.width, self.dt, self.dtype = batch, float(length), float(width), dt, dtype
        self.speed_mean, self.speed_sd, self.speed_coherence = float(speed_mean), float(speed_sd), float(speed_coherence)
        self.velocity_scale = self.speed_mean + self.speed_sd
        self.generator = _generator(seed)
        slots = torch.arange(n_place_cells, dtype=torch.float64)
        jitter = torch.rand(batch, n_place_cells, generator=self.generator, dtype=torch.float64)
        self.centres = (slots + jitter) * (self.length / n_place_cells)
        self.position = torch.rand(batch, generator=self.generator, dtype=torch.float64) * self.length
        self.velocity = self.speed_mean + self.speed_sd * torch.randn(batch, generator=self.generator,
                                                                      dtype=torch.float64)

    def distance(self, a, b):
        """Periodic distance on the track (broadcasting)."""
        d = torch.remainder(a - b, self.length)
        return torch.minimum(d, self.length - d)

    def place_cell_rates(self, position: torch.Tensor) -> torch.Tensor:
        """position [..., S] -> rates [..., S, n_place_cells]."""
        d = self.distance(position.to(torch.float64).unsqueeze(-1), self.centres)
        return torch.exp(-(d**2) / (2 * self.width**2)).to(self.dtype)

    def velocity_cell_rates(self, velocity: torch.Tensor) -> torch.Tensor:
        v = velocity.to(torch.float64).unsqueeze(-1) / self.velocity_scale
        return torch.cat([v.clamp_min(0), (-v).clamp_min(0)], dim=-1).to(self.dtype)

    def replicate(self, copies: int, *, sim: int = 0, seed=None) -> "RingTrack":
        """``copies`` agents on simulation ``sim``'s place fields, each from a random start."""
        if not 0 <= sim < self.batch:
            raise ValueError(f"sim: expected 0 <= sim < {self.batch}, got {sim}")
        clone = RingTrack(copies, self.length, self.centres.shape[1], self.width, self.speed_mean, self.speed_sd,
                          self.speed_coherence, self.dt, seed=seed, dtype=self.dtype)
        clone.velocity_scale = self.velocity_scale
        clone.centres = self.centres[sim:sim + 1].expand(copies, -1).clone()
        return clone

    def remap(self) -> None:
        """Shuffles the place fields among the place cells (a fresh permutation per simulation)."""
        order = torch.argsort(torch.rand(self.centres.shape, generator=self.generator), dim=1)
        self.centres = torch.gather(self.centres, 1, order)

    def sample(self, steps: int) -> RingSample:
        """Moves the agents ``steps`` steps and returns where they were and what the cells fired."""
        if steps < 1:
            raise ValueError(f"steps: must be >= 1, got {steps}")
        keep = 1.0 - self.dt / self.speed_coherence
        kick = self.speed_sd * math.sqrt(2.0 * self.dt / self.speed_coherence)
        drive = (self.speed_mean * self.dt / self.speed_coherence
                 + kick * torch.randn(steps, self.batch, generator=self.generator, dtype=torch.float64)).numpy()
        # AR(1) recursion v_k = keep v_{k-1} + drive_k, run by scipy's IIR filter (no Python loop).
        from scipy.signal import lfilter

        velocity = lfilter([1.0], [1.0, -keep], drive, axis=0, zi=keep * self.velocity.numpy()[None, :])[0]
        velocity = torch.from_numpy(np.ascontiguousarray(velocity))
        # ratinabox moves the agent with the velocity it had *before* this step's OU update, so the
        # velocity cells lead the place cells by one step (the ring is driven by v_{k-1} between
        # steps k and k+1, while the agent moves by v_k: one step of lag, as in the authors' runs).
        moving = torch.cat([self.velocity.unsqueeze(0), velocity[:-1]])
        position = torch.remainder(self.position + torch.cumsum(moving * self.dt, dim=0), self.length)
        self.velocity, self.position = velocity[-1].clone(), position[-1].clone()
        return RingSample(position, velocity.to(self.dtype), self.place_cell_rates(position),
                          self.velocity_cell_rates(velocity))
