"""The domain autoencoder of the latent super-resolution models, on diffusers' ``AutoencoderKL`` / ``VQModel``.

The super-resolution paper encodes magnetograms with a VQGAN (Esser et al. 2021) taken from
Rombach et al. (2022) before its Palette diffusion (sec. 3.3), and compares latent factors
(fig. 4: reconstruction quality falls as the latent shrinks). heliogen trains one on the
magnetograms themselves, or starts from a local diffusers-format VAE or VQGAN. A factor f
means ``log2 f`` downsampling stages (``log2 f + 1`` encoder blocks).

Losses: reconstruction (L1, as the latent-diffusion autoencoders), plus the KL term of the
Gaussian posterior (KL model) or the codebook and commitment terms (VQ model, diffusers'
``commit_loss``), plus optionally a PatchGAN discriminator's hinge loss after a warm-up
(:mod:`heliogen.superres.patch_discriminator`).
"""

from __future__ import annotations

import math

import torch

from ..errors import HeliogenError

__all__ = ["AUTOENCODER_TYPES", "FACTORS", "build_autoencoder", "load_pretrained_autoencoder", "encode", "decode",
           "autoencoder_type", "latent_shape"]

AUTOENCODER_TYPES = ("kl", "vq")
FACTORS = (4, 8, 16)


def _blocks(factor: int, width: int) -> tuple[int, ...]:
    if factor not in FACTORS:
        raise HeliogenError(f"--factor must be one of {', '.join(map(str, FACTORS))}, not {factor}")
    n = int(math.log2(factor)) + 1
    return tuple(width * min(2**i, 4) for i in range(n))


def build_autoencoder(kind: str, factor: int, channels: int = 1, width: int = 32, latent_channels: int = 4,
                      layers_per_block: int = 1, codebook: int = 1024):
    """A fresh ``AutoencoderKL`` (``kind="kl"``) or ``VQModel`` (``"vq"``) downsampling by ``factor``.

    Parameters
    ----------
    width : int
        Channels of the first block; deeper blocks double it, up to 4x.
    latent_channels : int
        Channels of the latent (the paper's VQGAN-f4: 3; LDM's KL-f8: 4).
    codebook : int
        VQ codebook size.
    """
    from diffusers import AutoencoderKL, VQModel

    blocks = _blocks(factor, width)
    common = dict(in_channels=channels, out_channels=channels, down_block_types=("DownEncoderBlock2D",) * len(blocks),
                  up_block_types=("UpDecoderBlock2D",) * len(blocks), block_out_channels=blocks,
                  layers_per_block=layers_per_block, latent_channels=latent_channels, norm_num_groups=min(32, width))
    if kind == "kl":
        return AutoencoderKL(**common, scaling_factor=1.0)
    if kind == "vq":
        return VQModel(**common, num_vq_embeddings=codebook, vq_embed_dim=latent_channels, scaling_factor=1.0)
    raise HeliogenError(f"unknown autoencoder type {kind!r}; choose from {', '.join(AUTOENCODER_TYPES)}")


def autoencoder_type(model) -> str:
    """``"kl"`` or ``"vq"`` for a diffusers autoencoder."""
    from diffusers import AutoencoderKL, VQModel

    if isinstance(model, AutoencoderKL):
        return "kl"
    if isinstance(model, VQModel):
        return "vq"
    raise HeliogenError(f"{type(model).__name__} is not an AutoencoderKL or a VQModel")


def load_pretrained_autoencoder(path):
    """A local diffusers-format VAE or VQGAN folder (``config.json`` + weights), by its class name."""
    import json
    from pathlib import Path

    from diffusers import AutoencoderKL, VQModel

    config = Path(path) / "config.json"
    if not config.is_file():
        raise HeliogenError(f"{path} is not a diffusers model folder (no config.json)")
    try:
        name = json.loads(config.read_text()).get("_class_name", "")
    except ValueError as err:
        raise HeliogenError(f"cannot read {config}: {err}") from None
    classes = {"AutoencoderKL": AutoencoderKL, "VQModel": VQModel}
    if name not in classes:
        raise HeliogenError(f"{path} holds a {name or 'model of unknown class'}, not an AutoencoderKL or a VQModel")
    try:
        return classes[name].from_pretrained(str(path))
    except (OSError, ValueError, RuntimeError) as err:
        raise HeliogenError(f"cannot load the autoencoder in {path}: {err}") from None


def factor_of(model) -> int:
    """The autoencoder's downsampling factor (2 per encoder block after the first)."""
    return 2 ** (len(model.config.block_out_channels) - 1)


def latent_shape(model, size: int) -> tuple[int, int, int]:
    """``(C, S / f, S / f)`` of the latent of an ``S x S`` image."""
    f = factor_of(model)
    if size % f:
        raise HeliogenError(f"image size {size} is not divisible by the autoencoder's factor {f}")
    return int(model.config.latent_channels), size // f, size // f


def _fit_channels(model, x: torch.Tensor) -> torch.Tensor:
    """A grey image for a three-channel (RGB) pretrained model is repeated over the channels."""
    want = int(model.config.in_channels)
    if x.shape[1] == want:
        return x
    if x.shape[1] == 1:
        return x.expand(-1, want, -1, -1)
    raise HeliogenError(f"the autoencoder takes {want} channels, the images have {x.shape[1]}")


def encode(model, x: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
    """Latent of images ``x`` (model space): the posterior mode (or a draw) for KL, the
    pre-quantisation latent for VQ (the decoder quantises), times ``scaling_factor``."""
    x = _fit_channels(model, x)
    if autoencoder_type(model) == "kl":
        dist = model.encode(x).latent_dist
        z = dist.sample(generator) if sample else dist.mode()
    else:
        z = model.encode(x).latents
    return z * model.config.scaling_factor


def decode(model, z: torch.Tensor, channels: int = 1) -> torch.Tensor:
    """Images from latents ``z``; a three-channel model's output is averaged back to grey."""
    out = model.decode(z / model.config.scaling_factor).sample
    if out.shape[1] != channels:
        out = out.mean(dim=1, keepdim=True)
    return out
