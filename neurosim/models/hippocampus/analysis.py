"""Measurements used by the hippocampal model's experiments: autocorrelations, wake tracking,
position decoding, path-integration trials and the ring-attractor weight analysis."""

from __future__ import annotations

import numpy as np
import torch

from neurosim.models.hippocampus.environments import RingTrack
from neurosim.models.hippocampus.network import HelmholtzHippocampus


def autocorrelation(x, max_lag: int, window: int | None = None) -> np.ndarray:
    """Autocorrelation of x [T, n] for lags 0..max_lag steps, averaged over units.

    As the authors estimate it: for each lag, the Pearson correlation between x[lag:] and
    x[:-lag] of each unit inside a window (they use the last 50 s). With ``window`` set, the
    recording is cut into consecutive windows of that many steps and the estimates are averaged
    over windows too (less noise, same estimator); None uses the whole recording as one window."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    window = x.shape[0] if window is None else int(window)
    if max_lag + 2 > window or window > x.shape[0]:
        raise ValueError(f"max_lag={max_lag} and window={window} must satisfy max_lag + 2 <= window <= T={x.shape[0]}")
    estimates = []
    for start in range(0, x.shape[0] - window + 1, window):
        w = x[start:start + window]
        per_lag = []
        for lag in range(max_lag + 1):
            a, b = (w[lag:], w[:window - lag]) if lag else (w, w)
            a, b = a - a.mean(axis=0), b - b.mean(axis=0)
            denom = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
            live = denom > 1e-12  # silent units carry no autocorrelation
            per_lag.append(((a * b).sum(axis=0)[live] / denom[live]).mean() if live.any() else 0.0)
        estimates.append(per_lag)
    return np.mean(np.asarray(estimates), axis=0)


def tracking_r2(prediction, target) -> float:
    """1 - var(prediction - target) / var(target), pooled over units: 1 means perfect tracking."""
    prediction, target = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    residual = ((prediction - target) ** 2).mean()
    spread = ((target - target.mean(axis=0)) ** 2).mean()
    return float(1.0 - residual / spread)


class PositionDecoder:
    """Maps p rates to a position on a periodic track via (cos, sin) of the angle.

    method "gp": scikit-learn's GaussianProcessRegressor with its default (fixed) kernel and
    random_state=10, as the authors used; "ridge": a ridge regression (alpha 0.01), much cheaper."""

    def __init__(self, length: float = 1.0, method: str = "gp"):
        if method not in ("gp", "ridge"):
            raise ValueError(f"method: expected 'gp' or 'ridge', got {method!r}")
        self.length, self.method = float(length), method

    def fit(self, rates, positions) -> "PositionDecoder":
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.linear_model import Ridge

        angle = 2 * np.pi * np.asarray(positions, np.float64) / self.length
        target = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        self.model = GaussianProcessRegressor(random_state=10) if self.method == "gp" else Ridge(alpha=0.01)
        self.model.fit(np.asarray(rates, np.float64), target)
        return self

    def predict(self, rates) -> np.ndarray:
        out = self.model.predict(np.asarray(rates, np.float64))
        return np.mod(np.arctan2(out[:, 1], out[:, 0]) * self.length / (2 * np.pi), self.length)


def ring_error(a, b, length: float = 1.0) -> np.ndarray:
    d = np.mod(np.asarray(a) - np.asarray(b), length)
    return np.minimum(d, length - d)


def path_integration_trials(model: HelmholtzHippocampus, track: RingTrack, decoder: PositionDecoder, *,
                            trials: int = 50, spin_up_steps: int = 40, test_steps: int = 40, sim: int = 0,
                            seed: int = 0, include_spin_up: bool = False) -> np.ndarray:
    """The authors' path-integration test, with the trials run side by side as a batch.

    Each trial is a copy of simulation ``sim`` of the trained model with its own agent (random start)
    on the same place fields: ``spin_up_steps`` steps in theta mode, then ``test_steps`` steps of
    pure generation (sleep mode: no sensory drive reaches any soma), noise off and no learning
    throughout. Returns the decoding error (m) [trials, test_steps] of the p soma rates, or
    [trials, spin_up_steps + test_steps] with ``include_spin_up`` (the window the authors' error
    curves and remapping bars average over)."""
    trial_model = model.replicate(trials, sim=sim, seed=seed)
    trial_track = track.replicate(trials, sim=sim, seed=seed)
    warm = trial_track.sample(spin_up_steps)
    warm_rec = trial_model.run(warm.place_cells, warm.velocity_cells, mode="theta", learn=False, noise=False,
                               record=("p",) if include_spin_up else ())
    test = trial_track.sample(test_steps)
    rec = trial_model.run(test.place_cells, test.velocity_cells, mode="sleep", learn=False, noise=False,
                          record=("p",))
    soma, position = rec.p[:, 2].numpy(), test.position.numpy()  # [T, trials, n_p], [T, trials]
    if include_spin_up:
        soma = np.concatenate([warm_rec.p[:, 2].numpy(), soma])
        position = np.concatenate([warm.position.numpy(), position])
    decoded = decoder.predict(soma.reshape(-1, soma.shape[-1])).reshape(position.shape)
    return ring_error(decoded, position, track.length).T


def g_basal_rate_maps(model: HelmholtzHippocampus, track: RingTrack, sim: int = 0, points: int = 500):
    """g's basal-evaluated rate maps [points, n_g] (p driven by the place cells, no noise), on a grid."""
    grid = torch.linspace(0, track.length, points + 1, dtype=torch.float64)[:-1]
    place = track.place_cell_rates(grid.unsqueeze(-1).expand(points, track.batch))[:, sim]  # [points, n_p]
    w = model.w_g_basal[sim].to(torch.float64)
    n_p = model.config.n_p
    v = place.to(torch.float64) @ w[:, :n_p].T
    if w.shape[1] > n_p:
        v = v + w[:, n_p]
    rates = torch.tanh(v).clamp_min(0) if model.config.g_dendrite == "retanh" else v
    return grid.numpy(), rates.numpy()


def ring_weight_profiles(w_g_apical, rate_maps, active_fraction: float = 0.1) -> dict:
    """Sorts the g units by the peak of their rate maps, reorders the recurrent and the two
    conjunctive-velocity weight blocks, rolls row i by -i (so the diagonal lands at offset 0)
    and averages over rows. Units whose peak rate is below ``active_fraction`` of the largest are
    left out (silent units do not join the ring). Returns offsets and the three mean profiles."""
    w = np.asarray(w_g_apical, np.float64)
    maps = np.asarray(rate_maps, np.float64)
    G = maps.shape[1]
    peak = maps.max(axis=0)
    active = np.flatnonzero(peak >= active_fraction * peak.max())
    order = active[np.argsort(np.argmax(maps[:, active], axis=0))]
    n = len(order)
    blocks = {"recurrent": w[:, :G]}
    if w.shape[1] >= 3 * G:
        blocks["cvc_left"] = w[:, G:2 * G]
        blocks["cvc_right"] = w[:, 2 * G:3 * G]
    offsets = np.arange(n) - n // 2
    out = {"offsets": offsets, "active_units": n, "order": order}
    for name, block in blocks.items():
        sorted_block = block[np.ix_(order, order)]
        rolled = np.stack([np.roll(sorted_block[i], -i) for i in range(n)])
        out[name] = np.roll(rolled.mean(axis=0), n // 2)  # offset 0 in the middle
        out[name + "_matrix"] = sorted_block
    return out
