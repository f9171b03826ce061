"""The theta-gated hippocampal model: the fused layer-step op against its PyTorch reference,
opcheck, the gate, the learning rule's wake/sleep gating, short training and path-integration runs
at toy size, environments, and bad input."""


import numpy as np
import pytest
import torch
from conftest import NATIVE, needs_native

from neurosim.core.hippocampus_op import CompartmentConstants, hippocampus_layer_step
from neurosim.models.hippocampus import (
    GaussianProcessLatents,
    HelmholtzHippocampus,
    HippocampusConfig,
    LatentMixing,
    RingTrack,
    ThetaGate,
)
from neurosim.models.hippocampus.analysis import PositionDecoder, autocorrelation, path_integration_trials

DEVICES = [d for _, d in NATIVE]


def step_inputs(S=3, N=7, Mb=5, Ma=9, bias_basal=True, bias_apical=False, dtype=torch.float64, device="cpu",
                seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(device, dtype)

    return [r(S, N), r(S, N), r(2, S, N, scale=0.1), r(2, S, N), r(S, N, Mb + bias_basal), r(S, N, Mb + bias_basal, scale=0.1),
            r(S, Mb), r(S, N, Ma + bias_apical), r(S, N, Ma + bias_apical, scale=0.1), r(S, Ma)]


def constants(dendrite_basal="retanh", dendrite_apical="linear", eta_basal=0.01, eta_apical=0.02):
    basal = CompartmentConstants.make(dt=0.025, noise_sd=0.01, noise_tau=0.3, eta=eta_basal, l1=1e-3, l2=5e-3,
                                      dendrite=dendrite_basal)
    apical = CompartmentConstants.make(dt=0.025, noise_sd=0.05, noise_tau=0.3, eta=eta_apical,
                                       dendrite=dendrite_apical)
    return basal, apical


@needs_native
@pytest.mark.parametrize("backend,device", NATIVE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dendrites", [("linear", "linear"), ("retanh", "linear"), ("retanh", "retanh")])
@pytest.mark.parametrize("bias", [(True, False), (False, True)])
@pytest.mark.parametrize("fraction", [0.0, 0.35, 1.0])
def test_layer_step_matches_reference(backend, device, dtype, dendrites, bias, fraction):
    basal, apical = constants(*dendrites)
    ours = step_inputs(bias_basal=bias[0], bias_apical=bias[1], dtype=dtype, device=device)
    ref = [t.clone() for t in ours]
    for _ in range(3):  # several steps: the traces and weights carry over
        out = hippocampus_layer_step(*ours, apical_fraction=fraction, pi_rate=0.25, basal=basal, apical=apical,
                                     backend=backend)
        expected = hippocampus_layer_step(*ref, apical_fraction=fraction, pi_rate=0.25, basal=basal, apical=apical,
                                          backend="torch")
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(out, expected, **tol)
    for name, a, b in zip(("noise", "w_basal", "trace_basal", "w_apical", "trace_apical"),
                          (ours[2], ours[4], ours[5], ours[7], ours[8]), (ref[2], ref[4], ref[5], ref[7], ref[8])):
        torch.testing.assert_close(a, b, **tol, msg=name)


@needs_native
def test_layer_step_frozen_compartment_is_untouched():
    basal, apical = constants(eta_basal=0.0)
    ins = step_inputs()
    w_before, trace_before = ins[4].clone(), ins[5].clone()
    hippocampus_layer_step(*ins, apical_fraction=0.5, pi_rate=0.25, basal=basal, apical=apical, backend="cpp")
    assert torch.equal(ins[4], w_before) and torch.equal(ins[5], trace_before)
    assert not torch.equal(ins[7], step_inputs()[7])  # while the plastic one moved


@needs_native
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_hippocampus_layer_step(device, dtype):
    basal, apical = constants()
    args = tuple(step_inputs(dtype=dtype, device=device)) + (0.25, 0.25, basal.params(), apical.params(),
                                                                basal.dendrite, apical.dendrite)
    torch.library.opcheck(torch.ops.neurosim.hippocampus_layer_step.default, args)


def test_theta_gate_5hz_at_25ms_gives_4_wake_then_4_sleep():
    model = HelmholtzHippocampus(HippocampusConfig.latents(), 1, seed=0)
    apical = model.gate_schedule(24)
    assert apical.tolist() == [0, 0, 0, 0, 1, 1, 1, 1] * 3  # wake = basal drives = apical weight 0
    assert model.gate_schedule(5, "wake").tolist() == [0] * 5
    assert model.gate_schedule(5, "sleep").tolist() == [1] * 5


def test_theta_gate_maps_to_the_authors_code():
    """wake(t) = 1 - theta_code(t + half a period), theta_code written from the authors' definition."""
    gate = ThetaGate(5.0)
    t = np.arange(200) * 0.025 + 0.0125  # off the step grid, away from the edges

    def theta_code(times, freq=5.0, frac=0.5, offset=0.0):
        phase = np.mod(np.mod(times * freq, 1.0) + offset, 1.0)
        return (phase < frac).astype(float)

    np.testing.assert_array_equal(gate.wake(t), 1 - theta_code(t + 0.5 / 5.0))
    np.testing.assert_array_equal(gate.apical_fraction(t), theta_code(t, offset=0.5))
    sine = ThetaGate(5.0, shape="sine").wake(t)
    assert sine.min() >= 0 and sine.max() <= 1
    assert sine[:4].mean() > 0.5 > sine[4:8].mean()  # the first half of each cycle is mostly wake


def noiseless_linear_model(**overrides):
    config = HippocampusConfig.latents(
        n_features=6, n_p=6, n_g=3, noise_sd={"p_basal": 0.0, "p_apical": 0.0, "g_basal": 0.0, "g_apical": 0.0},
        l2={"p_apical": 0.0, "g_basal": 0.0, "g_apical": 0.0}, eta={"p_apical": 0.05, "g_basal": 0.05, "g_apical": 0.05},
        **overrides)
    return HelmholtzHippocampus(config, 2, dtype=torch.float64, seed=1)


@pytest.mark.parametrize("backend", ["auto", "torch"])
@pytest.mark.parametrize("mode", ["wake", "sleep"])
def test_driving_compartment_gets_no_weight_change(mode, backend):
    model = noiseless_linear_model()
    model = HelmholtzHippocampus(model.config, 2, dtype=torch.float64, seed=1, backend=backend)
    features = torch.randn(60, 2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    model.run(features[:20], mode="wake", learn=False)  # from rest everything is 0: excite the network first
    before = {k: v.clone() for k, v in model.weights().items()}
    model.run(features[20:], mode=mode)
    changed = {k: not torch.equal(before[k], v) for k, v in model.weights().items()}
    if mode == "wake":  # basal drives: g's basal (recognition) weights stay, the apical ones learn
        assert changed == {"p_apical": True, "g_basal": False, "g_apical": True}
    else:  # apical drives: only the basal (inference) weights learn
        assert changed == {"p_apical": False, "g_basal": True, "g_apical": False}


def test_batched_simulations_are_independent_copies():
    model = noiseless_linear_model()
    copies = model.replicate(3, sim=1)
    features = torch.randn(50, 1, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    single = model.replicate(1, sim=1).run(features, noise=False)
    batched = copies.run(features.expand(50, 3, 6).contiguous(), noise=False)
    for s in range(3):
        torch.testing.assert_close(batched.p[:, :, s], single.p[:, :, 0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(copies.w_g_apical[s], copies.w_g_apical[0])


def _ema_by_hand(mismatch, rate, start):
    """The authors' loss from the mismatch [T, S, 2]: NaN before ``start``, then an EMA from the value there."""
    loss = np.full(mismatch.shape, np.nan)
    y = mismatch[start].copy()
    loss[start] = y
    for t in range(start + 1, len(mismatch)):
        y = (1 - rate) * y + rate * mismatch[t]
        loss[t] = y
    return loss


@pytest.mark.parametrize("noise, lengths", [(False, [1, 5, 13, 2, 30, 9]), (True, [8, 16, 8, 24, 4])])
def test_a_run_split_into_calls_equals_one_call(noise, lengths):
    # loss_tau = 0.25 s: the EMA's rate dt / tau = 0.1, so a wrong carry-over between calls shows at once.
    # With noise the draws are made per block of `chunk` steps: the calls here are whole blocks (chunk = 8).
    config = HippocampusConfig.latents(n_features=12, n_p=12, n_g=4, loss_tau=0.25)
    features = torch.randn(sum(lengths), 2, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    whole = HelmholtzHippocampus(config, 2, dtype=torch.float64, seed=3).run(features, noise=noise, chunk=8)
    model = HelmholtzHippocampus(config, 2, dtype=torch.float64, seed=3)
    pieces, start = [], 0
    for n in lengths:
        pieces.append(model.run(features[start:start + n], noise=noise, chunk=8))
        start += n
    for field in ("p", "g", "mismatch", "loss", "apical_fraction"):
        torch.testing.assert_close(torch.cat([getattr(r, field) for r in pieces]), getattr(whole, field),
                                   rtol=0, atol=0, equal_nan=True, msg=field)
    loss_start = int(round(2 / config.theta.frequency / config.dt))  # two theta cycles
    np.testing.assert_allclose(whole.loss.numpy(), _ema_by_hand(whole.mismatch.numpy(), config.dt / config.loss_tau,
                                                                loss_start), rtol=1e-12)
    if noise:  # documented: a split off the block boundaries draws a different noise realisation
        other = HelmholtzHippocampus(config, 2, dtype=torch.float64, seed=3)
        split = [other.run(features[:5], chunk=8), other.run(features[5:], chunk=8)]
        assert not torch.equal(torch.cat([r.p for r in split]), whole.p)


def test_run_rejects_a_bad_chunk():
    model = noiseless_linear_model()
    for chunk in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="chunk"):
            model.run(torch.zeros(4, 2, 6, dtype=torch.float64), chunk=chunk)


def test_short_training_lowers_the_mismatch():
    config = HippocampusConfig.latents()
    S = 2
    model = HelmholtzHippocampus(config, S, seed=0)
    latents = GaussianProcessLatents(5, 1.0, config.dt, batch=S, seed=1, block_steps=8000)
    mixing = LatentMixing(5, config.n_features, batch=S, seed=2)
    before = model.run(mixing(latents.sample(1200)), learn=False, record=()).mismatch.mean(0)
    model.run(mixing(latents.sample(8 * 2400)), record=())  # 8 simulated minutes
    after = model.run(mixing(latents.sample(1200)), learn=False, record=()).mismatch.mean(0)
    assert (after < 0.6 * before).all(), (before, after)


def test_short_path_integration_decodes_better_than_chance():
    config = HippocampusConfig.path_integration(n=40)
    model = HelmholtzHippocampus(config, 1, seed=0)
    track = RingTrack(1, n_place_cells=40, width=0.1, seed=1)
    minute = 2400
    for _ in range(4):
        sample = track.sample(minute)
        model.run(sample.place_cells, sample.velocity_cells, record=())
    sample = track.sample(minute)
    rec = model.run(sample.place_cells, sample.velocity_cells, learn=False, record=("p",))
    decoder = PositionDecoder(track.length, "ridge").fit(rec.p[::4, 2, 0].numpy(), sample.position[::4, 0].numpy())
    errors = path_integration_trials(model, track, decoder, trials=20, spin_up_steps=40, test_steps=20)
    chance = 0.25  # mean periodic distance of a uniform guess on a 1 m ring
    assert errors[:, 0].mean() < 0.5 * chance
    assert errors.mean() < 0.8 * chance
    # With the spin-up included, the same trials (same seed) come first-spin-up-then-test.
    with_spin_up = path_integration_trials(model, track, decoder, trials=20, spin_up_steps=40, test_steps=20,
                                           include_spin_up=True)
    assert with_spin_up.shape == (20, 60)
    np.testing.assert_allclose(with_spin_up[:, 40:], errors, atol=1e-6)
    assert with_spin_up[:, :40].mean() < errors.mean()  # the sensory drive is on during the spin-up


def test_gaussian_process_latents_have_the_rbf_autocorrelation():
    with pytest.raises(ValueError, match="start"):
        GaussianProcessLatents(2, start="ramp")
    latents = GaussianProcessLatents(4, 1.0, 0.025, batch=2, seed=0, block_steps=4000)
    z = latents.sample(12000).double()  # crosses two block joins
    assert abs(z.var().item() - 1.0) < 0.15
    acf = autocorrelation(z.reshape(12000, -1).numpy(), 80)
    lags = np.arange(81) * 0.025
    assert np.abs(acf - np.exp(-lags**2 / 2)).max() < 0.15


def _zero_history_posterior_sd(steps, dt=0.025, timescale=1.0):
    """sd of a GP (RBF + 1e-5 jitter, the authors' kernel) at dt, 2 dt, ... steps dt after a zero
    history over the preceding 3 timescales: exact Gaussian conditioning."""
    n_past = len(np.arange(0.0, 3 * timescale, dt)) - 1
    times = np.concatenate([np.arange(-n_past + 1, 1), np.arange(1, steps + 1)]) * dt
    cov = np.exp(-((times[:, None] - times[None]) ** 2) / (2 * timescale**2)) + 1e-5 * np.eye(len(times))
    past, cross = cov[:n_past, :n_past], cov[:n_past, n_past:]
    posterior = cov[n_past:, n_past:] - cross.T @ np.linalg.solve(past, cross)
    return np.sqrt(np.diag(posterior))


def test_zero_start_latents_follow_the_gp_posterior_given_a_zero_past():
    # The authors' sampler conditions each sample on the previous 3 s, zeros before the start: its
    # spread must ramp up as the GP posterior given a zero past, then settle at the prior's 1.
    latents = GaussianProcessLatents(1, 1.0, 0.025, batch=3000, seed=0, start="zero", dtype=torch.float64)
    z = torch.cat([latents.sample(70), latents.sample(130)])[:, :, 0].numpy()  # two calls: the state carries on
    expected = _zero_history_posterior_sd(200)
    for k in (15, 39, 79, 199):  # 0.4 s (where the authors' loss EMA starts), 1 s, 2 s, 5 s
        assert z[k].std() == pytest.approx(expected[k], rel=0.08), k
    assert expected[15] < 0.05 and expected[199] == pytest.approx(1.0, abs=0.01)
    # after the ramp, the lag correlations of the RBF kernel (pooled over the batch)
    for lag in (10, 40):
        r = np.corrcoef(z[199], z[199 - lag])[0, 1]
        assert r == pytest.approx(np.exp(-(lag * 0.025) ** 2 / 2), abs=0.04), lag


def _expected_wake_mismatch(model, mixing, dt):
    """mean_i E|basal_i - apical_i| of an untrained network in wake mode with unit-variance latents,
    from the model's definition: p basal = f_t, p apical = W_pA g_{t-1}, g_{t-1} = W_gB f_{t-1};
    g basal = W_gB f_t, g apical = W_gA g_{t-1}; f = W_mix z, z a GP with lag-1 correlation
    exp(-dt^2 / 2); each difference is Gaussian, so E|d| = sqrt(2 var(d) / pi); plus the two
    compartments' own OU noise."""
    rho = np.exp(-(dt**2) / 2)
    mix = mixing.weights.double().numpy()
    cov = mix @ mix.transpose(0, 2, 1)
    w_pa, w_gb, w_ga = (w.double().numpy() for w in (model.w_p_apical, model.w_g_basal, model.w_g_apical))
    sd = model.config.noise_sd

    def mean_abs(now, before, noise):  # now f_t - before f_{t-1}
        var = (np.einsum("sij,sjk,sik->si", now, cov, now) + np.einsum("sij,sjk,sik->si", before, cov, before)
               - 2 * rho * np.einsum("sij,sjk,sik->si", now, cov, before) + noise)
        return np.sqrt(2 * var / np.pi).mean(1)

    identity = np.broadcast_to(np.eye(cov.shape[1]), w_pa.shape[:1] + cov.shape[1:])
    p = mean_abs(identity, w_pa @ w_gb, sd["p_basal"] ** 2 + sd["p_apical"] ** 2)
    g = mean_abs(w_gb, w_ga @ w_gb, sd["g_basal"] ** 2 + sd["g_apical"] ** 2)
    return np.stack([p, g], axis=1)  # [S, 2]


def test_untrained_wake_mismatch_the_papers_way():
    # The paper's "before training" number is the authors' loss after 1 min of wake mode from the start:
    # an EMA (60 s) that begins at 0.4 s, while their latents still ramp up from 0. Both the plain mean
    # (after the ramp) and that EMA must match what the definition predicts for these very weights.
    config = HippocampusConfig.latents()
    S, steps, dt = 8, 2400, config.dt
    model = HelmholtzHippocampus(config, S, seed=0, dtype=torch.float64)
    latents = GaussianProcessLatents(5, 1.0, dt, batch=S, seed=1, start="zero", dtype=torch.float64)
    mixing = LatentMixing(5, config.n_features, batch=S, seed=2, dtype=torch.float64)
    rec = model.run(mixing(latents.sample(steps)), mode="wake", learn=False, record=())
    expected = _expected_wake_mismatch(model, mixing, dt)
    settled = rec.mismatch[160:].mean(0).numpy()  # from 4 s on the latents have unit variance
    np.testing.assert_allclose(settled.mean(0), expected.mean(0), rtol=0.06)
    # The EMA the authors print: the expected mismatch scaled by the latents' ramp, EMA-weighted from step 16.
    start = int(round(2 / config.theta.frequency / dt))
    ramp = _zero_history_posterior_sd(steps)[start:]
    rate = dt / config.loss_tau
    weights = rate * (1 - rate) ** np.arange(steps - start - 1, -1, -1.0)
    weights[0] = (1 - rate) ** (steps - start - 1)  # the EMA starts from its first value
    predicted = expected * (weights * ramp).sum()
    np.testing.assert_allclose(rec.loss[-1].numpy().mean(0), predicted.mean(0), rtol=0.1)
    # The unit-variance value is ~1.1 (p) in this model; the start makes the printed loss ~35 % lower.
    assert (rec.loss[-1].numpy().mean(0) < 0.75 * settled.mean(0)).all()


def test_ring_track_statistics_and_remap():
    track = RingTrack(4, seed=0)
    sample = track.sample(20000)
    assert abs(sample.velocity.std().item() - 0.5) < 0.08
    assert float(sample.position.min()) >= 0 and float(sample.position.max()) < 1
    assert torch.allclose(sample.place_cells.amax(-1), torch.ones(()), atol=0.05)  # always near some field
    centres = track.centres.clone()
    track.remap()
    assert torch.equal(track.centres.sort(dim=1).values, centres.sort(dim=1).values)
    assert not torch.equal(track.centres, centres)

def test_ring_track_moves_with_the_previous_velocity_as_ratinabox():
    # ratinabox's Agent.update moves the position with the old velocity, then updates the velocity:
    # pos_k - pos_{k-1} = v_{k-1} dt, across chunk boundaries too.
    track = RingTrack(3, dt=0.025, seed=4)
    start_position, start_velocity = track.position.clone(), track.velocity.clone()
    first, second = track.sample(50), track.sample(30)
    position = torch.cat([start_position.unsqueeze(0), first.position.double(), second.position.double()])
    velocity = torch.cat([start_velocity.unsqueeze(0), first.velocity.double(), second.velocity.double()])
    step = torch.remainder(position[1:] - position[:-1] + 0.5, 1.0) - 0.5  # unwrap the ring
    assert torch.allclose(step, velocity[:-1] * 0.025, atol=1e-6)
    assert not torch.allclose(step, velocity[1:] * 0.025, atol=1e-4)



@pytest.mark.parametrize("kwargs,match", [
    (dict(frequency=0.0), "frequency"),
    (dict(frequency=-5.0), "frequency"),
    (dict(frequency=float("nan")), "frequency"),
    (dict(shape="triangle"), "shape"),
    (dict(wake_fraction=1.0), "wake_fraction"),
])
def test_bad_theta_gate(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ThetaGate(**kwargs)


@pytest.mark.parametrize("overrides,match", [
    (dict(dt=0.2), "dt"),                      # dt >= the 5 Hz period
    (dict(theta=ThetaGate(50.0)), "dt"),       # 25 ms >= a 20 ms period
    (dict(n_p=40), "n_p"),                     # p's basal input is the identity of the features
    (dict(n_g=0), "n_g"),
    (dict(tau_pi=float("nan")), "tau_pi"),
    (dict(eta={"p_apical": float("nan"), "g_basal": 0.1, "g_apical": 0.1}), "eta"),
    (dict(noise_sd={"p_basal": 0.01, "p_apical": float("inf"), "g_basal": 0.01, "g_apical": 0.01}), "noise_sd"),
    (dict(g_dendrite="sigmoid"), "g_dendrite"),
])
def test_bad_config(overrides, match):
    with pytest.raises(ValueError, match=match):
        HelmholtzHippocampus(HippocampusConfig.latents(**overrides))


def test_bad_run_inputs():
    model = HelmholtzHippocampus(HippocampusConfig.latents(), 2, seed=0)
    with pytest.raises(ValueError, match="features"):
        model.run(torch.zeros(10, 2, 49))
    with pytest.raises(ValueError, match="features"):
        model.run(torch.full((10, 2, 50), float("nan")))
    with pytest.raises(ValueError, match="mode"):
        model.run(torch.zeros(10, 2, 50), mode="dream")
    with pytest.raises(ValueError, match="velocity_cells"):
        model.run(torch.zeros(10, 2, 50), torch.zeros(10, 2, 2))
    pi_model = HelmholtzHippocampus(HippocampusConfig.path_integration(n=8), 1, seed=0)
    with pytest.raises(ValueError, match="velocity_cells"):
        pi_model.run(torch.zeros(10, 1, 8))


def test_bad_layer_step_arguments():
    basal, apical = constants()
    ins = step_inputs()
    wrong = list(ins)
    wrong[4] = torch.zeros(3, 7, 9, dtype=torch.float64)  # neither inputs nor inputs + 1 columns
    with pytest.raises(ValueError, match="w_basal"):
        hippocampus_layer_step(*wrong, apical_fraction=0.5, pi_rate=0.25, basal=basal, apical=apical)
    wrong = list(ins)
    wrong[1] = ins[1].float()
    with pytest.raises(TypeError, match="v_apical"):
        hippocampus_layer_step(*wrong, apical_fraction=0.5, pi_rate=0.25, basal=basal, apical=apical)
    with pytest.raises(ValueError, match="apical_fraction"):
        hippocampus_layer_step(*ins, apical_fraction=1.5, pi_rate=0.25, basal=basal, apical=apical)
    with pytest.raises(ValueError, match="pi_rate"):
        hippocampus_layer_step(*ins, apical_fraction=0.5, pi_rate=float("nan"), basal=basal, apical=apical)
    with pytest.raises(ValueError, match="noise_tau"):
        CompartmentConstants.make(dt=0.025, noise_sd=0.01, noise_tau=0.01, eta=0.1)
    with pytest.raises(ValueError, match="eta"):
        CompartmentConstants.make(dt=0.025, noise_sd=0.01, noise_tau=0.3, eta=float("nan"))
    grad = list(ins)
    grad[0] = ins[0].clone().requires_grad_()
    with pytest.raises(ValueError, match="grad"):
        hippocampus_layer_step(*grad, apical_fraction=0.5, pi_rate=0.25, basal=basal, apical=apical)
