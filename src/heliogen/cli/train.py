"""``heliogen train``: one command per model family, all on the shared training loop."""

from __future__ import annotations

import click

from .options import config_option


@click.group()
def train():
    """Train models on a store (diffusion now; GANs, VAEs and super-resolution follow)."""


def common_training_options(f):
    """Options every trainer shares (TrainSettings)."""
    options = [
        click.option("--data", type=click.Path(exists=True), required=True, help="Store to train on (STORE.zarr)."),
        click.option("--out", type=click.Path(file_okay=False), required=True, help="Run directory."),
        click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Optimizer steps."),
        click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True, help="Global batch (split over processes)."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True, help="AdamW learning rate."),
        click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True),
        click.option("--ema", type=click.FloatRange(0, 1), default=0.9999, show_default=True, help="EMA decay of the weights."),
        click.option("--grad-clip", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Gradient-norm clip (0: off)."),
        click.option("--checkpoint-every", type=click.IntRange(min=1), default=1000, show_default=True),
        click.option("--sample-every", type=click.IntRange(min=0), default=0, show_default=True, help="Sample grid every K steps (0: off)."),
        click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True),
        click.option("--keep-checkpoints", type=click.IntRange(min=1), default=3, show_default=True),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True),
        click.option("--mixed-precision", type=click.Choice(["auto", "no", "bf16", "fp16"]), default="auto", show_default=True, help="GPU only; CPU runs in float32."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
        click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="Data-loading processes."),
        click.option("--resume", default="auto", show_default=True, help="auto (newest complete checkpoint), never, or a checkpoint directory. Checkpoints past the step training continues from are moved to checkpoints/abandoned/."),
        click.option("--no-progress", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def settings_from(kwargs):
    from ..training.trainer import TrainSettings

    names = set(TrainSettings.__dataclass_fields__)
    s = TrainSettings(**{k: v for k, v in kwargs.items() if k in names})
    s.progress = not kwargs.get("no_progress", False)
    return s


def report_result(result) -> None:
    """One line on how a training run ended."""
    if result["stopped"]:
        click.echo(f"stopped by signal at step {result['step']}; checkpoint {result['checkpoint']}; resume with the same command")
    else:
        click.echo(f"trained to step {result['step']}; checkpoint {result['checkpoint']}")


@train.command("diffusion")
@common_training_options
@click.option("--preset", type=click.Choice(["tiny", "adm-64", "adm-1024"]), default="tiny", show_default=True, help="ADM UNet preset.")
@click.option("--cond", type=click.Choice(["none", "class", "flux", "class+flux"]), default="none", show_default=True, help="Condition on GOES class and/or log10 flux.")
@click.option("--p-uncond", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True, help="Probability of dropping the condition (classifier-free guidance).")
@click.option("--timesteps", type=click.IntRange(min=21), default=1000, show_default=True, help="Diffusion steps T (ADM's betas rescaled by 1000/T).")
@click.option("--schedule", type=click.Choice(["linear", "cosine"]), default="linear", show_default=True)
@click.option("--prediction", type=click.Choice(["epsilon", "v_prediction"]), default="epsilon", show_default=True)
@click.option("--hflip", is_flag=True, help="Random horizontal flips (the EUV study's augmentation).")
@config_option
def diffusion(preset, cond, p_uncond, timesteps, schedule, prediction, hflip, **kwargs):
    """Train an ADM-style diffusion model (optionally flare-class conditional) with accelerate."""
    from ..diffusion.train import DiffusionSettings, train_diffusion

    settings = settings_from(kwargs)
    dset = DiffusionSettings(preset=preset, cond=cond, p_uncond=p_uncond, timesteps=timesteps, schedule=schedule, prediction=prediction, hflip=hflip)
    report_result(train_diffusion(kwargs["data"], kwargs["out"], settings, dset))


def _register_tile_trainers():
    # the tile GAN/VAE trainers share the common options defined above
    from .train_tiles import tilegan, tilevae

    train.add_command(tilegan)
    train.add_command(tilevae)


_register_tile_trainers()
