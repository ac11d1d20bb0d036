"""The denoiser loop: latents far outside [-1, 1], image conditioning, the network adapter, seeding."""

import math

import pytest
import torch
from analytic_diffusion import ExactDenoiser, GaussianMixture, exact_gaussian_output

from heliogen.diffusion.denoisers import ImageConditioned, NetworkDenoiser
from heliogen.diffusion.loop import sample_loop
from heliogen.diffusion.sampling import sample_images
from heliogen.diffusion.schedule import make_scheduler, scheduler_config
from heliogen.diffusion.seeding import image_generators, initial_noise

Z = 4.5  # tolerances: z standard errors (sample mean sqrt(v / n), Gaussian sample variance v sqrt(2 / n))


def latent_config():
    return {**scheduler_config(1000), "clip_sample": False}


class LatentModel:
    """An unconditional 'network' whose data are N(5, 3^2): a toy latent space."""

    conditioned = False

    def __init__(self, alphas_cumprod, mu=5.0, s=3.0):
        self.exact = ExactDenoiser(GaussianMixture([1.0], [mu], [s]), alphas_cumprod, "epsilon")

    def __call__(self, x, t):
        return self.exact(x, t)


@pytest.mark.parametrize("sampler,steps", [("ddpm", 20), ("dpmpp", 20)])
def test_latent_gaussian_survives_the_loop(sampler, steps):
    mu, s = 5.0, 3.0
    cfg = latent_config()
    scheduler = make_scheduler(sampler, cfg)
    model = LatentModel(scheduler.alphas_cumprod, mu, s)
    x = torch.from_numpy(sample_images(model, cfg, sampler, steps, range(8), (1, 50, 50), batch=3, progress=False, clamp=None)).double()
    scheduler.set_timesteps(steps)
    mean, var = exact_gaussian_output(sampler, scheduler, mu, s)
    n = x.numel()
    assert abs(float(x.mean()) - mean) <= Z * math.sqrt(var / n)
    assert abs(float(x.var()) - var) <= Z * var * math.sqrt(2 / n)
    assert float(x.max()) > 10 and float(x.min()) < -1  # values far outside [-1, 1] are kept
    # today's pixel defaults, the caller's choice: clamp the result, clip x0 as the config says
    pixels = sample_images(model, {**cfg, "clip_sample": True}, sampler, steps, range(2), (1, 8, 8), progress=False)
    assert pixels.min() >= -1 and pixels.max() <= 1
    clipped = sample_images(model, {**cfg, "clip_sample": True}, sampler, steps, range(8), (1, 50, 50), progress=False, clamp=None)
    assert clipped.max() < 3  # x0 clipped to [-1, 1] at every step keeps the sample near that range
    unclipped = sample_images(model, {**cfg, "clip_sample": True}, sampler, steps, range(8), (1, 50, 50), progress=False,
                              clamp=None, clip_x0=False)
    assert torch.equal(torch.from_numpy(unclipped).double(), x)


class ImageConditionedModel:
    """A 'network' on concat(x_t, y): the data given the image y are N(2 y + 1, 0.3^2) per pixel."""

    conditioned = False

    def __init__(self, alphas_cumprod, s=0.3):
        self.alphas_cumprod, self.s = alphas_cumprod.double(), s
        self.seen_channels = set()

    def __call__(self, xy, t):
        self.seen_channels.add(xy.shape[1])
        x, y = xy[:, :1].double(), xy[:, 1:].double()
        mu = 2 * y + 1
        a = self.alphas_cumprod[t].sqrt().reshape(-1, 1, 1, 1)
        b = (1 - a**2).sqrt()
        x0 = mu + a * self.s**2 * (x - a * mu) / (a**2 * self.s**2 + b**2)
        return ((x - a * x0) / b).to(xy.dtype)


def test_image_conditioned_denoiser_through_the_loop():
    """Palette's concatenation: the sample follows the conditioning image as the closed form says.

    For a fixed image the output is Gaussian, with mean kappa * mu(y) (kappa: the exact answer's
    mean for mu = 1, as the update equations are linear in mu) and the exact variance."""
    cfg, steps, s = latent_config(), 50, 0.3
    scheduler = make_scheduler("ddim", cfg)
    model = ImageConditionedModel(scheduler.alphas_cumprod, s)
    image = torch.rand(6, 1, 40, 40, generator=torch.Generator().manual_seed(1)) * 4 - 2
    generators = image_generators(range(6))
    denoiser = ImageConditioned(NetworkDenoiser(model, eval_batch=4), image)
    x = sample_loop(denoiser, scheduler, steps, initial_noise(generators, (1, 40, 40)), generators).double()
    assert model.seen_channels == {2}
    kappa, _ = exact_gaussian_output("ddim", scheduler, 1.0, s)
    _, var = exact_gaussian_output("ddim", scheduler, 0.0, s)
    residual = (x - kappa * (2 * image.double() + 1)).flatten()
    n = residual.numel()
    assert abs(float(residual.mean())) <= Z * math.sqrt(var / n)
    assert abs(float(residual.var()) - var) <= Z * var * math.sqrt(2 / n)
    slope = float(((x - x.mean()) * (image - image.mean())).sum() / ((image - image.mean()) ** 2).sum())
    assert abs(slope - 2 * kappa) <= Z * math.sqrt(var / n) / float(image.std())


class RecordingModel:
    """A conditional 'network' that records what the adapter passes; output = x + row-wise condition."""

    conditioned = True
    condition_keys = ("class_index", "log10_flux")

    def __init__(self):
        self.calls = []

    def __call__(self, x, t, class_index, log10_flux, drop):
        self.calls.append({"n": x.shape[0], "class_index": class_index.clone(), "drop": drop.clone()})
        return x + class_index.reshape(-1, 1).to(x.dtype) + 10 * drop.reshape(-1, 1).to(x.dtype)


def test_network_adapter_micro_batches_and_null_condition():
    model = RecordingModel()
    x, t = torch.randn(5, 3), torch.zeros(5, dtype=torch.long)
    cond = {"class_index": torch.tensor([0, 1, 2, 3, 4]), "log10_flux": torch.full((5,), -5.0)}
    out = NetworkDenoiser(model, cond, eval_batch=2)(x, t)
    assert [c["n"] for c in model.calls] == [2, 2, 2]  # fixed size: the last micro-batch is padded
    assert torch.equal(out, x + torch.arange(5).reshape(-1, 1))
    assert not any(c["drop"].any() for c in model.calls)
    model.calls.clear()
    out = NetworkDenoiser(model, None, eval_batch=4)(x, t)  # no condition: the null condition
    assert all(c["drop"].all() and not c["class_index"].any() for c in model.calls)
    assert torch.equal(out, x + 10)
    one = NetworkDenoiser(model, {k: v[3:4] for k, v in cond.items()}, eval_batch=2)(x[3:4], t[3:4])
    assert torch.equal(one[0], x[3] + 3)  # row 3 alone: the same as in the batch of 5


def test_rows_depend_only_on_their_own_generator():
    """DDPM draws fresh noise every step: row k must come from generator k alone."""
    cfg = latent_config()
    scheduler = make_scheduler("ddpm", cfg)
    denoiser = ExactDenoiser(GaussianMixture([1.0], [5.0], [3.0]), scheduler.alphas_cumprod, "epsilon")

    def run(seeds):
        generators = image_generators(seeds)
        return sample_loop(denoiser, scheduler, 8, initial_noise(generators, (16,)), generators)

    both = run([3, 4, 5])
    assert torch.equal(both[1], run([4])[0]) and torch.equal(both[2], run([7, 5])[1])
    assert not torch.equal(both[0], both[1])
