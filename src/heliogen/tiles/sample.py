"""Sampling a tile GAN or tile VAE run to files: one FITS per tile, in physical units, and a PNG grid.

Tile k comes from z ~ N(0, I) drawn from its own seed ``seed + k`` (the FITS header's SEED), so
any one tile can be regenerated alone. Values are the store's normalisation inverted
(I/<I> for granulation); headers carry the training grid's WCS and the model, checkpoint,
weights and seed.
"""

from __future__ import annotations

import numpy as np
import torch

from ..device import resolve_device
from ..errors import HeliogenError
from ..sample import output_folder, sample_seeds

__all__ = ["TILE_KINDS", "tile_generator", "sample_tiles"]

TILE_KINDS = ("tilegan", "tilevae")


def tile_generator(run, checkpoint=None, ema: bool | None = None, device="cpu"):
    """The z -> tile network of an opened tile run: the GAN's generator or the VAE's decoder."""
    if run.kind == "tilegan":
        return run.load_module("G", ema=ema, checkpoint=checkpoint, device=device)
    if run.kind == "tilevae":
        from ..models.tilevae import TileVAEDecoder

        return TileVAEDecoder.from_vae(run.load_module("vae", ema=ema, checkpoint=checkpoint)).to(device)
    raise HeliogenError(f"{run.path} is a {run.kind} run, not a tile GAN or tile VAE run")


class _PixelImage:
    """An image on pixel axes, for :func:`heliogen.data.fitsio.write_map`: sunpy maps need angular
    axes, which a run whose geometry is unknown must not claim."""

    def __init__(self, data, header: dict):
        self.data = np.asarray(data, dtype=np.float32)
        self.fits_header = {k: v for k, v in header.items() if k != "COMMENT"}


def _tile_map(data, header: dict):
    """The tile as a sunpy map on the training grid, or on pixel axes where that grid is unknown."""
    from ..data.grid_header import grid_map

    return grid_map(data, header) if header.get("CUNIT1") else _PixelImage(data, header)


EVAL_BATCH = 8  # the network's fixed micro-batch (padded), so a tile's numerics never depend on --batch


@torch.no_grad()
def _tiles(generator, seeds, batch: int, device) -> np.ndarray:
    out = []
    for i in range(0, len(seeds), batch):
        z = torch.cat([torch.randn(1, generator.latent_dim, generator=torch.Generator().manual_seed(s)) for s in seeds[i:i + batch]])
        for j in range(0, len(z), EVAL_BATCH):
            chunk = z[j:j + EVAL_BATCH]
            padded = torch.cat([chunk, chunk[:1].expand(EVAL_BATCH - len(chunk), -1)])
            out.append(generator(padded.to(device)).float().cpu()[: len(chunk), 0])
    return torch.cat(out).numpy()


def sample_tiles(run_dir, out, n: int = 16, seed: int = 0, batch: int = 16, checkpoint=None, device: str = "auto",
                 progress: bool = True, weights: str = "ema") -> dict:
    """Sample ``n`` tiles of a tile run into ``out``; returns ``{"fits": [paths], "grid": path}``."""
    from ..data.fitsio import write_map
    from ..training.rundir import open_run
    from ..viz.quicklook import plot_grid

    dev = resolve_device(device)
    run = open_run(run_dir)
    ckpt = run.checkpoint(checkpoint)
    generator = tile_generator(run, ckpt, ema=weights == "ema", device=dev)
    out = output_folder(out)
    seeds = sample_seeds(seed, n)
    phys = run.physical(_tiles(generator, seeds, batch, dev))
    header = run.header
    paths = []
    for k, s in enumerate(seeds):
        path = out / f"tile_{s:06d}.fits"
        write_map(_tile_map(phys[k], header), path, model=run.path.name, runkind=run.kind, ckpt=ckpt.name, weights=weights,
                  seed=s, generatd=True, comment=header.get("COMMENT"))
        paths.append(path)
    show = min(n, 64)
    grid = plot_grid(phys[:show], run.data["kind"], out / "grid.png", titles=[f"seed {s}" for s in seeds[:show]],
                     instrument=header.get("INSTRUME", ""), suptitle=f"{run.path.name}: {run.kind}, {ckpt.name} ({weights})")
    return {"fits": paths, "grid": grid}
