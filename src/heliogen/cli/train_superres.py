"""``heliogen train autoencoder``: the super-resolution paper's domain autoencoder (sec. 3.3, fig. 4)
on the shared training loop."""

from __future__ import annotations

import click

from .options import common_training_options, report_result, settings_from

__all__ = ["autoencoder"]


@click.command("autoencoder")
@common_training_options
@click.option("--type", "ae_type", type=click.Choice(["kl", "vq"]), default="kl", show_default=True, help="diffusers AutoencoderKL or VQModel.")
@click.option("--factor", type=click.Choice(["4", "8", "16"]), default="4", show_default=True, help="Spatial downsampling of the latent.")
@click.option("--width", type=click.IntRange(min=8), default=32, show_default=True, help="Channels of the first block (deeper ones double, up to 4x).")
@click.option("--latent-channels", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--layers-per-block", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--codebook", type=click.IntRange(min=2), default=1024, show_default=True, help="VQ codebook size.")
@click.option("--kl-weight", type=click.FloatRange(min=0), default=1e-6, show_default=True, help="Weight of the KL term (KL model).")
@click.option("--disc-start", type=click.IntRange(min=0), default=0, show_default=True, help="Step the PatchGAN loss starts (0: no discriminator).")
@click.option("--disc-weight", type=click.FloatRange(min=0), default=0.5, show_default=True, help="Weight of the adversarial term.")
@click.option("--pretrained", type=click.Path(exists=True, file_okay=False), default=None, help="Start from a local diffusers-format VAE or VQGAN folder (its type and factor win).")
def autoencoder(ae_type, factor, width, latent_channels, layers_per_block, codebook, kl_weight, disc_start, disc_weight, pretrained, **kwargs):
    """Train the latent models' autoencoder on a store: L1 reconstruction + KL (or codebook) +
    an optional PatchGAN after --disc-start."""
    from ..superres.train_autoencoder import AutoencoderSettings, train_autoencoder

    settings = settings_from(kwargs)
    model_settings = AutoencoderSettings(type=ae_type, factor=int(factor), width=width, latent_channels=latent_channels,
                                         layers_per_block=layers_per_block, codebook=codebook, kl_weight=kl_weight,
                                         disc_start=disc_start, disc_weight=disc_weight, pretrained=pretrained)
    report_result(train_autoencoder(kwargs["data"], kwargs["out"], settings, model_settings))
