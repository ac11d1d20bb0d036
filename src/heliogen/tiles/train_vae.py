"""``heliogen train tilevae``: the thesis's VAE baseline (sec. 3.2, table 3) on the shared loop.

Loss: MSE + KL (:func:`heliogen.models.tilevae.vae_loss`); Adam lr 1e-3, betas (0.5, 0.999).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..data.dataset import StoreDataset
from ..models.tilevae import TileVAE, vae_loss
from ..training.ranks import is_main_process
from ..training.rundir import create_run
from ..training.trainer import Trainer, TrainSettings
from .common import tile_data, open_tile_store, save_heatmap, save_tile_grid

__all__ = ["TileVAESettings", "train_tilevae", "THESIS_DEFAULTS"]

THESIS_DEFAULTS = {"lr": 1e-3, "batch": 8, "grad_clip": 0.0}


@dataclass
class TileVAESettings:
    width: int = 256
    hidden: int = 512
    latent_dim: int = 256
    beta: float = 1.0
    betas: list = field(default_factory=lambda: [0.5, 0.999])
    heatmap_n: int = 100


def train_tilevae(data, out, settings: TrainSettings, vae_settings: TileVAESettings) -> dict:
    """Train (or resume) the tile VAE on ``data`` into the run ``out`` (sample grid and heatmap once per epoch)."""
    store = open_tile_store(data)
    out = Path(out)
    torch.manual_seed(settings.seed)
    vae = TileVAE(size=store.size, width=vae_settings.width, hidden=vae_settings.hidden, latent_dim=vae_settings.latent_dim)
    if is_main_process():
        create_run(out, "tilevae", {"vae": vae}, tile_data(store, data),
                   {"model": "tilevae", "data": str(data), "out": str(out), **asdict(vae_settings), **asdict(settings)}, ema=["vae"])
    if not settings.sample_every:
        settings.sample_every = max(1, math.ceil(store.n / settings.batch))
    dataset = StoreDataset(store)

    def step_fn(batch, ctx):
        net = ctx.module("vae")
        x = batch["image"].float().to(ctx.device)
        recon, mean, logvar = net(x, generator=ctx.generator)
        loss, mse, kl = vae_loss(recon, x, mean, logvar, vae_settings.beta)
        grad = ctx.optimize(loss, "vae")
        return {"loss": loss.item(), "mse": mse.item(), "kl": kl.item(), "grad_norm": grad}

    @torch.no_grad()
    def sample_fn(ema, path, step):
        vae_ema = ema["vae"].cpu()
        z = torch.randn(vae_settings.heatmap_n, vae_settings.latent_dim, generator=torch.Generator().manual_seed(settings.seed + 1))
        tiles = torch.cat([vae_ema.decode(z[i:i + 50]) for i in range(0, len(z), 50)])[:, 0].numpy()
        save_tile_grid(tiles[:16], path, f"tile VAE, step {step} (EMA)")
        save_heatmap(tiles, out / "heatmaps" / path.name, f"tile VAE heatmap, step {step}")

    with Trainer(out, settings, {"vae": vae},
                 {"vae": lambda m: torch.optim.Adam(m["vae"].parameters(), lr=settings.lr, betas=tuple(vae_settings.betas))},
                 ["vae"], dataset, step_fn, sample_fn) as trainer:
        return trainer.run()
