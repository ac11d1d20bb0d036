"""``heliogen train autoencoder`` and ``heliogen train superres``: the super-resolution paper's domain
autoencoder (sec. 3.3, fig. 4) and its six models (table 1) on the shared training loop."""

from __future__ import annotations

import click

from .options import common_training_options, report_result, settings_from

__all__ = ["autoencoder", "superres"]


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


@click.command("superres")
@common_training_options
@click.option("--model", type=click.Choice(["ldm-res", "ldm", "ddpm-res", "ddpm", "enhance", "progressive"]), default=None,
              help="Latent or pixel Palette diffusion, on the residual (-res) or the image; or a deterministic network [default: ldm-res; with --init, the run's].")
@click.option("--init", "init_run", type=click.Path(exists=True, file_okay=False), default=None, help="Fine-tune this super-resolution run on --data (LoRA with --lora-rank, else in full).")
@click.option("--init-checkpoint", default=None, help="The --init run's checkpoint (step, name or best) [default: newest].")
@click.option("--lora-rank", type=click.IntRange(min=1), default=None, help="With --init: LoRA of this rank on the attention layers, the UNet's middle block unfrozen (diffusion models).")
@click.option("--autoencoder", "autoencoder_run", type=click.Path(exists=True, file_okay=False), default=None, help="Autoencoder run of the latent models (ldm, ldm-res).")
@click.option("--preset", type=click.Choice(["tiny", "adm-64", "adm-1024", "sr-latent", "sr-pixel"]), default="tiny", show_default=True, help="UNet preset of the diffusion models.")
@click.option("--timesteps", type=click.IntRange(min=21), default=1000, show_default=True)
@click.option("--schedule", type=click.Choice(["linear", "cosine"]), default="linear", show_default=True)
@click.option("--width", type=click.IntRange(min=4), default=64, show_default=True, help="Feature channels of enhance and progressive.")
@click.option("--blocks", type=click.IntRange(min=1), default=8, show_default=True, help="Residual blocks of enhance (progressive: half per stage).")
@click.option("--eval-sampler", type=click.Choice(["ddpm", "ddim", "dpmpp"]), default="dpmpp", show_default=True, help="Sampler of the grids and --eval-every images.")
@click.option("--eval-steps", type=click.IntRange(min=1), default=20, show_default=True)
def superres(model, init_run, init_checkpoint, lora_rank, autoencoder_run, preset, timesteps, schedule, width, blocks, eval_sampler,
             eval_steps, **kwargs):
    """Train a 4x magnetogram super-resolution model on a store with low-resolution twins
    (AdamW, MSE; unless given, --batch 4 as in the paper)."""
    from ..superres.train import PAPER_DEFAULTS, SuperResSettings, train_superres

    settings = settings_from(kwargs, PAPER_DEFAULTS)
    model_settings = SuperResSettings(model=model or ("" if init_run else "ldm-res"), preset=preset, autoencoder=autoencoder_run,
                                      timesteps=timesteps, schedule=schedule, width=width, blocks=blocks, eval_sampler=eval_sampler,
                                      eval_steps=eval_steps, init=init_run, init_checkpoint=init_checkpoint, lora_rank=lora_rank)
    report_result(train_superres(kwargs["data"], kwargs["out"], settings, model_settings))
