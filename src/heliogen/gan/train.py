"""``heliogen train gan``: a StyleGAN2 generator against a ProjectedGAN or StyleGAN2 discriminator,
on the shared training loop.

Two recipes, picked by the discriminator:

- ``projected`` (Sauer et al. 2021; the full-disk EUV study's best model): hinge loss, DiffAugment
  inside the discriminator, no regulariser.
- ``stylegan2`` (StyleGAN2-ADA, Karras et al. 2020): non-saturating logistic loss, lazy R1 every
  ``r1_interval`` steps (the penalty scaled by the interval, and D's Adam learning rate and
  betas by ``interval / (interval + 1)``, as StyleGAN2 does), and ADA: reals and fakes pass
  the same adaptive augmentation, whose probability follows the sign of D on reals. The
  probability is training state and resumes exactly. There is no path-length regulariser.

G and D have their own Adam optimizers (the study: betas (0, 0.99), G 5e-4, D 2e-3, batch 32).
Each step, D steps on real and detached fake images, then G steps through D. Every random draw
of a step (z, noise, style mixing, augmentation) comes from the step's seeded generator, so a
resumed run repeats the uninterrupted one to the bit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data.dataset import StoreDataset
from ..errors import HeliogenError
from ..models.gan_losses import flatten_logits, hinge_d_loss, hinge_g_loss, logistic_d_loss, logistic_g_loss, r1_penalty
from ..training.fd_eval import check_eval_settings
from ..training.ranks import is_main_process
from ..training.rundir import create_run, describe_store, from_model_space, to_model_space
from ..training.trainer import Trainer, TrainSettings

__all__ = ["GANSettings", "GAN_DEFAULTS", "DISCRIMINATORS", "build_gan", "check_gan_settings", "train_gan"]

DISCRIMINATORS = ("projected", "stylegan2")
# Shared training options whose GAN values differ from the other trainers': the study's batch,
# no gradient clipping, StyleGAN2's EMA of G (10 kimg half-life, ramped up over 5% of the images).
GAN_DEFAULTS = {"batch": 32, "grad_clip": 0.0, "ema_kimg": 10.0, "ema_rampup": 0.05}
LITE3_DOWNLOAD = ("--backbone lite3 has no offline weights: download timm's tf_efficientnet_lite3 ImageNet weights "
                  "(model.safetensors of timm/tf_efficientnet_lite3.in1k) and pass the file with --backbone-weights")


@dataclass
class GANSettings:
    """Model and loss options of a GAN run (the study's best as defaults)."""

    generator: str = "stylegan2"
    discriminator: str = "projected"
    z_dim: int = 64
    w_dim: int = 128
    mapping_layers: int = 2
    channel_base: int = 32768
    channel_max: int = 512
    style_mixing: float = 0.0
    lr_g: float = 5e-4
    lr_d: float = 2e-3
    betas: list = field(default_factory=lambda: [0.0, 0.99])
    # ProjectedGAN discriminator (the ablation switches)
    backbone: str = "lite0"
    backbone_weights: str | None = None
    unfreeze_backbone: bool = False
    projection: str = "ccm+csm"
    trainable_projection: bool = False
    discriminators: list = field(default_factory=lambda: [1, 2, 3, 4])
    augment: bool = True  # DiffAugment (projected) or ADA (stylegan2)
    head_width: float = 1.0
    feature_input: int = 224  # the side smaller images are resized to for the backbone
    # StyleGAN2 discriminator
    r1_gamma: float = 10.0
    r1_interval: int = 16
    ada_target: float = 0.6
    ada_kimg: float = 500.0
    ada_interval: int = 4


def check_gan_settings(gs: GANSettings) -> None:
    """One-line errors for options that cannot work together, before anything is built."""
    if gs.generator != "stylegan2":
        raise HeliogenError(f"unknown generator {gs.generator!r}; heliogen has stylegan2")
    if gs.discriminator not in DISCRIMINATORS:
        raise HeliogenError(f"unknown discriminator {gs.discriminator!r}; choose {' or '.join(DISCRIMINATORS)}")
    if gs.discriminator == "projected":
        if gs.backbone == "lite3" and not gs.backbone_weights:
            raise HeliogenError(LITE3_DOWNLOAD)
        if gs.trainable_projection and gs.projection == "none":
            raise HeliogenError("--trainable-projection needs a projection to train: use --projection ccm or ccm+csm")
    if len(gs.betas) != 2 or not all(0.0 <= b < 1.0 for b in gs.betas):
        raise HeliogenError(f"--betas must be two numbers in [0, 1), got {gs.betas}")
    if gs.r1_interval < 1 or gs.r1_gamma < 0:
        raise HeliogenError("--r1-interval must be at least 1 and --r1-gamma at least 0")


def build_gan(gs: GANSettings, resolution: int, channels: int) -> tuple:
    """The generator and discriminator of ``gs`` for ``resolution`` px images of ``channels`` channels."""
    from ..models.stylegan2.discriminator import StyleGAN2Discriminator
    from ..models.stylegan2.generator import StyleGAN2Generator

    G = StyleGAN2Generator(z_dim=gs.z_dim, w_dim=gs.w_dim, mapping_layers=gs.mapping_layers, resolution=resolution,
                           channels=channels, channel_base=gs.channel_base, channel_max=gs.channel_max,
                           style_mixing_prob=gs.style_mixing)
    if gs.discriminator == "projected":
        from ..models.projected.discriminator import ProjectedDiscriminator

        D = ProjectedDiscriminator(backbone=gs.backbone, backbone_weights=gs.backbone_weights,
                                   unfreeze_backbone=gs.unfreeze_backbone, projection=gs.projection,
                                   trainable_projection=gs.trainable_projection, discriminators=tuple(gs.discriminators),
                                   augment=gs.augment, in_channels=channels, resolution=resolution, head_width=gs.head_width,
                                   feature_input=gs.feature_input)
    else:
        D = StyleGAN2Discriminator(resolution=resolution, in_channels=channels, channel_base=gs.channel_base,
                                   channel_max=gs.channel_max)
    return G, D


def _mean(logits) -> float:
    return flatten_logits(logits).float().mean().item()


def _sync_buffers(ctx) -> None:
    """Give every rank rank 0's running statistics: G's mean of w and the BatchNorm statistics
    of D's trained layers. DDP broadcasts them from rank 0 before each forward anyway, so this
    changes no result; it leaves the ranks identical between steps (each rank's last forward
    would otherwise have moved its own copies)."""
    if ctx.accelerator.num_processes == 1:
        return
    buffers = [ctx.trainer.raw_modules["G"].mapping_network.w_avg]
    for m in ctx.trainer.raw_modules["D"].modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats:
            buffers += [m.running_mean, m.running_var, m.num_batches_tracked]
    for buffer in buffers:
        torch.distributed.broadcast(buffer, src=0)


def _projected_step(gs: GANSettings, to_net):
    """The hinge-loss step of the ProjectedGAN recipe (DiffAugment runs inside D)."""

    def step_fn(batch, ctx):
        g_net, d_net, gen, dev = ctx.module("G"), ctx.module("D"), ctx.generator, ctx.device
        real = to_net(batch["image"].float()).to(dev)
        b = real.shape[0]
        ctx.trainer.optimizers["D"].zero_grad(set_to_none=True)  # D's grads from the last G step
        with torch.no_grad():
            fake = g_net(torch.randn(b, gs.z_dim, generator=gen).to(dev), generator=gen)
        d_real, d_fake = d_net(real, generator=gen), d_net(fake, generator=gen)
        loss_d = hinge_d_loss([t.float() for t in d_real], [t.float() for t in d_fake])
        gn_d = ctx.optimize(loss_d, "D")
        d_gen = d_net(g_net(torch.randn(b, gs.z_dim, generator=gen).to(dev), generator=gen), generator=gen)
        loss_g = hinge_g_loss([t.float() for t in d_gen])
        gn_g = ctx.optimize(loss_g, "G")
        ctx.trainer.optimizers["D"].zero_grad(set_to_none=True)
        _sync_buffers(ctx)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_real": _mean(d_real), "d_fake": _mean(d_fake),
                "grad_norm_d": gn_d, "grad_norm_g": gn_g}

    return step_fn


def _stylegan2_step(gs: GANSettings, to_net, augment, ada):
    """The StyleGAN2-ADA step: logistic loss, lazy R1, reals and fakes augmented alike."""

    def step_fn(batch, ctx):
        g_net, d_net, gen, dev, acc = ctx.module("G"), ctx.module("D"), ctx.generator, ctx.device, ctx.accelerator
        real = to_net(batch["image"].float()).to(dev)
        b = real.shape[0]
        do_r1 = gs.r1_gamma > 0 and ctx.step % gs.r1_interval == 0
        augment.set_p(ada.p if gs.augment else 0.0)
        ctx.trainer.optimizers["D"].zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = g_net(torch.randn(b, gs.z_dim, generator=gen).to(dev), generator=gen)
        real_in = real.detach().requires_grad_(do_r1)  # R1 is the gradient at the un-augmented reals
        d_real, d_fake = d_net(augment(real_in, gen)), d_net(augment(fake, gen))
        loss_d = logistic_d_loss(d_real.float(), d_fake.float())
        metrics = {}
        if do_r1:
            r1 = r1_penalty(d_real.float(), real_in, gs.r1_gamma)
            loss_d = loss_d + r1 * gs.r1_interval  # lazy: the penalty of interval steps at once
            metrics["r1"] = r1.item()
        if gs.augment:
            ada.step(d_real, reduce=lambda t: acc.reduce(t.to(dev), reduction="sum"))
        gn_d = ctx.optimize(loss_d, "D")
        d_gen = d_net(augment(g_net(torch.randn(b, gs.z_dim, generator=gen).to(dev), generator=gen), gen))
        loss_g = logistic_g_loss(d_gen.float())
        gn_g = ctx.optimize(loss_g, "G")
        ctx.trainer.optimizers["D"].zero_grad(set_to_none=True)
        _sync_buffers(ctx)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_real": _mean(d_real), "d_fake": _mean(d_fake),
                "ada_p": ada.p, "grad_norm_d": gn_d, "grad_norm_g": gn_g, **metrics}

    return step_fn


def _optimizers(gs: GANSettings) -> dict:
    """Adam for G and D; with lazy R1, D's lr and betas take StyleGAN2's interval / (interval + 1) power."""
    ratio = gs.r1_interval / (gs.r1_interval + 1) if gs.discriminator == "stylegan2" and gs.r1_gamma > 0 else 1.0
    g_betas, d_betas = tuple(gs.betas), tuple(b ** ratio for b in gs.betas)
    return {"G": lambda m: torch.optim.Adam(m["G"].parameters(), lr=gs.lr_g, betas=g_betas),
            "D": lambda m: torch.optim.Adam(m["D"].parameters(), lr=gs.lr_d * ratio, betas=d_betas)}


def train_gan(data, out, settings: TrainSettings, gs: GANSettings) -> dict:
    """Train (or resume) a GAN on the store ``data`` into the run folder ``out``.

    Returns what :meth:`heliogen.training.trainer.Trainer.run` returns. ``settings.lr`` is not
    used: G and D take ``gs.lr_g`` and ``gs.lr_d``.
    """
    from ..data.store import open_store
    from ..models.augment.ada import AdaController, AdaptiveAugment

    check_gan_settings(gs)
    store = open_store(data)
    out = Path(out)
    torch.manual_seed(settings.seed)
    channels = int(store.attrs["channels"])
    G, D = build_gan(gs, store.size, channels)
    data_range = store.normalisation.data_range
    check_eval_settings(settings, store)  # before the run folder is written
    if is_main_process():
        loss = "hinge" if gs.discriminator == "projected" else "logistic+r1"
        create_run(out, "gan", {"G": G, "D": D}, describe_store(store, data),
                   {"model": "gan", "data": str(data), "out": str(out), **asdict(gs), **asdict(settings)}, ema=["G"],
                   extras={"loss": loss})
    states = {}

    def to_net(x):
        return to_model_space(x, data_range)

    if gs.discriminator == "projected":
        step_fn = _projected_step(gs, to_net)
    else:
        ada = AdaController(gs.ada_target, gs.ada_kimg, gs.ada_interval)
        states["ada"] = ada
        step_fn = _stylegan2_step(gs, to_net, AdaptiveAugment(), ada)

    def sample_fn(ema, path, step):
        from ..viz.quicklook import plot_grid

        x = ema["G"].cpu().generate(list(range(16))).numpy()
        phys = store.normalisation.physical(from_model_space(x.astype("float64"), data_range))
        plot_grid(phys[:, 0], store.kind, path, suptitle=f"GAN, step {step} (EMA)")

    def generate_fn(ema, n, seed):
        """FD evaluation: ``n`` EMA images, image k from seed ``seed + k``, untruncated, in the store's range."""
        from ..sample import sample_seeds

        x = ema["G"].generate(sample_seeds(seed, n), psi=1.0).cpu().numpy()
        return from_model_space(x.astype("float64"), data_range)

    with Trainer(out, settings, {"G": G, "D": D}, _optimizers(gs), ["G"], StoreDataset(store), step_fn, sample_fn,
                 generate_fn=generate_fn, states=states) as trainer:
        return trainer.run()
