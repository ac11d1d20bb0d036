"""The super-resolution paper's six models (sec. 3-4, table 1) and what they predict.

* ``ddpm`` / ``ddpm-res``: Palette diffusion in pixel space (Saharia et al. 2022). The network
  sees ``concat(x_t, LR_up)``, the low-resolution map upsampled by pixel replication (x4, no
  interpolation), and predicts the noise of ``x_0 = HR`` or of the residual ``x_0 = HR - LR_up``.
* ``ldm`` / ``ldm-res``: the same in the autoencoder's latent space (Rombach et al. 2022):
  ``z_HR = E(HR)``, ``z_LR = E(LR_up)``, the network sees ``concat(z_t, z_LR)`` and ``x_0`` is
  ``z_HR`` or ``z_HR - z_LR``; the prediction is decoded (after adding ``z_LR`` back).
* ``enhance`` and ``progressive``: the deterministic networks (:mod:`.deterministic`).

Diffusion targets and conditions are scaled to unit standard deviation with factors measured
on the training set when the run starts (as latent diffusion scales its latents): a
magnetogram residual in [-1, 1] model space has a standard deviation of a few hundredths,
which unit-variance noise would drown.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import HeliogenError
from .autoencoder import decode, encode
from .deterministic import replicate

__all__ = ["MODELS", "DIFFUSION_MODELS", "LATENT_MODELS", "RESIDUAL_MODELS", "Targets", "diffusion_spaces", "FACTOR"]

MODELS = ("ldm-res", "ldm", "ddpm-res", "ddpm", "enhance", "progressive")
DIFFUSION_MODELS = ("ldm-res", "ldm", "ddpm-res", "ddpm")
LATENT_MODELS = ("ldm-res", "ldm")
RESIDUAL_MODELS = ("ldm-res", "ddpm-res")
FACTOR = 4


def check_model(name: str) -> str:
    if name not in MODELS:
        raise HeliogenError(f"unknown super-resolution model {name!r}; choose from {', '.join(MODELS)}")
    return name


@dataclass
class Targets:
    """What a diffusion model is trained on, for one batch: ``x0`` (unscaled) and its condition."""

    x0: torch.Tensor
    condition: torch.Tensor
    base: torch.Tensor  # what x0 is added to for the prediction (zero for non-residual models)


def diffusion_spaces(model: str, hr: torch.Tensor, lr: torch.Tensor, autoencoder=None) -> Targets:
    """The diffusion target and condition of ``model`` for high- and low-resolution batches (model space).

    Pixel models: condition ``LR_up = replicate(LR, 4)``; target ``HR`` or ``HR - LR_up``.
    Latent models: condition ``z_LR = E(LR_up)``; target ``E(HR)`` or ``E(HR) - z_LR``.
    """
    lr_up = replicate(lr, FACTOR)
    if lr_up.shape != hr.shape:
        raise HeliogenError(f"low-resolution images {tuple(lr.shape[-2:])} x{FACTOR} do not match the high-resolution {tuple(hr.shape[-2:])}")
    if model in LATENT_MODELS:
        if autoencoder is None:
            raise HeliogenError(f"{model} needs an autoencoder (--autoencoder RUN)")
        with torch.no_grad():
            cond, z_hr = encode(autoencoder, lr_up), encode(autoencoder, hr)
        base = cond if model in RESIDUAL_MODELS else torch.zeros_like(cond)
        return Targets(x0=z_hr - base, condition=cond, base=base)
    base = lr_up if model in RESIDUAL_MODELS else torch.zeros_like(lr_up)
    return Targets(x0=hr - base, condition=lr_up, base=base)


def to_image(model: str, x0: torch.Tensor, base: torch.Tensor, autoencoder=None, channels: int = 1) -> torch.Tensor:
    """The high-resolution image (model space) of a predicted (unscaled) ``x0``."""
    x = x0 + base
    if model in LATENT_MODELS:
        with torch.no_grad():
            x = decode(autoencoder, x, channels)
    return x
