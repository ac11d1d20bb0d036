"""Demo stage: a tiny StyleGAN2 against the ProjectedGAN discriminator, with best-FD checkpoints and GANSpace."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..viz.report import Section
from .stage import DemoContext, StageOutput

__all__ = ["full_disk_gan", "DEMO_GAN", "EVALUATIONS"]

# The study's recipe (hinge loss, DiffAugment, Lite0 with CCM+CSM and four discriminators) at CPU
# size: a generator of 32 channels at 32 px (64 below), half-width heads, the backbone fed at 128 px rather than 224.
DEMO_GAN = dict(discriminator="projected", channel_base=1024, channel_max=64, head_width=0.5, feature_input=128)
EVALUATIONS = 4  # FD against the held-out store this many times during training
EVAL_N = 32  # images per FD: Inception on CPU is the stage's largest cost after training
GAN_BATCH = 8


def full_disk_gan(ctx: DemoContext) -> StageOutput:
    """Train (or reuse) the GAN on the 32 px EUV store, keep its best-FD checkpoint, sample it
    and find its GANSpace directions (PCA of W, Härkönen et al. 2020)."""
    from ..errors import HeliogenError
    from ..gan.directions import find_directions
    from ..gan.directions_figure import plot_directions
    from ..gan.sample import sample_gan_run
    from ..gan.train import GAN_DEFAULTS, GANSettings, train_gan
    from ..training.best import read_best
    from ..training.rundir import open_run
    from ..training.trainer import TrainSettings
    from ..viz.colormaps import colormap_for
    from ..viz.training_plot import plot_losses
    from .diffusion import DEMO_SIZE

    steps, figs = ctx.sizes.gan_steps, ctx.figures
    store, held = ctx.stores / f"euv{DEMO_SIZE}.zarr", ctx["heldout_store"]
    run = ctx.runs / "gan-projected-tiny"
    every = max(1, steps // EVALUATIONS)
    settings = TrainSettings(steps=steps, batch=GAN_BATCH, checkpoint_every=every, log_every=every, seed=ctx.seed, progress=False,
                             grad_clip=GAN_DEFAULTS["grad_clip"], ema_kimg=GAN_DEFAULTS["ema_kimg"], ema_rampup=GAN_DEFAULTS["ema_rampup"],
                             eval_every=every, eval_data=str(held), eval_n=min(EVAL_N, ctx.sizes.n_euv), eval_features="inception")
    train_gan(store, run, settings, GANSettings(**DEMO_GAN))
    best = read_best(run)
    if best is None:  # an older run in this folder, trained without evaluations
        raise HeliogenError(f"{run} has no best-FD checkpoint; remove it and run the demo again")
    samples = ctx.runs / "gan-projected-tiny-samples"
    shutil.rmtree(samples, ignore_errors=True)
    written = sample_gan_run(run, samples, n=16, seed=ctx.seed, checkpoint="best", device="cpu", progress=False)
    grid = Path(shutil.copy(written["grid"], figs / "gan_samples.png"))
    fd_curve = plot_losses(run, figs / "gan_fd.png", keys=("fd",))

    opened = open_run(run)
    G = opened.load_module("G", checkpoint="best")
    found = find_directions(G, samples=2000, components=4, seed=ctx.seed)
    found.save(run / "ganspace" / "directions.npz")
    header = opened.header
    ganspace = plot_directions(G, found, [0, 1, 2], figs / "gan_directions.png", steps=(-2, 0, 2), components=range(3),
                               cmap=colormap_for(opened.data["kind"], header.get("WAVELNTH"), header.get("INSTRUME", "")))
    shares = ", ".join(f"{100 * v:.0f}%" for v in found.explained_ratio[:3])

    section = Section("Full-disk EUV GAN")
    section.text(
        f"A StyleGAN2 generator (32 channels at 32 px and 64 below, z 64, w 128, 2 mapping layers) trained for {steps} steps of batch {GAN_BATCH} "
        f"against the ProjectedGAN discriminator (frozen EfficientNet-Lite0, random CCM+CSM, four patch discriminators, "
        f"hinge loss, DiffAugment) on the {DEMO_SIZE} px synthetic EUV images, the full-disk EUV study's best recipe at CPU "
        f"size. Every {every} steps the FD (Inception) of {settings.eval_n} samples against as many held-out images is computed and "
        f"checkpoints/best names the lowest: step {best['step']}, FD {best['fd']:.1f}. The samples come from that "
        "checkpoint's EMA generator. A CPU-minutes model: expect blobs, not suns, and FDs of so few images "
        "biased high (their covariances are singular)."
    )
    section.figure(grid, "Samples of the best-FD checkpoint (DN/s, sdoaia193)")
    section.figure(fd_curve, "FD against the held-out images during training")
    section.figure(ganspace, f"GANSpace: steps of -2, 0 and +2 standard deviations along the first three principal "
                             f"directions of W ({shares} of its variance), one row per seed")
    return StageOutput([section], {"gan_run": run, "gan_samples": samples})
