"""The denoiser loop and sample_images: latents far outside [-1, 1], image conditioning, the network adapter,
seeding, the loop's contract with any scheduler, and sample_images' options and refusals."""

import math

import numpy as np
import pytest
import torch
from analytic_diffusion import ExactDenoiser, GaussianMixture, exact_gaussian_output

from heliogen.diffusion.denoisers import ImageConditioned, NetworkDenoiser
from heliogen.diffusion.loop import sample_loop
from heliogen.diffusion.sampling import sample_images
from heliogen.diffusion.schedule import make_scheduler, scheduler_config
from heliogen.diffusion.seeding import image_generators, initial_noise
from heliogen.errors import HeliogenError

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


class StubScheduler:
    """The scheduler interface the loop relies on, with hand-checkable numbers: timesteps
    ``steps - 1, ..., 0``, ``init_noise_sigma`` 2, model input ``x / 4``, step ``x - output``.
    Its ``step`` takes no ``generator``, as some diffusers schedulers' do not."""

    init_noise_sigma = 2.0

    def set_timesteps(self, steps):
        self.timesteps = torch.arange(steps - 1, -1, -1)

    def scale_model_input(self, x, t):
        return x / 4

    def step(self, output, t, x):
        return type("Out", (), {"prev_sample": x - output})()


def test_loop_contract_on_hand_worked_numbers():
    """x_T = 2 noise; each step x <- x - f(x / 4, t) with f(y, t) = y + t: three steps from noise 1 give
    2 -> 2 - (0.5 + 2) = -0.5 -> -0.5 - (-0.125 + 1) = -1.375 -> -1.375 - (-0.34375 + 0) = -1.03125."""
    seen, steps_done = [], []

    def denoiser(y, t):
        seen.append(t.clone())
        return y + t.reshape(-1, 1).to(y.dtype)

    out = sample_loop(denoiser, StubScheduler(), 3, torch.ones(2, 1), image_generators([0, 1]), on_step=steps_done.append)
    assert torch.equal(out, torch.full((2, 1), -1.03125))
    assert steps_done == [0, 1, 2]
    assert [s.tolist() for s in seen] == [[2, 2], [1, 1], [0, 0]]
    assert all(s.dtype == torch.long for s in seen)


def test_timesteps_follow_x_to_its_device():
    """The (N,) timestep tensor is made on x's device (here the storage-free meta device)."""
    devices = []

    def denoiser(y, t):
        devices.append((t.device.type, tuple(t.shape)))
        return torch.zeros_like(y)

    sample_loop(denoiser, StubScheduler(), 2, torch.ones(3, 5, device="meta"))
    assert devices == [("meta", (3,))] * 2


def test_loop_runs_without_gradients():
    weight = torch.nn.Parameter(torch.tensor(0.5))
    out = sample_loop(lambda y, t: weight * y, StubScheduler(), 2, torch.ones(2, 1))
    assert not out.requires_grad
    assert torch.equal(out, torch.full((2, 1), 2 * (1 - 0.125) ** 2))  # x <- x (1 - 0.5 / 4) per step


def test_euler_scheduler_scales_noise_and_input():
    """Any diffusers scheduler fits the loop: Euler (Karras et al. 2022, Alg. 1 without churn) on VE
    states starts from ``init_noise_sigma`` noise and feeds the network ``x / sqrt(1 + sigma^2)``.
    For data N(mu, s^2) the denoised estimate is affine, D(x) = mu + k (x - mu) with
    k = s^2 / (s^2 + sigma^2), so the output's moments follow from the Euler updates exactly."""
    from diffusers import EulerDiscreteScheduler

    mu, s, steps = 5.0, 3.0, 12
    cfg = {k: v for k, v in latent_config().items() if not k.startswith("clip_sample")}
    scheduler = EulerDiscreteScheduler.from_config(cfg)
    denoiser = ExactDenoiser(GaussianMixture([1.0], [mu], [s]), scheduler.alphas_cumprod, "epsilon")
    generators = image_generators(range(8))
    x = sample_loop(denoiser, scheduler, steps, initial_noise(generators, (2000,)), generators).double()
    sigmas = scheduler.sigmas.double().numpy()
    g, c = float(scheduler.init_noise_sigma), 0.0  # x = g z + c
    for i in range(steps):
        k = s**2 / (s**2 + sigmas[i] ** 2)
        factor = (sigmas[i + 1] - sigmas[i]) / sigmas[i] * (1 - k)
        g, c = g * (1 + factor), c + factor * (c - mu)
    mean, var = c, g**2
    n = x.numel()
    assert abs(float(x.mean()) - mean) <= Z * math.sqrt(var / n)
    assert abs(float(x.var()) - var) <= Z * var * math.sqrt(2 / n)
    assert abs(mean - mu) < 0.5 and abs(var / s**2 - 1) < 0.3  # near the data: Euler is first order, ~20% off at 12 steps


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_no_generators_draws_from_torch_global_stream(sampler):
    scheduler = make_scheduler(sampler, latent_config())
    denoiser = ExactDenoiser(GaussianMixture([1.0], [5.0], [3.0]), scheduler.alphas_cumprod, "epsilon")
    noise = torch.randn(2, 4, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(11)
    first = sample_loop(denoiser, scheduler, 5, noise)
    torch.manual_seed(11)
    assert torch.equal(sample_loop(denoiser, scheduler, 5, noise), first)


class ClassX0:
    """A conditional x0-predicting 'network': every pixel's x0 is the image's class value (-0.5 when dropped),
    so deterministic DDIM, whose last step lands on the x0 prediction, returns exactly that value."""

    conditioned = True
    condition_keys = ("class_index",)

    def __call__(self, x, t, class_index, drop):
        value = torch.where(drop, torch.tensor(-0.5), class_index.to(torch.float32))
        return value.reshape(-1, *([1] * (x.dim() - 1))).expand_as(x).to(x.dtype)


def x0_config(clip=False):
    return {**scheduler_config(1000), "prediction_type": "sample", "clip_sample": clip}


def test_each_image_gets_its_own_condition_across_chunks():
    classes = torch.tensor([0, 1, 2, 3, 4])
    x = sample_images(ClassX0(), x0_config(), "ddim", 4, range(5), (1, 2, 2), cond={"class_index": classes}, batch=2,
                      eval_batch=3, progress=False, clamp=None)
    assert x.shape == (5, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x, np.broadcast_to(np.arange(5.0).reshape(5, 1, 1, 1), x.shape), atol=1e-5)
    # guided at w = 2: -0.5 + 2 (k + 0.5) = 2k + 0.5
    x = sample_images(ClassX0(), x0_config(), "ddim", 4, range(5), (1, 2, 2), cond={"class_index": classes},
                      guidance=2.0, batch=3, progress=False, clamp=None)
    np.testing.assert_allclose(x, np.broadcast_to((2 * np.arange(5.0) + 0.5).reshape(5, 1, 1, 1), x.shape), atol=1e-5)


@pytest.mark.parametrize("clamp,expected", [((-1.0, 1.0), 1.0), ((-2.0, 2.0), 2.0), (None, 3.0), ((3.5, 4.0), 3.5)])
def test_final_clamp(clamp, expected):
    cond = {"class_index": torch.tensor([3, 3])}
    x = sample_images(ClassX0(), x0_config(), "ddim", 3, [0, 1], (1, 2, 2), cond=cond, progress=False, clamp=clamp)
    np.testing.assert_allclose(x, expected, atol=1e-5)


def test_default_clamp_is_the_pixel_range():
    cond = {"class_index": torch.tensor([3, -4])}
    x = sample_images(ClassX0(), x0_config(), "ddim", 3, [0, 1], (1, 2, 2), cond=cond, progress=False)
    np.testing.assert_allclose(x[0], 1.0, atol=1e-5)
    np.testing.assert_allclose(x[1], -1.0, atol=1e-5)


@pytest.mark.parametrize("config_clip,clip_x0,expected", [(False, True, 1.0), (True, False, 3.0), (True, None, 1.0),
                                                          (False, None, 3.0)])
def test_clip_x0_overrides_the_config(config_clip, clip_x0, expected):
    cond = {"class_index": torch.tensor([3])}
    x = sample_images(ClassX0(), x0_config(config_clip), "ddim", 3, [0], (1, 2, 2), cond=cond, progress=False,
                      clamp=None, clip_x0=clip_x0)
    np.testing.assert_allclose(x, expected, atol=1e-5)


def test_images_do_not_depend_on_the_batch():
    """Image k comes from seed k alone, whatever images share its batch (DDPM draws noise every step)."""
    cfg = latent_config()
    model = LatentModel(make_scheduler("ddpm", cfg).alphas_cumprod)
    one = sample_images(model, cfg, "ddpm", 4, [7, 8, 9, 10, 11], (1, 3, 3), batch=5, eval_batch=2, progress=False, clamp=None)
    two = sample_images(model, cfg, "ddpm", 4, [7, 8, 9, 10, 11], (1, 3, 3), batch=2, eval_batch=2, progress=False, clamp=None)
    alone = sample_images(model, cfg, "ddpm", 4, [9], (1, 3, 3), progress=False, clamp=None, eval_batch=2)
    assert np.array_equal(one, two) and np.array_equal(one[2], alone[0])
    assert not np.array_equal(one[0], one[1])


class Unconditional:
    def __call__(self, x, t):
        return torch.zeros_like(x)


class Broken(ClassX0):
    def __call__(self, x, t, class_index, drop):
        return torch.full_like(x, float("nan"))


@pytest.mark.parametrize("model,kwargs,message", [
    (ClassX0(), {"steps": 0}, "--steps must be at least 1"),
    (Unconditional(), {"guidance": 2.0}, "guidance needs a conditional model; this one is unconditional"),
    (Unconditional(), {"cond": {"class_index": torch.tensor([1])}}, "this model is unconditional: it takes no class or flux"),
    (Broken(), {}, "sampling produced non-finite values; the checkpoint may be broken"),
])
def test_bad_requests_are_refused_with_the_reason(model, kwargs, message):
    args = {"steps": 2, **kwargs}
    with pytest.raises(HeliogenError) as info:
        sample_images(model, x0_config(), "ddim", seeds=[0], shape=(1, 2, 2), progress=False, **args)
    assert str(info.value) == message


def test_progress_bar_counts_steps_of_all_images(capsys):
    cond = {"class_index": torch.tensor([0, 1, 2])}
    sample_images(ClassX0(), x0_config(), "ddim", 4, range(3), (1, 2, 2), cond=cond, batch=2)
    err = capsys.readouterr().err
    assert "sample ddim-4" in err and "12/12" in err and ("step/s" in err or "s/step" in err)
    sample_images(ClassX0(), x0_config(), "ddim", 4, range(3), (1, 2, 2), cond=cond, progress=False)
    assert capsys.readouterr().err == ""


def test_one_step_is_enough():
    """The smallest request: one DDIM step from t = T - 1 lands on the x0 prediction."""
    x = sample_images(ClassX0(), x0_config(), "ddim", 1, [0], (1, 2, 2), cond={"class_index": torch.tensor([2])},
                      progress=False, clamp=None)
    np.testing.assert_allclose(x, 2.0, atol=1e-5)


class Counting:
    """An unconditional 'network' that counts the rows of each call; x0 prediction 0."""

    conditioned = False

    def __init__(self):
        self.rows = []

    def __call__(self, x, t):
        self.rows.append(x.shape[0])
        return torch.zeros_like(x)


def test_default_chunks_of_16_and_micro_batches_of_8():
    """20 images at the defaults: chunks of 16 and 4 images, each evaluated in padded micro-batches
    of 8 rows: three network calls per step (8, 8 | 8), not four as chunks of 17 and 3 would give."""
    model = Counting()
    sample_images(model, x0_config(), "ddim", 2, range(20), (1, 2, 2), progress=False)
    assert model.rows == [8] * 6
    model.rows.clear()
    sample_images(model, x0_config(), "ddim", 2, range(5), (1, 2, 2), eval_batch=3, progress=False)
    assert model.rows == [3, 3] * 2


class Seen(Exception):
    pass


class DeviceProbe(ClassX0):
    def __call__(self, x, t, class_index, drop):
        raise Seen({x.device.type, t.device.type, class_index.device.type, drop.device.type})


def test_noise_and_conditions_go_to_the_requested_device():
    """The network's first call sees x, t and the condition on ``device`` (the storage-free meta
    device here, so the probe stops the run there)."""
    with pytest.raises(Seen) as info:
        sample_images(DeviceProbe(), x0_config(), "ddim", 2, [0, 1], (1, 2, 2), cond={"class_index": torch.tensor([1, 2])},
                      device="meta", progress=False)
    assert info.value.args[0] == {"meta"}
