"""What both tile trainers share: the store check, seeded tile generation, and the two
training figures (a sample grid and the thesis's heatmap diagnostic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import HeliogenError
from ..models.tilegan import TILE_SIZES

__all__ = ["open_tile_store", "tile_data", "generate_tiles", "save_heatmap", "save_tile_grid"]


def open_tile_store(data):
    """Open a store and check it holds one-channel tiles of a supported size."""
    from ..data.store import open_store

    store = open_store(data)
    if int(store.attrs.get("channels", 1)) != 1:
        raise HeliogenError(f"{data} has {store.attrs.get('channels')} channels; tile models take one-channel stores (granulation)")
    if store.size not in TILE_SIZES:
        raise HeliogenError(f"{data} holds {store.size} px images; tile models need a power of two from 32 to 256 (build with --size 128)")
    if store.n < 1:
        raise HeliogenError(f"{data} is empty")
    return store


def tile_data(store, data_path) -> dict:
    """``data.json`` of a tile run: tile models learn the store's model-space values as they
    are, so their outputs map to physical units through the normalisation alone."""
    from ..training.rundir import describe_store

    return {**describe_store(store, data_path), "data_range": [-1.0, 1.0]}


@torch.no_grad()
def generate_tiles(g, n: int, seed: int, batch: int = 50) -> np.ndarray:
    """``n`` tiles (n, S, S) float32 from z ~ N(0, I) drawn from one seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, g.latent_dim, generator=gen)
    dev = next(g.parameters()).device
    out = [g(z[i:i + batch].to(dev)).float().cpu()[:, 0] for i in range(0, n, batch)]
    return torch.cat(out).numpy()


def _save(fig, path: Path, dpi: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def save_tile_grid(tiles: np.ndarray, path: Path, title: str) -> Path:
    """A grid of tiles in model space [-1, 1], grey scale."""
    from matplotlib.figure import Figure

    k = len(tiles)
    cols = int(np.ceil(np.sqrt(k)))
    rows = int(np.ceil(k / cols))
    fig = Figure(figsize=(1.6 * cols, 1.6 * rows + 0.3))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, t in zip(axes.flat, tiles):
        ax.imshow(t, cmap="gray", vmin=-1, vmax=1, origin="lower")
    fig.suptitle(title)
    return _save(fig, Path(path), 80)


def save_heatmap(samples: np.ndarray, path: Path, title: str) -> Path:
    """The thesis's heatmap diagnostic (sec. 3.3, figure 11): the mean of generated samples.

    A structure common to all samples (a learned fixed pattern) shows up as a non-uniform mean.
    """
    from matplotlib.figure import Figure

    mean = np.asarray(samples, dtype=np.float64).mean(axis=0)
    fig = Figure(figsize=(4, 3.4), constrained_layout=True)
    ax = fig.subplots()
    im = ax.imshow(mean, cmap="inferno", origin="lower")
    fig.colorbar(im, ax=ax, label="mean (model space)")
    ax.set_title(f"{title}\nmean of {len(samples)} samples, std of mean {mean.std():.3f}", fontsize=9)
    return _save(fig, Path(path), 80)
