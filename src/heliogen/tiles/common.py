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
    are, so their data range is the networks' own and their outputs map to physical units
    through the normalisation alone."""
    from ..training.rundir import NETWORK_RANGE, describe_store

    return {**describe_store(store, data_path), "data_range": list(NETWORK_RANGE)}


@torch.no_grad()
def generate_tiles(generator, n: int, seed: int, batch: int = 50) -> np.ndarray:
    """``n`` tiles (n, S, S) float32 from the z -> tile network ``generator``, z ~ N(0, I)
    drawn from one seeded random generator."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator.latent_dim, generator=rng)
    dev = next(generator.parameters()).device
    out = [generator(z[i:i + batch].to(dev)).float().cpu()[:, 0] for i in range(0, n, batch)]
    return torch.cat(out).numpy()


def save_tile_grid(tiles: np.ndarray, path: Path, title: str) -> Path:
    """A grid of tiles in model space [-1, 1], grey scale."""
    from ..viz.grid import plot_image_grid

    n_tiles = len(tiles)
    cols = int(np.ceil(np.sqrt(n_tiles)))
    rows = int(np.ceil(n_tiles / cols))
    return plot_image_grid(list(tiles), path, cols=cols, figsize=(1.6 * cols, 1.6 * rows + 0.3), layout=None, vmin=-1, vmax=1,
                           suptitle=title, dpi=80)


def save_heatmap(samples: np.ndarray, path: Path, title: str) -> Path:
    """The thesis's heatmap diagnostic (sec. 3.3, figure 11): the mean of generated samples.

    A structure common to all samples (a learned fixed pattern) shows up as a non-uniform mean.
    """
    from matplotlib.figure import Figure

    from ..viz.figures import save_figure

    mean = np.asarray(samples, dtype=np.float64).mean(axis=0)
    fig = Figure(figsize=(4, 3.4), layout="constrained")
    ax = fig.subplots()
    shown = ax.imshow(mean, cmap="inferno", origin="lower")
    fig.colorbar(shown, ax=ax, label="mean (model space)")
    ax.set_title(f"{title}\nmean of {len(samples)} samples, std of mean {mean.std():.3f}", fontsize=9)
    return save_figure(fig, path, tight=False, dpi=80)
