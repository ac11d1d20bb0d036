"""``heliogen train tilegan|tilevae``: the granulation thesis's tile models (sec. 3.2-3.3) on the
shared training loop."""

from __future__ import annotations

import click

from .options import common_training_options, report_result, settings_from

__all__ = ["tilegan", "tilevae"]


@click.command("tilegan")
@common_training_options
@click.option("--latent-dim", type=click.IntRange(min=1), default=128, show_default=True, help="Length of z (the thesis: 128).")
@click.option("--width", type=click.IntRange(min=1), default=512, show_default=True, help="Channels of the coarse layers (the thesis: 512).")
@click.option("--taper-from", type=click.IntRange(min=4), default=None, help="Halve the channels per doubling above this resolution (px); keeps the coarse layers wide. Default: no taper.")
def tilegan(latent_dim, width, taper_from, **kwargs):
    """Train the tile GAN (equalised LR, pixel norm, minibatch std, BCE). Unless given, --lr 1e-3,
    --batch 8 and --grad-clip 0 (the thesis's Adam settings, betas (0, 0.99))."""
    from ..tiles.train_gan import THESIS_DEFAULTS, TileGANSettings, train_tilegan

    settings = settings_from(kwargs, THESIS_DEFAULTS)
    model_settings = TileGANSettings(latent_dim=latent_dim, width=width, taper_from=taper_from)
    report_result(train_tilegan(kwargs["data"], kwargs["out"], settings, model_settings))


@click.command("tilevae")
@common_training_options
@click.option("--width", type=click.IntRange(min=1), default=256, show_default=True, help="Convolution channels (the thesis: 256).")
@click.option("--hidden", type=click.IntRange(min=16), default=512, show_default=True, help="Flattened encoder size (multiple of 16).")
@click.option("--latent-dim", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--beta", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Weight of the KL term.")
def tilevae(width, hidden, latent_dim, beta, **kwargs):
    """Train the VAE baseline (table 3; MSE + KL). Unless given, --lr 1e-3, --batch 8, --grad-clip 0
    (Adam betas (0.5, 0.999))."""
    from ..errors import HeliogenError
    from ..tiles.train_vae import THESIS_DEFAULTS, TileVAESettings, train_tilevae

    if hidden % 16:
        raise HeliogenError(f"--hidden {hidden} must be a multiple of 16 (it is the flattened 4x4 map)")
    settings = settings_from(kwargs, THESIS_DEFAULTS)
    model_settings = TileVAESettings(width=width, hidden=hidden, latent_dim=latent_dim, beta=beta)
    report_result(train_tilevae(kwargs["data"], kwargs["out"], settings, model_settings))
