"""Super-resolve low-resolution batches with a trained model of any of the six kinds.

Diffusion models run the shared denoiser loop (:func:`heliogen.diffusion.loop.sample_loop`)
with the condition concatenated on the channel axis (:class:`~heliogen.diffusion.denoisers.ImageConditioned`),
one seed and one generator per sample, networks on fixed micro-batches: a sample does not
depend on the batch it ran in. Deterministic models are one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..diffusion.denoisers import ImageConditioned, NetworkDenoiser
from ..diffusion.loop import sample_loop
from ..diffusion.schedule import make_scheduler
from ..diffusion.seeding import image_generators, initial_noise
from ..errors import HeliogenError
from .models import DIFFUSION_MODELS, diffusion_spaces, to_image

__all__ = ["SuperResolver", "super_resolve", "target_shape", "AUTOENCODER_FOLDER"]

AUTOENCODER_FOLDER = "autoencoder"  # RUN/autoencoder: the frozen autoencoder a latent run was trained with


@dataclass
class SuperResolver:
    """What super-resolving needs: the model's kind, network, autoencoder, scales and scheduler."""

    model: str
    net: torch.nn.Module
    autoencoder: torch.nn.Module | None = None
    target_scale: float = 1.0
    condition_scale: float = 1.0
    scheduler: dict | None = None
    channels: int = 1

    @classmethod
    def from_run(cls, run, checkpoint=None, weights: str = "ema", device="cpu") -> "SuperResolver":
        from .autoencoder import load_pretrained_autoencoder

        extras = run.extras
        if extras.get("lora"):
            from .lora import load_lora_model

            net = load_lora_model(run, checkpoint, ema=(weights == "ema"), device=device)
        else:
            net = run.load_module("model", ema=(weights == "ema"), checkpoint=checkpoint, device=device)
        folder = run.path / AUTOENCODER_FOLDER
        ae = load_pretrained_autoencoder(folder).eval().to(device) if folder.is_dir() else None
        return cls(extras["model"], net, ae, float(extras.get("target_scale", 1.0)), float(extras.get("condition_scale", 1.0)),
                   extras.get("scheduler"), int(run.data.get("channels", 1)))


def super_resolve(sr: SuperResolver, lowres: torch.Tensor, seeds, sampler: str = "dpmpp", steps: int = 20,
                  eval_batch: int = 8, on_step=None, noise: torch.Tensor | None = None) -> torch.Tensor:
    """High-resolution predictions (model space) of ``lowres`` (N, C, s, s), one seed per row.

    ``noise``: the initial noise of each row (diffusion models), instead of drawing it from the
    row's seed; full-disk tiling passes noise fixed by position on the disk. The seeds still
    drive an ancestral sampler's later draws.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) != len(lowres):
        raise HeliogenError(f"{len(seeds)} seeds for {len(lowres)} images")
    device = next(sr.net.parameters()).device
    lowres = lowres.to(device)
    with torch.no_grad():
        if sr.model == "enhance":
            return sr.net(lowres)
        if sr.model == "progressive":
            return sr.net(lowres)[1]
        if sr.model not in DIFFUSION_MODELS:
            raise HeliogenError(f"unknown super-resolution model {sr.model!r}")
        # the condition (and the residual's base) of each row; HR only sets the shape here
        hr_shape = torch.zeros(lowres.shape[0], lowres.shape[1], lowres.shape[2] * 4, lowres.shape[3] * 4, device=device)
        spaces = diffusion_spaces(sr.model, hr_shape, lowres, sr.autoencoder)
        generators = image_generators(seeds)
        denoiser = ImageConditioned(NetworkDenoiser(sr.net, eval_batch=eval_batch), spaces.condition * sr.condition_scale)
        if noise is None:
            noise = initial_noise(generators, tuple(spaces.x0.shape[1:]), device)
        elif tuple(noise.shape) != tuple(spaces.x0.shape):
            raise HeliogenError(f"noise of shape {tuple(noise.shape)} for targets of shape {tuple(spaces.x0.shape)}")
        x0 = sample_loop(denoiser, make_scheduler(sampler, sr.scheduler), steps, noise.to(device), generators, on_step=on_step)
        return to_image(sr.model, x0 / sr.target_scale, spaces.base, sr.autoencoder, sr.channels)


def target_shape(sr: SuperResolver, lowres_shape) -> tuple[int, ...]:
    """Shape ``(C, H, W)`` of the diffusion target (the latent for ldm models) of a low-resolution image."""
    c, h, w = lowres_shape[-3:]
    if sr.autoencoder is None:
        return (c, 4 * h, 4 * w)
    f = 2 ** (len(sr.autoencoder.config.block_out_channels) - 1)
    return (int(sr.autoencoder.config.latent_channels), 4 * h // f, 4 * w // f)
