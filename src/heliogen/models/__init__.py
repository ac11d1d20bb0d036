"""Model factories and presets around library models, and the few models no library has.

Every network heliogen trains is a diffusers ``ModelMixin, ConfigMixin``: it saves itself as a
folder (``config.json`` beside safetensors weights). Runs and tile banks record a module's
class name; :func:`model_class` turns that name back into the class, so one loader serves
every kind of run. A new model family registers its classes with :func:`register_model`.
"""

from __future__ import annotations

import importlib

from ..errors import HeliogenError

__all__ = ["MODEL_CLASSES", "model_class", "register_model"]

# class name -> "module:attribute", imported on first use (torch and diffusers are heavy)
MODEL_CLASSES = {
    "SolarDiffusionModel": "heliogen.diffusion.model:SolarDiffusionModel",
    "TileGenerator": "heliogen.models.tilegan:TileGenerator",
    "TileDiscriminator": "heliogen.models.tilegan:TileDiscriminator",
    "TileVAE": "heliogen.models.tilevae:TileVAE",
    "TileVAEDecoder": "heliogen.models.tilevae:TileVAEDecoder",
    "StyleGAN2Generator": "heliogen.models.stylegan2.generator:StyleGAN2Generator",
    "StyleGAN2Discriminator": "heliogen.models.stylegan2.discriminator:StyleGAN2Discriminator",
    "ProjectedDiscriminator": "heliogen.models.projected.discriminator:ProjectedDiscriminator",
    # super-resolution: diffusers' autoencoders as they are, and the autoencoder's PatchGAN
    "AutoencoderKL": "diffusers:AutoencoderKL",
    "VQModel": "diffusers:VQModel",
    "PatchDiscriminator": "heliogen.superres.patch_discriminator:PatchDiscriminator",
    "Enhance": "heliogen.superres.deterministic:Enhance",
    "Progressive": "heliogen.superres.deterministic:Progressive",
}


def register_model(name: str, target: str) -> None:
    """Make the class at ``target`` (``"package.module:Class"``) loadable by its ``name``."""
    MODEL_CLASSES[name] = target


def model_class(name: str):
    """The model class registered as ``name``, with a one-line error for an unknown one."""
    if name not in MODEL_CLASSES:
        raise HeliogenError(f"unknown model class {name!r} (known: {', '.join(sorted(MODEL_CLASSES))}); written by a newer heliogen?")
    module, _, attr = MODEL_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)
