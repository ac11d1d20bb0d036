"""``heliogen train``: one command per model family, all on the shared training loop."""

from __future__ import annotations

import click

from .options import common_training_options, report_result, settings_from
from .train_gan import gan
from .train_superres import autoencoder, superres
from .train_tiles import tilegan, tilevae


@click.group()
def train():
    """Train models on a store (diffusion, GANs, tile GAN and VAE, super-resolution and its autoencoder)."""


@train.command("diffusion")
@common_training_options
@click.option("--preset", type=click.Choice(["tiny", "adm-64", "adm-1024"]), default="tiny", show_default=True, help="ADM UNet preset.")
@click.option("--cond", type=click.Choice(["none", "class", "flux", "class+flux"]), default="none", show_default=True, help="Condition on GOES class and/or log10 flux.")
@click.option("--p-uncond", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True, help="Probability of dropping the condition (classifier-free guidance).")
@click.option("--timesteps", type=click.IntRange(min=21), default=1000, show_default=True, help="Diffusion steps T (ADM's betas rescaled by 1000/T).")
@click.option("--schedule", type=click.Choice(["linear", "cosine"]), default="linear", show_default=True)
@click.option("--prediction", type=click.Choice(["epsilon", "v_prediction"]), default="epsilon", show_default=True)
@click.option("--hflip", is_flag=True, help="Random horizontal flips (the EUV study's augmentation).")
@click.option("--eval-sampler", type=click.Choice(["ddpm", "ddim", "dpmpp"]), default="dpmpp", show_default=True, help="Sampler of the --eval-every images.")
@click.option("--eval-steps", type=click.IntRange(min=1), default=20, show_default=True, help="Sampling steps of the --eval-every images.")
def diffusion(preset, cond, p_uncond, timesteps, schedule, prediction, hflip, eval_sampler, eval_steps, **kwargs):
    """Train an ADM-style diffusion model (optionally flare-class conditional) with accelerate."""
    from ..diffusion.train import DiffusionSettings, train_diffusion

    settings = settings_from(kwargs)
    model_settings = DiffusionSettings(preset=preset, cond=cond, p_uncond=p_uncond, timesteps=timesteps, schedule=schedule, prediction=prediction, hflip=hflip,
                                       eval_sampler=eval_sampler, eval_steps=eval_steps)
    report_result(train_diffusion(kwargs["data"], kwargs["out"], settings, model_settings))


train.add_command(gan)
train.add_command(tilegan)
train.add_command(tilevae)
train.add_command(autoencoder)
train.add_command(superres)
