"""Samplers proven on known answers: exact denoisers for data with a closed-form distribution.

Each test runs the real loop and the real diffusers schedulers on an exact epsilon, v or x0
model of 1-D data (``tests/analytic_diffusion.py``); the "images" are rows of many i.i.d.
pixels, so n = 40 000 samples cost one small tensor per step.

Tolerances (z = 4.5, a false alarm below 1e-5 per check; the seeds are fixed anyway):
- Monte Carlo, from n: a sample mean has standard error ``sqrt(v / n)``, a Gaussian sample
  variance ``v sqrt(2 / n)``, a fraction ``sqrt(p (1 - p) / n)``.
- Discretisation, from the step count: with an exact Gaussian denoiser each step is affine,
  so the output of S steps is Gaussian with moments given by the update equations
  (:func:`analytic_diffusion.exact_gaussian_output`); their distance to the data's moments
  is the bias of S steps, computed, not guessed.
"""

import math

import numpy as np
import pytest
import torch
from analytic_diffusion import ExactDenoiser, GaussianMixture, exact_gaussian_output

from heliogen.diffusion.loop import sample_loop
from heliogen.diffusion.sampling import sample_images
from heliogen.diffusion.schedule import make_scheduler, scheduler_config
from heliogen.diffusion.seeding import image_generators, initial_noise

Z = 4.5
IMAGES, PIXELS = 8, 5000
SAMPLERS = ("ddpm", "ddpm-large", "ddim", "dpmpp")
PREDICTIONS = ("epsilon", "v_prediction", "sample")


def config(prediction="epsilon"):
    # no x0 clipping: the data are not in [-1, 1]
    return {**scheduler_config(1000, "linear", "epsilon"), "prediction_type": prediction, "clip_sample": False}


def run(data, sampler, steps, prediction, images=IMAGES, pixels=PIXELS):
    scheduler = make_scheduler(sampler, config(prediction))
    generators = image_generators(range(images))
    x = sample_loop(ExactDenoiser(data, scheduler.alphas_cumprod, prediction), scheduler, steps,
                    initial_noise(generators, (pixels,)), generators)
    return x.double().flatten(), scheduler  # the scheduler's timesteps are set to ``steps`` now


def assert_moments(x, mean, var, bias_mean=0.0, bias_var=0.0):
    n = x.numel()
    assert abs(float(x.mean()) - mean) <= Z * math.sqrt(var / n) + abs(bias_mean), (float(x.mean()), mean)
    assert abs(float(x.var()) - var) <= Z * var * math.sqrt(2 / n) + abs(bias_var), (float(x.var()), var)


GAUSSIAN = (5.0, 3.0)  # far outside [-1, 1], as latents are


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_gaussian_output_is_the_exact_finite_step_answer(sampler, prediction):
    """At 10 steps each sampler is far from converged and the samplers differ (DDPM's fixed-small
    variance gives 0.60 s^2, fixed-large 0.72 s^2, DDIM 0.74 s^2, DPM-Solver++ 1.28 s^2); the
    sample must match its own sampler's exact answer within Monte Carlo error alone."""
    mu, s = GAUSSIAN
    x, scheduler = run(GaussianMixture([1.0], [mu], [s]), sampler, 10, prediction)
    mean, var = exact_gaussian_output(sampler, scheduler, mu, s, prediction)
    assert_moments(x, mean, var)


@pytest.mark.parametrize("sampler,steps", [("ddpm", 250), ("ddpm-large", 250), ("ddim", 100), ("dpmpp", 25)])
def test_gaussian_moments_are_recovered(sampler, steps):
    """The data's own moments, within Monte Carlo error plus the exact bias of ``steps`` steps,
    which is itself small (under 5% of the variance; the mean's bias is the signal
    ``sqrt(alphabar_T) mu`` that x_T ~ N(0, 1) omits, which ODE samplers carry to the end)."""
    mu, s = GAUSSIAN
    x, scheduler = run(GaussianMixture([1.0], [mu], [s]), sampler, steps, "v_prediction")
    mean, var = exact_gaussian_output(sampler, scheduler, mu, s, "v_prediction")
    assert abs(var / s**2 - 1) < 0.05 and abs(mean / mu - 1) < 0.025
    assert_moments(x, mu, s**2, bias_mean=mean - mu, bias_var=var - s**2)


MIXTURE = GaussianMixture([0.3, 0.7], [-3.0, 2.0], [0.5, 0.7])


def mixture_cdf(c: float) -> float:
    w, m, s = (v.numpy() for v in (MIXTURE.weights, MIXTURE.means, MIXTURE.stds))
    return float(sum(wk * 0.5 * (1 + math.erf((c - mk) / (sk * math.sqrt(2)))) for wk, mk, sk in zip(w, m, s)))


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("sampler,steps", [("ddpm", 100), ("ddpm-large", 100), ("ddim", 100), ("dpmpp", 25)])
def test_mixture_moments_and_component_weights(sampler, steps, prediction):
    """A two-component mixture (weights 0.3 / 0.7, modes 5 s apart) through the exact
    posterior-mean model (responsibilities times component posterior means).

    Discretisation allowance: the exact bias of the moment-matched Gaussian at the same steps
    (the flow of a mixture is that Gaussian's while the components overlap, and each
    component's, with smaller relative bias, once they separate). Component weights are read
    as the mass below the density minimum c between the modes; a relative error e in the
    sampler's spread moves the boundary by e |z_c| standard deviations, changing the weight
    by phi(z_c) |z_c| e with z_c = Phi^-1(w_0).
    """
    x, scheduler = run(MIXTURE, sampler, steps, prediction, pixels=2500)
    mean, var = MIXTURE.mean, MIXTURE.var
    g_mean, g_var = exact_gaussian_output(sampler, scheduler, mean, math.sqrt(var), prediction)
    n = x.numel()
    # a mixture's sample variance has standard error sqrt((m4 - var^2) / n), m4 its 4th central moment
    w, m, s = (v.numpy() for v in (MIXTURE.weights, MIXTURE.means, MIXTURE.stds))
    d = m - mean
    m4 = float((w * (d**4 + 6 * d**2 * s**2 + 3 * s**4)).sum())
    assert abs(float(x.mean()) - mean) <= Z * math.sqrt(var / n) + abs(g_mean - mean)
    assert abs(float(x.var()) - var) <= Z * math.sqrt((m4 - var**2) / n) + abs(g_var - var)
    c = -0.5  # the density minimum between -3 (s 0.5) and 2 (s 0.7), near -0.6
    p = mixture_cdf(c)
    z_c = abs(float(torch.distributions.Normal(0, 1).icdf(torch.tensor(p))))
    spread_error = abs(math.sqrt(g_var / var) - 1)
    allowance = math.exp(-z_c**2 / 2) / math.sqrt(2 * math.pi) * z_c * spread_error
    fraction = float((x < c).double().mean())
    assert abs(fraction - p) <= Z * math.sqrt(p * (1 - p) / n) + allowance, (fraction, p)


class AnalyticClassModel:
    """A conditional 'network' with exact epsilon outputs: class k's data are N(means[k], s^2);
    the null condition (``drop``) gives N(uncond_mean, s^2). With equal variances the guided
    epsilon ``eps_u + w (eps_c - eps_u)`` is exactly the epsilon of N(m_u + w (m_c - m_u), s^2)."""

    conditioned = True
    condition_keys = ("class_index",)

    def __init__(self, alphas_cumprod, means, uncond_mean, s):
        self.alphas_cumprod = alphas_cumprod.double()
        self.means, self.uncond_mean, self.s = torch.tensor(means, dtype=torch.float64), uncond_mean, s

    def __call__(self, x, t, class_index, drop):
        shape = (-1, *([1] * (x.dim() - 1)))
        mu = torch.where(drop, torch.tensor(self.uncond_mean, dtype=torch.float64), self.means[class_index]).reshape(shape)
        a = self.alphas_cumprod[t].sqrt().reshape(shape)
        b = (1 - a**2).sqrt()
        x0 = mu + a * self.s**2 * (x.double() - a * mu) / (a**2 * self.s**2 + b**2)
        return ((x.double() - a * x0) / b).to(x.dtype)


@pytest.mark.parametrize("w", [0.0, 1.0, 3.0])
def test_classifier_free_guidance_gives_the_formula(w):
    """Through ``sample_images`` (network adapter, null condition, guidance wrapper, loop):
    class k's samples have the moments of N(m_u + w (m_k - m_u), s^2) at 50 DDIM steps."""
    means, uncond, s, steps = [-1.0, 2.0], 0.5, 0.5, 50
    cfg = config("epsilon")
    scheduler = make_scheduler("ddim", cfg)
    model = AnalyticClassModel(scheduler.alphas_cumprod, means, uncond, s)
    classes = torch.tensor([0, 1, 0, 1, 0, 1])
    x = sample_images(model, cfg, "ddim", steps, range(6), (1, 50, 50), cond={"class_index": classes}, guidance=w,
                      batch=4, eval_batch=3, progress=False, clamp=None)
    scheduler.set_timesteps(steps)
    for k in (0, 1):
        target = uncond + w * (means[k] - uncond)
        mean, var = exact_gaussian_output("ddim", scheduler, target, s)
        assert_moments(torch.from_numpy(x[classes.numpy() == k]).double().flatten(), mean, var)
    # no condition: the null condition, i.e. the unconditional model, whatever w
    x = sample_images(model, cfg, "ddim", steps, range(2), (1, 50, 50), guidance=w, progress=False, clamp=None)
    mean, var = exact_gaussian_output("ddim", scheduler, uncond, s)
    assert_moments(torch.from_numpy(x).double().flatten(), mean, var)


@pytest.mark.parametrize("sampler", ("ddim", "dpmpp", "ddpm"))
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_a_point_mass_comes_out_exactly(sampler, prediction):
    """Data all equal to 3: the exact denoiser predicts x0 = 3 from any x_t, so a sampler whose
    last step lands on the clean prediction returns 3 to float precision. Stopping one step
    short (DDIM's alphabar_0 = 0.9999 instead of 1) leaves 0.01 of the predicted noise, ~1e-2."""
    point = GaussianMixture(weights=(1.0,), means=(3.0,), stds=(0.0,))
    x, _ = run(point, sampler, 20, prediction, images=2, pixels=500)
    assert float((x - 3.0).abs().max()) < 1e-4


@pytest.mark.parametrize("steps", (6, 7, 11, 15))
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddim_goes_to_the_next_listed_timestep_at_any_step_count(steps, prediction):
    """Step counts that do not divide T = 1000: diffusers' DDIM steps by T // steps (166 for 6),
    off the trailing schedule (999, 832, 666, ...), and stops at alphabar_0 = 0.9999. heliogen's
    DDIM steps to the next listed timestep and ends on alphabar = 1: a point mass comes out
    exactly and a Gaussian with the exact moments of that schedule's update equations."""
    point = GaussianMixture(weights=(1.0,), means=(3.0,), stds=(0.0,))
    x, _ = run(point, "ddim", steps, prediction, images=2, pixels=500)
    assert float((x - 3.0).abs().max()) < 1e-4
    mu, s = GAUSSIAN
    x, scheduler = run(GaussianMixture([1.0], [mu], [s]), "ddim", steps, prediction)
    mean, var = exact_gaussian_output("ddim", scheduler, mu, s, prediction)
    assert_moments(x, mean, var)


@pytest.mark.parametrize("steps", (10, 20, 50))
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddim_equals_diffusers_where_the_stride_divides_t(steps, prediction):
    """Where T // steps is the true stride, heliogen's DDIM is diffusers' DDIM to the bit."""
    from diffusers import DDIMScheduler

    data = GaussianMixture([1.0], list(GAUSSIAN[:1]), list(GAUSSIAN[1:]))
    ours = make_scheduler("ddim", config(prediction))
    theirs = DDIMScheduler.from_config(config(prediction), set_alpha_to_one=True)
    outs = []
    for scheduler in (ours, theirs):
        generators = image_generators(range(2))
        outs.append(sample_loop(ExactDenoiser(data, scheduler.alphas_cumprod, prediction), scheduler, steps,
                                initial_noise(generators, (300,)), generators))
    assert torch.equal(outs[0], outs[1])
