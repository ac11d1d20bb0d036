"""``heliogen train gan``: a StyleGAN2 generator against the ProjectedGAN or the StyleGAN2-ADA
discriminator, with every ablation of the full-disk EUV study's table 1 as a switch."""

from __future__ import annotations

import click

from .options import common_training_options, report_result, settings_from

__all__ = ["gan"]

DISCRIMINATOR_SETS = ["1", "1,2", "1,2,3", "1,2,3,4"]


def _gan_options(f):
    """The model, loss and ablation options of ``heliogen train gan``."""
    options = [
        click.option("--generator", type=click.Choice(["stylegan2"]), default="stylegan2", show_default=True),
        click.option("--discriminator", type=click.Choice(["projected", "stylegan2"]), default="projected", show_default=True,
                     help="ProjectedGAN (hinge loss) or StyleGAN2-ADA (logistic loss, lazy R1, ADA)."),
        click.option("--z-dim", type=click.IntRange(min=1), default=64, show_default=True),
        click.option("--w-dim", type=click.IntRange(min=1), default=128, show_default=True),
        click.option("--mapping-layers", type=click.IntRange(min=1), default=2, show_default=True),
        click.option("--channel-base", type=click.IntRange(min=1), default=32768, show_default=True,
                     help="Channels at r px are min(channel-base / r, channel-max) (G, and a StyleGAN2 D)."),
        click.option("--channel-max", type=click.IntRange(min=1), default=512, show_default=True),
        click.option("--style-mixing", type=click.FloatRange(0, 1), default=0.0, show_default=True,
                     help="Style-mixing probability per batch (StyleGAN2: 0.9)."),
        click.option("--lr-g", type=click.FloatRange(min=0, min_open=True), default=5e-4, show_default=True),
        click.option("--lr-d", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True),
        click.option("--betas", type=float, nargs=2, default=(0.0, 0.99), show_default=True, help="Adam betas of G and D."),
        click.option("--backbone", type=click.Choice(["lite0", "lite1", "lite2", "lite3", "random"]), default="lite0", show_default=True,
                     help="EfficientNet-Lite of the projected D; random: randomly initialised and frozen."),
        click.option("--backbone-weights", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Backbone weights file (needed for lite3)."),
        click.option("--unfreeze-backbone", is_flag=True, help="Train the backbone."),
        click.option("--projection", type=click.Choice(["none", "ccm", "ccm+csm"]), default="ccm+csm", show_default=True),
        click.option("--trainable-projection", is_flag=True, help="Train CCM/CSM instead of keeping them random and frozen."),
        click.option("--discriminators", type=click.Choice(DISCRIMINATOR_SETS), default="1,2,3,4", show_default=True,
                     help="Scales with a patch discriminator, 1 the finest."),
        click.option("--no-augment", is_flag=True, help="No DiffAugment (projected D) or ADA (StyleGAN2 D)."),
        click.option("--head-width", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
                     help="Multiplier on the projected D's patch-discriminator channels."),
        click.option("--feature-input", type=click.IntRange(128, 224), default=224, show_default=True,
                     help="Side that smaller images are resized to for the projected D's backbone (224 as upstream; less is cheaper)."),
        click.option("--r1-gamma", type=click.FloatRange(min=0), default=10.0, show_default=True, help="R1 weight (StyleGAN2 D)."),
        click.option("--r1-interval", type=click.IntRange(min=1), default=16, show_default=True,
                     help="Lazy R1 every K steps, scaled by K (StyleGAN2 D)."),
        click.option("--ada-target", type=click.FloatRange(0, 1), default=0.6, show_default=True, help="ADA's target of E[sign D(real)]."),
        click.option("--ada-kimg", type=click.FloatRange(min=0, min_open=True), default=500.0, show_default=True,
                     help="Thousands of images for ADA's p to move from 0 to 1."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command("gan")
@common_training_options
@_gan_options
def gan(generator, discriminator, z_dim, w_dim, mapping_layers, channel_base, channel_max, style_mixing, lr_g, lr_d, betas,
        backbone, backbone_weights, unfreeze_backbone, projection, trainable_projection, discriminators, no_augment,
        head_width, feature_input, r1_gamma, r1_interval, ada_target, ada_kimg, **kwargs):
    """Train a StyleGAN2 generator against a ProjectedGAN or StyleGAN2-ADA discriminator. Unless
    given, --batch 32, --grad-clip 0, --ema-kimg 10 and --ema-rampup 0.05 (StyleGAN2's EMA of G;
    --ema alone asks for a fixed decay instead); G and D take --lr-g and --lr-d, not --lr."""
    from click.core import ParameterSource

    from ..errors import HeliogenError
    from ..gan.train import GAN_DEFAULTS, GANSettings, check_gan_settings, train_gan

    ctx = click.get_current_context()

    def given(name):
        return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)

    if given("lr"):
        raise HeliogenError("--lr does not apply to a GAN: give --lr-g and --lr-d")
    if given("weight_decay"):
        raise HeliogenError("--weight-decay does not apply to a GAN (plain Adam for G and D)")
    defaults = dict(GAN_DEFAULTS)
    if given("ema") and not given("ema_kimg"):
        defaults.update(ema_kimg=0.0, ema_rampup=0.0)  # a fixed decay asked for: use it, not the ramp
    gs = GANSettings(generator=generator, discriminator=discriminator, z_dim=z_dim, w_dim=w_dim, mapping_layers=mapping_layers,
                     channel_base=channel_base, channel_max=channel_max, style_mixing=style_mixing, lr_g=lr_g, lr_d=lr_d,
                     betas=list(betas), backbone=backbone, backbone_weights=backbone_weights, unfreeze_backbone=unfreeze_backbone,
                     projection=projection, trainable_projection=trainable_projection,
                     discriminators=[int(k) for k in discriminators.split(",")], augment=not no_augment, head_width=head_width,
                     feature_input=feature_input, r1_gamma=r1_gamma, r1_interval=r1_interval, ada_target=ada_target, ada_kimg=ada_kimg)
    check_gan_settings(gs)
    report_result(train_gan(kwargs["data"], kwargs["out"], settings_from(kwargs, defaults), gs))
