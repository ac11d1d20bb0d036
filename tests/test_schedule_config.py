"""The scheduler config and the samplers built from it, checked against the papers' formulas.

Betas: ADM's linear schedule rescaled by 1000/T (Nichol & Dhariwal 2021, sec. 3.2) and their
cosine schedule (eq. 17, betas capped at 0.999), recomputed here in numpy. Spacing: "trailing"
timesteps (Lin et al. 2024) and DPM-Solver++'s steps uniform in log-SNR (Lu et al. 2022, sec. 3.3).
"""

import logging
import math

import numpy as np
import pytest
import torch

from heliogen.diffusion.loop import sample_loop
from heliogen.diffusion.schedule import PREDICTIONS, SAMPLERS, SCHEDULES, make_scheduler, scheduler_config
from heliogen.errors import HeliogenError


def cosine_betas(T, s=0.008, cap=0.999):
    """Nichol & Dhariwal (2021) eq. 17: alphabar(t) = f(t) / f(0), f(t) = cos^2(pi/2 (t/T + s) / (1 + s))."""
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * math.pi / 2) ** 2
    return np.minimum(1 - f[1:] / f[:-1], cap)


def test_defaults_are_adm_linear_1000_epsilon():
    cfg = scheduler_config()
    assert cfg["num_train_timesteps"] == 1000 and cfg["prediction_type"] == "epsilon"
    betas = make_scheduler("train", cfg).betas.double().numpy()
    np.testing.assert_allclose(betas, np.linspace(1e-4, 0.02, 1000), rtol=1e-5)


@pytest.mark.parametrize("T", [21, 250, 4000])
def test_linear_endpoints_scale_with_1000_over_T(T):
    cfg = scheduler_config(T, "linear")
    betas = make_scheduler("ddpm", cfg).betas.double().numpy()
    np.testing.assert_allclose(betas, np.linspace(0.1 / T, 20.0 / T, T), rtol=1e-5)


def test_timesteps_become_an_int():
    cfg = scheduler_config(500.0)
    assert cfg["num_train_timesteps"] == 500 and isinstance(cfg["num_train_timesteps"], int)


@pytest.mark.parametrize("T", [2, 10, 1000])
def test_cosine_schedule_is_nichol_dhariwal_eq17(T):
    cfg = scheduler_config(T, "cosine", "v_prediction")
    assert cfg["prediction_type"] == "v_prediction"
    betas = make_scheduler("ddpm", cfg).betas.double().numpy()
    np.testing.assert_allclose(betas, cosine_betas(T), rtol=1e-5, atol=1e-7)


def test_names_are_the_documented_ones():
    assert SCHEDULES == ("linear", "cosine") and PREDICTIONS == ("epsilon", "v_prediction")
    assert SAMPLERS == ("ddpm", "ddpm-large", "ddim", "dpmpp")


@pytest.mark.parametrize("args,message", [
    ((1000, "sigmoid"), "unknown schedule 'sigmoid'; choose from linear, cosine"),
    ((1000, "linear", "sample"), "unknown prediction 'sample'; choose from epsilon, v_prediction"),
    ((20, "linear"), "the linear schedule needs at least 21 timesteps (got 20)"),
    ((5, "linear"), "the linear schedule needs at least 21 timesteps (got 5)"),
    ((2, "linear"), "the linear schedule needs at least 21 timesteps (got 2)"),
    ((1, "cosine"), "the schedule needs at least 2 timesteps"),
    ((1, "linear"), "the schedule needs at least 2 timesteps"),
    ((0, "linear"), "the schedule needs at least 2 timesteps"),
    ((0, "cosine"), "the schedule needs at least 2 timesteps"),
    ((-3, "linear"), "the schedule needs at least 2 timesteps"),
])
def test_bad_schedules_are_refused_with_the_reason(args, message):
    with pytest.raises(HeliogenError) as info:
        scheduler_config(*args)
    assert str(info.value) == message


def test_unknown_sampler_is_refused():
    with pytest.raises(HeliogenError) as info:
        make_scheduler("euler", scheduler_config(100))
    assert str(info.value) == "unknown sampler 'euler'; choose from ddpm, ddpm-large, ddim, dpmpp"


@pytest.mark.parametrize("kind", ["ddpm", "ddpm-large", "ddim"])
def test_trailing_spacing_starts_at_the_last_timestep(kind):
    """Trailing: t_i = round(T - i T / S) - 1, so the first step is at t = T - 1 whatever S is."""
    scheduler = make_scheduler(kind, scheduler_config(1000))
    scheduler.set_timesteps(8)
    expected = np.round(np.arange(1000, 0, -1000 / 8)) - 1
    assert scheduler.timesteps.tolist() == expected.astype(int).tolist()


def log_sigma(alphas_cumprod):
    """The VE noise level's log, -lambda/1 with lambda = log(alpha / sigma) the half log-SNR."""
    ab = alphas_cumprod.double().numpy()
    return 0.5 * np.log((1 - ab) / ab)


@pytest.mark.parametrize("steps", [5, 20])
def test_dpmpp_steps_are_uniform_in_log_snr_over_the_whole_schedule(steps):
    scheduler = make_scheduler("dpmpp", scheduler_config(1000))
    scheduler.set_timesteps(steps)
    ls = log_sigma(scheduler.alphas_cumprod)
    expected = np.linspace(ls[-1], ls[0], steps)  # from t = T - 1 down to t = 0, in equal steps of lambda
    np.testing.assert_allclose(np.log(scheduler.sigmas[:-1].double().numpy()), expected, rtol=1e-5, atol=1e-5)
    assert float(scheduler.sigmas[-1]) == 0.0  # the last step lands on the clean sample


def test_train_scheduler_adds_noise_as_ho_eq4():
    """``x_t = sqrt(alphabar_t) x0 + sqrt(1 - alphabar_t) eps`` with ADM's alphabar."""
    scheduler = make_scheduler("train", scheduler_config(1000))
    x0, eps = torch.full((3, 2), 0.5), torch.ones(3, 2)
    t = torch.tensor([0, 499, 999])
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[[0, 499, 999]]
    expected = np.sqrt(ab)[:, None] * 0.5 + np.sqrt(1 - ab)[:, None]
    np.testing.assert_allclose(scheduler.add_noise(x0, eps, t).double().numpy(), np.repeat(expected, 2, 1), rtol=1e-5)


class ConstantX0:
    """A denoiser whose x0 prediction is a fixed pattern whatever x and t."""

    def __init__(self, pattern):
        self.pattern = pattern

    def __call__(self, x, t):
        return self.pattern.expand_as(x).to(x.dtype)


PATTERN = torch.tensor([-2.5, -0.5, 0.25, 0.75, 1.5, 3.0])


def sample_pattern(kind, cfg, steps=5, repeat=1):
    """The sample for the constant-x0 denoiser; (1, 1, 6) since DPM-Solver++'s threshold wants (N, C, ...).

    5 steps of 200: the last step starts at t = 199 and ends on alphabar = 1 (``set_alpha_to_one``)."""
    cfg = {**cfg, "prediction_type": "sample"}
    g = [torch.Generator().manual_seed(0)]
    noise = torch.randn(1, 1, 6 * repeat, generator=g[0])
    return sample_loop(ConstantX0(PATTERN.repeat(repeat)), make_scheduler(kind, cfg), steps, noise, g).flatten()


# ddpm-large's last step adds noise (below): the others end exactly on the x0 prediction
LANDING = ("ddpm", "ddim", "dpmpp")


@pytest.mark.parametrize("kind", LANDING)
def test_last_step_returns_the_clipped_x0_prediction(kind):
    """Every sampler's last step lands on alphabar = 1, where x equals the x0 prediction; the
    default config clips that prediction to [-1, 1] (ADM's clip_denoised), element by element."""
    out = sample_pattern(kind, scheduler_config(1000))
    torch.testing.assert_close(out, PATTERN.clamp(-1, 1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", LANDING)
def test_a_config_without_clip_keys_clips_to_one(kind):
    """A hand-written config that omits ``clip_sample``/``clip_sample_range`` gets diffusers' and
    ADM's default, a clip of x0 to [-1, 1], for every sampler alike."""
    cfg = {k: v for k, v in scheduler_config(1000).items() if not k.startswith("clip_sample")}
    out = sample_pattern(kind, cfg)
    torch.testing.assert_close(out, PATTERN.clamp(-1, 1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", LANDING)
def test_clip_sample_false_leaves_x0_alone(kind):
    out = sample_pattern(kind, {**scheduler_config(1000), "clip_sample": False})
    torch.testing.assert_close(out, PATTERN, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_clip_sample_range_sets_the_clip(kind):
    out = sample_pattern(kind, {**scheduler_config(1000), "clip_sample_range": 2.0})
    torch.testing.assert_close(out, PATTERN.clamp(-2, 2), atol=1e-5, rtol=0)


def test_dpmpp_refuses_a_clip_range_it_cannot_honour():
    """diffusers' DPM-Solver++ only has dynamic thresholding, which at a ceiling above 1 rescales x0
    into [-1, 1] rather than clipping it to the range; asked for that, it says so."""
    with pytest.raises(HeliogenError) as info:
        make_scheduler("dpmpp", {**scheduler_config(1000), "clip_sample_range": 2.0})
    assert str(info.value) == ("dpmpp clips x0 to [-1, 1] only, not to clip_sample_range 2.0; "
                               "use ddpm or ddim, or turn clip_sample off")
    # without clipping the range is moot
    out = sample_pattern("dpmpp", {**scheduler_config(1000), "clip_sample": False, "clip_sample_range": 2.0})
    torch.testing.assert_close(out, PATTERN, atol=1e-5, rtol=0)


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_dpmpp_takes_the_config_without_complaint():
    """The clip keys are DDPM/DDIM names; DPM-Solver++ gets them as thresholding, not as keys that
    diffusers would warn about ("not expected and will be ignored"). diffusers' loggers do not
    propagate to the root logger, so listen on its own."""
    handler, logger = Collect(), logging.getLogger("diffusers")
    logger.addHandler(handler)
    try:
        make_scheduler("dpmpp", scheduler_config(1000))
        make_scheduler("dpmpp", {**scheduler_config(1000), "unknown_key": 1})  # the listener works
    finally:
        logger.removeHandler(handler)
    assert len(handler.messages) == 1 and "unknown_key" in handler.messages[0]


def test_ddim_refuses_what_it_does_not_do_and_returns_both_forms():
    from heliogen.diffusion.ddim import NextStepDDIMScheduler

    cfg = scheduler_config(1000)
    s = make_scheduler("ddim", cfg)
    s.set_timesteps(10)
    x, out = torch.full((1, 4), 0.5), torch.full((1, 4), 0.1)
    with pytest.raises(HeliogenError, match="^heliogen's DDIM is deterministic: eta must be 0$"):
        s.step(out, s.timesteps[0], x, eta=0.5)
    with pytest.raises(HeliogenError, match=r"^timestep 5 is not on this DDIM schedule \(10 steps\)$"):
        s.step(out, 5, x)
    for bad, message in [({"thresholding": True}, "dynamic thresholding is not supported"),
                         ({"prediction_type": "flow"}, "unknown prediction type 'flow'")]:
        other = NextStepDDIMScheduler.from_config({**cfg, **bad}, set_alpha_to_one=True)
        other.set_timesteps(10)
        with pytest.raises(HeliogenError, match=message):
            other.step(out, other.timesteps[0], x)
    # the tuple form is the dataclass's fields; the last step lands on alphabar = 1, i.e. on x0
    t = s.timesteps[-1]
    a = float(s.alphas_cumprod[int(t)])
    x0 = (0.5 - (1 - a) ** 0.5 * 0.1) / a ** 0.5
    prev, pred = s.step(out, t, x, return_dict=False)
    assert torch.allclose(prev, torch.full((1, 4), x0)) and torch.allclose(pred, prev)
    # clipped x0 and, on request, the noise recomputed from it: x_prev = sqrt(a') x0c + sqrt(1 - a') eps(x0c)
    big = torch.full((1, 4), 30.0)
    t0, t1 = int(s.timesteps[0]), int(s.timesteps[1])
    a0, a1 = float(s.alphas_cumprod[t0]), float(s.alphas_cumprod[t1])
    x0c = 1.0  # (30 - sqrt(1 - a0) 0.1) / sqrt(a0) clipped to the range
    eps_c = (30.0 - a0 ** 0.5 * x0c) / (1 - a0) ** 0.5
    got = s.step(out, t0, big, use_clipped_model_output=True).prev_sample
    assert torch.allclose(got, torch.full((1, 4), a1 ** 0.5 * x0c + (1 - a1) ** 0.5 * eps_c), rtol=1e-5)
    plain = s.step(out, t0, big).prev_sample
    assert torch.allclose(plain, torch.full((1, 4), a1 ** 0.5 * x0c + (1 - a1) ** 0.5 * 0.1), rtol=1e-5)
