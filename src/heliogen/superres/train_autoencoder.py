"""``heliogen train autoencoder``: the domain autoencoder of the latent super-resolution models.

Loss per step (Esser et al. 2021; Rombach et al. 2022, appendix G):

    L = mean|x - D(E(x))| + w_KL KL(q(z|x) || N(0, I)) / (C H W)   (KL model; KL summed over the latent)
    L = |x - D(q(E(x)))|_1 + commitment and codebook terms    (VQ model; diffusers' ``commit_loss``)

and, from step ``disc_start`` on, ``+ w_adv hinge_G(P(D(E(x))))`` with a PatchGAN ``P`` trained
on the hinge loss against the real images. Images are the store's model space mapped to [-1, 1].
Both terms of the KL model are per image pixel (the KL sum over the latent divided by the
image's C H W), so ``kl_weight`` weighs them as latent diffusion's per-sample sums do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import StoreDataset
from ..data.store import open_store
from ..errors import HeliogenError
from ..models.gan_losses import hinge_d_loss, hinge_g_loss
from ..training.ranks import is_main_process
from ..training.rundir import create_run, describe_store, from_model_space, to_model_space
from ..training.trainer import Trainer, TrainSettings
from .autoencoder import AUTOENCODER_TYPES, autoencoder_type, build_autoencoder, factor_of, load_pretrained_autoencoder
from .patch_discriminator import PatchDiscriminator

__all__ = ["AutoencoderSettings", "train_autoencoder"]


@dataclass
class AutoencoderSettings:
    type: str = "kl"
    factor: int = 4
    width: int = 32
    latent_channels: int = 4
    layers_per_block: int = 1
    codebook: int = 1024
    kl_weight: float = 1e-6
    disc_start: int = 0  # 0: no discriminator; else the step the adversarial loss starts
    disc_weight: float = 0.5
    pretrained: str | None = None


def _model(settings: AutoencoderSettings, channels: int):
    if settings.pretrained:
        model = load_pretrained_autoencoder(settings.pretrained)
        settings.type, settings.factor = autoencoder_type(model), factor_of(model)
        return model
    if settings.type not in AUTOENCODER_TYPES:
        raise HeliogenError(f"unknown autoencoder type {settings.type!r}; choose from {', '.join(AUTOENCODER_TYPES)}")
    return build_autoencoder(settings.type, settings.factor, channels, settings.width, settings.latent_channels,
                             settings.layers_per_block, settings.codebook)


def reconstruct(model, x: torch.Tensor, generator=None, sample: bool = True):
    """``(reconstruction, regulariser)``: the KL of the posterior (summed over the latent, batch
    mean, over the image's pixel count) for a KL model, diffusers' codebook + commitment loss for a VQ model."""
    want = int(model.config.in_channels)
    x_in = x.expand(-1, want, -1, -1) if x.shape[1] != want else x
    if autoencoder_type(model) == "kl":
        posterior = model.encode(x_in).latent_dist
        z = posterior.sample(generator) if sample else posterior.mode()
        # the KL summed over the latent, per image pixel as the L1 term is: --kl-weight then weighs
        # the two as latent diffusion's per-sample sums of both do (its KL weight 1e-6)
        rec, reg = model.decode(z).sample, posterior.kl().mean() / x[0].numel()
    else:
        out = model(x_in)
        rec, reg = out.sample, out.commit_loss.mean()
    if rec.shape[1] != x.shape[1]:
        rec = rec.mean(dim=1, keepdim=True)
    return rec, reg


def train_autoencoder(data, out, settings: TrainSettings, ae: AutoencoderSettings) -> dict:
    """Train (or resume) an autoencoder on the store ``data`` into the run ``out``."""
    store = open_store(data)
    out = Path(out)
    torch.manual_seed(settings.seed)
    channels = int(store.attrs["channels"])
    model = _model(ae, channels)  # a pretrained model brings its own factor
    if store.size % ae.factor:
        raise HeliogenError(f"the store's images ({store.size} px) are not divisible by the autoencoder's factor {ae.factor}")
    modules = {"autoencoder": model}
    if ae.disc_start > 0:
        modules["discriminator"] = PatchDiscriminator(channels=channels)
    data_info = describe_store(store, data)
    if is_main_process():
        create_run(out, "autoencoder", modules, data_info, {"data": str(data), "out": str(out), **asdict(ae), **asdict(settings)},
                   ema=["autoencoder"])
    data_range = store.normalisation.data_range
    dataset = StoreDataset(store)

    def step_fn(batch, ctx):
        net, dev = ctx.module("autoencoder"), ctx.device
        x = to_model_space(batch["image"].float(), data_range).to(dev)
        rec, reg = reconstruct(net, x, ctx.generator)
        rec_loss = F.l1_loss(rec.float(), x)
        loss = rec_loss + (ae.kl_weight if ae.type == "kl" else 1.0) * reg.float()
        metrics = {"rec_l1": rec_loss.item(), "kl" if ae.type == "kl" else "codebook": reg.item()}
        adversarial = "discriminator" in modules and ctx.step >= ae.disc_start
        if adversarial:
            disc = ctx.module("discriminator")
            g_adv = hinge_g_loss(disc(rec).float())
            loss = loss + ae.disc_weight * g_adv
            metrics["g_adv"] = g_adv.item()
        metrics["grad_norm"] = ctx.optimize(loss, "autoencoder")
        if adversarial:
            ctx.trainer.optimizers["discriminator"].zero_grad(set_to_none=True)  # its grads from the G term
            d_loss = hinge_d_loss(disc(x).float(), disc(rec.detach()).float())
            metrics["loss_d"] = d_loss.item()
            metrics["grad_norm_d"] = ctx.optimize(d_loss, "discriminator")
        metrics["loss"] = loss.item()
        return metrics

    @torch.no_grad()
    def sample_fn(ema, path, step):
        from ..viz.quicklook import plot_grid

        net = ema["autoencoder"].cpu()
        idx = np.linspace(0, len(dataset) - 1, 4).astype(int)
        x = torch.stack([dataset[int(i)]["image"].float() for i in idx])
        rec, _ = reconstruct(net, to_model_space(x, data_range), sample=False)
        both = torch.cat([x, from_model_space(rec.clamp(-1, 1), data_range)]).numpy()
        phys = store.normalisation.physical(both.astype(np.float64))
        path.parent.mkdir(parents=True, exist_ok=True)
        plot_grid(phys[:, 0], store.kind, path, titles=["input"] * 4 + ["reconstruction"] * 4,
                  suptitle=f"{ae.type.upper()}-f{ae.factor} autoencoder, step {step} (EMA)")

    optimizers = {"autoencoder": lambda m: torch.optim.Adam(m["autoencoder"].parameters(), lr=settings.lr, betas=(0.5, 0.9))}
    if "discriminator" in modules:
        optimizers["discriminator"] = lambda m: torch.optim.Adam(m["discriminator"].parameters(), lr=settings.lr, betas=(0.5, 0.9))
    with Trainer(out, settings, modules, optimizers, ["autoencoder"], dataset, step_fn, sample_fn) as trainer:
        return trainer.run()
