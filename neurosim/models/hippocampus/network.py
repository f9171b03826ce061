"""The theta-gated Helmholtz model of the hippocampal formation (George, Barry, Stachenfeld,
Clopath, Fukai, NeurIPS 2023), batched over S independent simulations.

Two layers of three-compartment neurons (basal, apical, soma):

* p ("sensory", hippocampus): basal = the sensory features through fixed identity weights;
  apical = top-down prediction from g through plastic ``w_p_apical`` (+ optional bias).
* g ("hidden", entorhinal cortex): basal = p through plastic ``w_g_basal`` (+ optional bias,
  the recognition model); apical = g itself (and, for path integration, 2 N_g conjunctive velocity
  cells) through plastic ``w_g_apical`` (the generative model / temporal prior).

Each step (dt) follows the authors' update order: p (reads g of the previous step), then g (reads
the new p, and g and the conjunctive cells of the previous step), then the conjunctive cells
CVC_L = relu(g + v+ - v- - threshold), CVC_R = relu(g - v+ + v- - threshold) with the velocity cells
of the previous step. The matrix products run through torch.bmm; all per-neuron and per-synapse
elementwise work of a layer (noise, dendrites, theta-gated soma, errors, plasticity-induction
trace, weight update) is one native call (``neurosim.core.hippocampus_op``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np
import torch

from neurosim.core.hippocampus_op import CompartmentConstants, layer_step_fn
from neurosim.models.hippocampus.theta import ThetaGate

PATHWAYS = ("p_apical", "g_basal", "g_apical")
MODES = ("theta", "wake", "sleep")


@dataclass
class HippocampusConfig:
    """Sizes and constants. Defaults are experiment 1 of the paper (``HippocampusConfig.latents()``)."""

    n_features: int = 50
    n_p: int = 50
    n_g: int = 5
    p_dendrite: str = "linear"
    g_dendrite: str = "linear"
    velocity_conjunctive: bool = False  # add 2 n_g conjunctive velocity cells to g's apical input
    cvc_threshold: float = 1.0
    bias_p_apical: bool = False
    bias_g_basal: bool = False
    eta: dict = field(default_factory=lambda: {"p_apical": 1e-3, "g_basal": 1e-3, "g_apical": 1e-3})
    l1: dict = field(default_factory=lambda: {"p_apical": 0.0, "g_basal": 0.0, "g_apical": 0.0})
    l2: dict = field(default_factory=lambda: {"p_apical": 0.0, "g_basal": 0.0, "g_apical": 0.005})
    # Initial weights ~ N(0, scale / sqrt(n_in)); biases start at 0.
    w_init_p_apical: float = 1.0
    w_init_g_basal: float = 1.0
    w_init_g_recurrent: float = 0.1
    w_init_cvc: float = 0.2
    # Stationary sd of the OU dendritic noise per compartment; its correlation time.
    noise_sd: dict = field(default_factory=lambda: {"p_basal": 0.01, "p_apical": 0.01, "g_basal": 0.01,
                                                    "g_apical": 0.05})
    noise_tau: float = 0.3
    tau_pi: float = 0.1       # plasticity-induction filter (s)
    dt: float = 0.025
    theta: ThetaGate = field(default_factory=ThetaGate)
    loss_tau: float = 60.0    # EMA time constant of the reported mismatch loss (s)

    @classmethod
    def latents(cls, **overrides) -> "HippocampusConfig":
        """Experiment 1: 5 GP latents mixed into 50 features; p 50 linear, g 5 linear."""
        return dataclasses.replace(cls(), **overrides)

    @classmethod
    def path_integration(cls, n: int = 100, **overrides) -> "HippocampusConfig":
        """Experiment 2: 100 place cells; p 100 linear, g 100 retanh with conjunctive velocity cells."""
        base = cls(n_features=n, n_p=n, n_g=n, g_dendrite="retanh", velocity_conjunctive=True,
                   bias_p_apical=True, bias_g_basal=True,
                   eta={"p_apical": 0.01, "g_basal": 0.01, "g_apical": 0.01},
                   l2={"p_apical": 0.0, "g_basal": 0.0, "g_apical": 0.0},
                   w_init_g_recurrent=0.2, w_init_cvc=0.2,
                   noise_sd={"p_basal": 0.01, "p_apical": 0.01, "g_basal": 0.01, "g_apical": 0.01})
        return dataclasses.replace(base, **overrides)

    def validate(self) -> None:
        for name in ("n_features", "n_p", "n_g"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        if self.n_p != self.n_features:
            raise ValueError(f"n_p: p's basal input is the features through identity weights, so n_p must equal "
                             f"n_features={self.n_features}, got n_p={self.n_p}")
        if not isinstance(self.theta, ThetaGate):
            raise TypeError(f"theta: expected a ThetaGate, got {type(self.theta).__name__}")
        scalars = {k: getattr(self, k) for k in ("cvc_threshold", "w_init_p_apical", "w_init_g_basal",
                                                 "w_init_g_recurrent", "w_init_cvc", "noise_tau", "tau_pi",
                                                 "dt", "loss_tau")}
        for table in ("eta", "l1", "l2"):
            d = getattr(self, table)
            if set(d) != set(PATHWAYS):
                raise ValueError(f"{table}: expected the keys {PATHWAYS}, got {tuple(d)}")
            scalars.update({f"{table}[{k!r}]": v for k, v in d.items()})
        if set(self.noise_sd) != {"p_basal", "p_apical", "g_basal", "g_apical"}:
            raise ValueError(f"noise_sd: expected keys p_basal, p_apical, g_basal, g_apical, got {tuple(self.noise_sd)}")
        scalars.update({f"noise_sd[{k!r}]": v for k, v in self.noise_sd.items()})
        for name, value in scalars.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {value!r}")
        for name in ("dt", "noise_tau", "tau_pi", "loss_tau"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.tau_pi < self.dt:
            raise ValueError(f"tau_pi: must be >= dt={self.dt} (the plasticity filter keeps 1 - dt/tau_pi), "
                             f"got {self.tau_pi}")
        self.theta.check_dt(self.dt)
        for name in ("p_dendrite", "g_dendrite"):
            if getattr(self, name) not in ("linear", "retanh"):
                raise ValueError(f"{name}: expected 'linear' or 'retanh', got {getattr(self, name)!r}")


class HippocampusRecord(NamedTuple):
    """What ``run`` returns. Rates are [T, 3, S, N]: (basal, apical, soma) along axis 1."""

    p: Optional[torch.Tensor]
    g: Optional[torch.Tensor]
    mismatch: torch.Tensor         # [T, S, 2]: mean_i |basal - apical| of p and g at each step
    loss: torch.Tensor             # [T, S, 2]: its EMA over loss_tau (NaN before the first 2 theta cycles)
    apical_fraction: torch.Tensor  # [T]: the gate's apical weight at each step


class HelmholtzHippocampus:
    """The model for ``batch`` independent simulations (own weights, noise and inputs each).

    ``run(features, velocity_cells=None, mode="theta", learn=True, noise=True, record=...)`` advances
    the model over features [T, S, n_features] and returns a ``HippocampusRecord``. Weights:
    ``w_p_apical`` [S, n_p, n_g (+1)], ``w_g_basal`` [S, n_g, n_p (+1)], ``w_g_apical``
    [S, n_g, n_g (+ 2 n_g)] (columns: g, then CVC_L, then CVC_R); a trailing +1 column is a bias.
    """

    def __init__(self, config: HippocampusConfig | None = None, batch: int = 1, *, dtype=torch.float32,
                 device="cpu", seed=None, backend: str = "auto"):
        self.config = config = config if config is not None else HippocampusConfig()
        config.validate()
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch: expected an int >= 1, got {batch!r}")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")
        self.batch, self.dtype, self.device, self.backend = batch, dtype, torch.device(device), backend
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed) if seed is not None else torch.seed())
        self._step_fn = layer_step_fn(backend, self.device)
        S, P, G = batch, config.n_p, config.n_g
        self.n_cvc = 2 * G if config.velocity_conjunctive else 0

        def init(rows, cols, scale, bias):
            w = torch.randn(S, rows, cols + int(bias), generator=self.generator, device=self.device,
                            dtype=torch.float64) * (scale / math.sqrt(cols))
            if bias:
                w[..., -1] = 0.0
            return w.to(dtype)

        self.w_p_apical = init(P, G, config.w_init_p_apical, config.bias_p_apical)
        self.w_g_basal = init(G, P, config.w_init_g_basal, config.bias_g_basal)
        recurrent = init(G, G, config.w_init_g_recurrent, False)
        if self.n_cvc:
            cvc = init(G, self.n_cvc, config.w_init_cvc, False)
            recurrent = torch.cat([recurrent, cvc], dim=2)
        self.w_g_apical = recurrent.contiguous()
        self.trace_p_apical = torch.zeros_like(self.w_p_apical)
        self.trace_g_basal = torch.zeros_like(self.w_g_basal)
        self.trace_g_apical = torch.zeros_like(self.w_g_apical)
        self.time = 0.0
        self.steps_done = 0
        self.reset_activity()
        self._loss_state = None  # [S, 2] numpy: the last value of the loss EMA, once started

    # ----------------------------------------------------------------------------- state handling
    def reset_activity(self) -> None:
        """Zeroes all rates, the dendritic noise and the conjunctive cells (weights and traces stay)."""
        S, P, G = self.batch, self.config.n_p, self.config.n_g
        kw = dict(device=self.device, dtype=self.dtype)
        self.p_rates = torch.zeros(3, S, P, **kw)
        self.g_rates = torch.zeros(3, S, G, **kw)
        self.noise_p = torch.zeros(2, S, P, **kw)
        self.noise_g = torch.zeros(2, S, G, **kw)
        # g's apical input: [g | CVC_L | CVC_R] of the previous step.
        self.g_apical_input = torch.zeros(S, G + self.n_cvc, **kw)
        self.last_velocity_cells = torch.zeros(S, 2, **kw)

    def weights(self) -> dict:
        return {"p_apical": self.w_p_apical, "g_basal": self.w_g_basal, "g_apical": self.w_g_apical}

    def replicate(self, copies: int, *, sim: int = 0, seed=None) -> "HelmholtzHippocampus":
        """A new model with ``copies`` simulations, each a copy of simulation ``sim`` (weights,
        traces, activity, loss state); e.g. to run many test trials of one trained network at once."""
        if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
            raise ValueError(f"copies: expected an int >= 1, got {copies!r}")
        if not 0 <= sim < self.batch:
            raise ValueError(f"sim: expected 0 <= sim < {self.batch}, got {sim}")
        clone = HelmholtzHippocampus(self.config, copies, dtype=self.dtype, device=self.device, seed=seed,
                                     backend=self.backend)
        for name in ("w_p_apical", "w_g_basal", "w_g_apical", "trace_p_apical", "trace_g_basal", "trace_g_apical",
                     "g_apical_input", "last_velocity_cells"):
            src = getattr(self, name)[sim:sim + 1]
            setattr(clone, name, src.expand(copies, *src.shape[1:]).contiguous())
        for name in ("p_rates", "g_rates", "noise_p", "noise_g"):
            src = getattr(self, name)[:, sim:sim + 1]
            setattr(clone, name, src.expand(src.shape[0], copies, src.shape[2]).contiguous())
        clone.time, clone.steps_done = self.time, self.steps_done
        if self._loss_state is not None:
            clone._loss_state = np.repeat(self._loss_state[sim:sim + 1], copies, axis=0)
        return clone

    # ------------------------------------------------------------------------------------- running
    def _constants(self, learn: bool, noise: bool):
        c, dt = self.config, self.config.dt

        def make(layer, compartment, pathway, dendrite):
            eta = c.eta[pathway] if (learn and pathway is not None) else 0.0
            return CompartmentConstants.make(
                dt=dt, noise_sd=c.noise_sd[f"{layer}_{compartment}"], noise_tau=c.noise_tau, eta=eta,
                l1=c.l1[pathway] if pathway else 0.0, l2=c.l2[pathway] if pathway else 0.0,
                dendrite=dendrite, add_noise=noise)

        return (make("p", "basal", None, c.p_dendrite), make("p", "apical", "p_apical", c.p_dendrite),
                make("g", "basal", "g_basal", c.g_dendrite), make("g", "apical", "g_apical", c.g_dendrite))

    def _check_inputs(self, features, velocity_cells, mode):
        c = self.config
        if not isinstance(features, torch.Tensor):
            raise TypeError(f"features: expected a torch.Tensor, got {type(features).__name__}")
        expected = (self.batch, c.n_features)
        if features.dim() != 3 or tuple(features.shape[1:]) != expected:
            raise ValueError(f"features: expected [T, S={self.batch}, n_features={c.n_features}], "
                             f"got {tuple(features.shape)}")
        if features.shape[0] == 0:
            raise ValueError("features: the time axis is empty (T=0)")
        if not bool(torch.isfinite(features).all()):
            raise ValueError("features: contains NaN or inf")
        if c.velocity_conjunctive:
            if velocity_cells is None:
                raise ValueError("velocity_cells: this model has conjunctive velocity cells; pass [T, S, 2] "
                                 "velocity-cell rates (v+, v-)")
            if not isinstance(velocity_cells, torch.Tensor) or tuple(velocity_cells.shape) != (
                    features.shape[0], self.batch, 2):
                raise ValueError(f"velocity_cells: expected [T={features.shape[0]}, S={self.batch}, 2], got "
                                 f"{tuple(velocity_cells.shape) if isinstance(velocity_cells, torch.Tensor) else velocity_cells!r}")
            if not bool(torch.isfinite(velocity_cells).all()):
                raise ValueError("velocity_cells: contains NaN or inf")
        elif velocity_cells is not None:
            raise ValueError("velocity_cells: this model has no conjunctive velocity cells "
                             "(HippocampusConfig.velocity_conjunctive=False)")
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")

    def gate_schedule(self, steps: int, mode: str = "theta") -> np.ndarray:
        """The apical fraction of the soma for the next ``steps`` steps."""
        if mode == "wake":
            return np.zeros(steps)
        if mode == "sleep":
            return np.ones(steps)
        times = (self.steps_done + np.arange(steps)) * self.config.dt
        return self.config.theta.apical_fraction(times)

    def run(self, features: torch.Tensor, velocity_cells: torch.Tensor | None = None, *, mode: str = "theta",
            learn: bool = True, noise: bool = True, record=("p", "g"), chunk: int = 2048) -> HippocampusRecord:
        """Advances the model by T = features.shape[0] steps.

        mode: "theta" (the gate alternates wake and sleep), "wake" (basal drives every soma: the
        authors' constant_0) or "sleep" (apical drives: constant_1, pure generation — the sensory
        input then reaches only the basal dendrites, which the soma ignores). learn: apply the local
        plasticity. noise: add the OU dendritic noise to the rates. record: which layers' rates
        [T, 3, S, N] to return ("p", "g"). chunk: steps per block of the hot loop.

        State (rates, noise, weights, traces, gate time, loss EMA) carries over between calls, so a
        run split into several calls gives the same result as one call, with one exception: the
        noise draws. They are made per block of ``chunk`` steps (all of p's block, then g's), so
        with ``noise=True`` splitting a run gives the same result only when every call but the
        last has a multiple of ``chunk`` steps; otherwise it is a different (equally distributed)
        noise realisation. The draw order is kept because the recorded results were made with it."""
        self._check_inputs(features, velocity_cells, mode)
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk: expected an int >= 1, got {chunk!r}")
        unknown = set(record) - {"p", "g"}
        if unknown:
            raise ValueError(f"record: expected a subset of ('p', 'g'), got {tuple(record)}")
        T = features.shape[0]
        features = features.to(self.device, self.dtype)
        if velocity_cells is not None:
            velocity_cells = velocity_cells.to(self.device, self.dtype)
        constants = self._constants(learn, noise)
        schedule = self.gate_schedule(T, mode)
        out_p = torch.empty(T, 3, self.batch, self.config.n_p, dtype=self.dtype) if "p" in record else None
        out_g = torch.empty(T, 3, self.batch, self.config.n_g, dtype=self.dtype) if "g" in record else None
        mismatch = torch.empty(T, self.batch, 2, dtype=torch.float64)
        for start in range(0, T, chunk):
            stop = min(T, start + chunk)
            vel = velocity_cells[start:stop] if velocity_cells is not None else None
            p_buf, g_buf = self._run_chunk(features[start:stop].contiguous(), vel, schedule[start:stop], constants)
            mismatch[start:stop, :, 0] = (p_buf[:, 0] - p_buf[:, 1]).abs().mean(-1).double().cpu()
            mismatch[start:stop, :, 1] = (g_buf[:, 0] - g_buf[:, 1]).abs().mean(-1).double().cpu()
            if out_p is not None:
                out_p[start:stop] = p_buf.cpu()
            if out_g is not None:
                out_g[start:stop] = g_buf.cpu()
        loss = self._update_loss(mismatch, T)
        return HippocampusRecord(out_p, out_g, mismatch, loss, torch.from_numpy(schedule))

    def _update_loss(self, mismatch: torch.Tensor, T: int) -> torch.Tensor:
        """EMA of the mismatch (the authors' loss): starts after two theta cycles, from the value then."""
        from scipy.signal import lfilter

        c = self.config
        rate = c.dt / c.loss_tau
        values = mismatch.numpy()
        loss = np.full_like(values, np.nan)
        first_step = self.steps_done - T
        begin = 0
        if self._loss_state is None:
            start_step = int(math.ceil(2.0 / c.theta.frequency / c.dt - 1e-9))
            begin = max(0, start_step - first_step)
            if begin >= T:
                return torch.from_numpy(loss)
            self._loss_state = values[begin].copy()
            loss[begin] = self._loss_state
            begin += 1
        if begin < T:
            # y[t] = rate x[t] + (1 - rate) y[t-1]; lfilter's state before the first sample is
            # (1 - rate) y[-1]. _loss_state keeps the last EMA value itself (not lfilter's final
            # state, which is already scaled by 1 - rate), so the next call scales it exactly once.
            filtered = lfilter([rate], [1.0, -(1.0 - rate)], values[begin:], axis=0,
                               zi=((1.0 - rate) * self._loss_state)[None])[0]
            loss[begin:] = filtered
            self._loss_state = filtered[-1].copy()
        return torch.from_numpy(loss)

    def _run_chunk(self, features, velocity_cells, schedule, constants):
        """The hot loop: per step 3 matrix products, 2 fused layer steps, 2 copies into the record."""
        c = self.config
        S, P, G = self.batch, c.n_p, c.n_g
        steps = features.shape[0]
        kw = dict(device=self.device, dtype=self.dtype)
        p_buf = torch.empty(steps, 3, S, P, **kw)
        g_buf = torch.empty(steps, 3, S, G, **kw)
        draws_p = torch.randn(steps, 2, S, P, generator=self.generator, **kw)
        draws_g = torch.randn(steps, 2, S, G, generator=self.generator, **kw)
        pb, pa, gb, ga = constants
        pb_params, pa_params, gb_params, ga_params = pb.params(), pa.params(), gb.params(), ga.params()
        pb_d, pa_d, gb_d, ga_d = pb.dendrite, pa.dendrite, gb.dendrite, ga.dendrite
        pi_rate = c.dt / c.tau_pi
        step = self._step_fn
        no_weights = torch.empty(S, P, 0, **kw)
        no_inputs = torch.empty(S, 0, **kw)
        w_pa, t_pa, w_gb, t_gb, w_ga, t_ga = (self.w_p_apical, self.trace_p_apical, self.w_g_basal,
                                              self.trace_g_basal, self.w_g_apical, self.trace_g_apical)
        # Views that stay valid: the step updates the weights in place.
        pa_main, pa_bias = (w_pa[..., :G], w_pa[..., G:]) if c.bias_p_apical else (w_pa, None)
        gb_main, gb_bias = (w_gb[..., :P], w_gb[..., P:]) if c.bias_g_basal else (w_gb, None)
        g_in = self.g_apical_input
        g_prev = self.g_rates[2]
        if self.n_cvc:
            # CVC_L = relu(g + (v+ - v-) - thr), CVC_R = relu(g - (v+ - v-) - thr), from the velocity
            # cells of the previous step: offsets [steps, S, 3, 1] for the blocks (g, CVC_L, CVC_R).
            previous = torch.cat([self.last_velocity_cells.unsqueeze(0), velocity_cells[:-1]])
            signed = (previous[..., 0] - previous[..., 1]).unsqueeze(-1)
            offsets = torch.stack([torch.zeros_like(signed), signed - c.cvc_threshold,
                                   -signed - c.cvc_threshold], dim=2)
            floor = torch.tensor([-math.inf, 0.0, 0.0], **kw).view(1, 3, 1)
            g_in_blocks = g_in.view(S, 3, G)
        if self.batch == 1:
            # one simulation: matrix-vector products skip bmm's batching overhead
            def project(w, bias, x):
                v = torch.mv(w[0], x[0]) if bias is None else torch.addmv(bias[0, :, 0], w[0], x[0])
                return v.unsqueeze(0)
        else:
            def project(w, bias, x):
                x = x.unsqueeze(-1)
                v = torch.bmm(w, x) if bias is None else torch.baddbmm(bias, w, x)
                return v.squeeze(-1)
        for k in range(steps):
            a = float(schedule[k])
            p_rates = step(features[k], project(pa_main, pa_bias, g_prev), self.noise_p, draws_p[k],
                           no_weights, no_weights, no_inputs, w_pa, t_pa, g_prev, a, pi_rate,
                           pb_params, pa_params, pb_d, pa_d)
            p_soma = p_rates[2]
            g_rates = step(project(gb_main, gb_bias, p_soma), project(w_ga, None, g_in), self.noise_g, draws_g[k],
                           w_gb, t_gb, p_soma, w_ga, t_ga, g_in, a, pi_rate, gb_params, ga_params, gb_d, ga_d)
            g_prev = g_rates[2]
            if self.n_cvc:
                # g_in is read by this step's synapse updates above, so it is refilled only now.
                torch.add(g_prev.unsqueeze(1), offsets[k], out=g_in_blocks)
                torch.maximum(g_in_blocks, floor, out=g_in_blocks)
            else:
                g_in = g_prev
            p_buf[k] = p_rates
            g_buf[k] = g_rates
        self.p_rates, self.g_rates = p_buf[-1].clone(), g_buf[-1].clone()
        if self.n_cvc:
            self.last_velocity_cells = velocity_cells[-1].clone()
        else:
            self.g_apical_input = self.g_rates[2].clone()
        self.steps_done += steps
        self.time = self.steps_done * c.dt
        return p_buf, g_buf
