"""``heliogen train tilegan``: the thesis's tile GAN (sec. 3.3) on the shared training loop.

Loss: binary cross-entropy (the thesis's choice; Goodfellow et al. 2014, eq. 1, with the
non-saturating generator loss). Adam lr 1e-3, betas (0, 0.99), batch 8. The discriminator
steps first on real and detached fake tiles, then the generator steps through it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.dataset import StoreDataset
from ..models.tilegan import TileDiscriminator, TileGenerator
from ..training.ranks import is_main_process
from ..training.rundir import create_run
from ..training.trainer import Trainer, TrainSettings
from .common import tile_data, generate_tiles, open_tile_store, save_heatmap, save_tile_grid

__all__ = ["TileGANSettings", "train_tilegan", "THESIS_DEFAULTS"]

# sec. 3.3: "Adam with a learning rate of 0.001, beta1 = 0, beta2 = 0.99", batch 8, no clipping
THESIS_DEFAULTS = {"lr": 1e-3, "batch": 8, "grad_clip": 0.0}


@dataclass
class TileGANSettings:
    latent_dim: int = 128
    width: int = 512
    taper_from: int | None = None
    betas: list = field(default_factory=lambda: [0.0, 0.99])
    heatmap_n: int = 100


def train_tilegan(data, out, settings: TrainSettings, gan_settings: TileGANSettings) -> dict:
    """Train (or resume) a tile GAN on the granulation store ``data`` into the run ``out``.

    ``settings.sample_every == 0`` means once per epoch: each time writes a sample grid
    (``samples/``) and the heatmap of ``gan_settings.heatmap_n`` samples (``heatmaps/``, figure 11).
    """
    store = open_tile_store(data)
    out = Path(out)
    torch.manual_seed(settings.seed)
    G = TileGenerator(latent_dim=gan_settings.latent_dim, size=store.size, width=gan_settings.width, taper_from=gan_settings.taper_from)
    D = TileDiscriminator(size=store.size, width=gan_settings.width, taper_from=gan_settings.taper_from)
    if is_main_process():
        create_run(out, "tilegan", {"G": G, "D": D}, tile_data(store, data),
                   {"model": "tilegan", "data": str(data), "out": str(out), **asdict(gan_settings), **asdict(settings)}, ema=["G"])
    if not settings.sample_every:
        settings.sample_every = max(1, math.ceil(store.n / settings.batch))  # once per epoch
    dataset = StoreDataset(store)
    betas = tuple(gan_settings.betas)

    def step_fn(batch, ctx):
        g_net, d_net, gen, dev = ctx.module("G"), ctx.module("D"), ctx.generator, ctx.device
        real = batch["image"].float().to(dev)
        b = real.shape[0]
        z_d = torch.randn(b, gan_settings.latent_dim, generator=gen).to(dev)
        z_g = torch.randn(b, gan_settings.latent_dim, generator=gen).to(dev)
        # D step. D's grads left over from the previous G step (which backpropagated through D)
        # are cleared first; G's output is detached so only D is updated.
        ctx.trainer.optimizers["D"].zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = g_net(z_d)
        d_real, d_fake = d_net(real), d_net(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(d_real.float(), torch.ones_like(d_real, dtype=torch.float32)) + \
            F.binary_cross_entropy_with_logits(d_fake.float(), torch.zeros_like(d_fake, dtype=torch.float32))
        gn_d = ctx.optimize(loss_d, "D")
        # G step: non-saturating BCE through D; G's optimizer steps G only
        d_gen = d_net(g_net(z_g))
        loss_g = F.binary_cross_entropy_with_logits(d_gen.float(), torch.ones_like(d_gen, dtype=torch.float32))
        gn_g = ctx.optimize(loss_g, "G")
        ctx.trainer.optimizers["D"].zero_grad(set_to_none=True)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_real": torch.sigmoid(d_real).mean().item(),
                "d_fake": torch.sigmoid(d_fake).mean().item(), "grad_norm_d": gn_d, "grad_norm_g": gn_g}

    def sample_fn(ema, path, step):
        tiles = generate_tiles(ema["G"].cpu(), gan_settings.heatmap_n, seed=settings.seed + 1)
        save_tile_grid(tiles[:16], path, f"tile GAN, step {step} (EMA)")
        save_heatmap(tiles, out / "heatmaps" / path.name, f"tile GAN heatmap, step {step}")

    with Trainer(out, settings, {"G": G, "D": D},
                 {"G": lambda m: torch.optim.Adam(m["G"].parameters(), lr=settings.lr, betas=betas),
                  "D": lambda m: torch.optim.Adam(m["D"].parameters(), lr=settings.lr, betas=betas)},
                 ["G"], dataset, step_fn, sample_fn) as trainer:
        return trainer.run()
