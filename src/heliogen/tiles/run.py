"""Run directories of tile models: ``model_config.json``, ``data.json``, ``config.yaml`` and the
heatmap diagnostic; loading a trained generator (EMA weights) back from a run."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..errors import HeliogenError
from ..models.tilegan import TILE_SIZES

__all__ = ["open_tile_store", "write_run_files", "save_heatmap", "save_tile_grid", "load_tile_generator", "load_tile_vae", "read_run"]


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


def write_run_files(out: Path, kind: str, model_configs: dict, store, data_path, settings, model_settings) -> None:
    """Self-describing run directory: constructor args, data description and resolved config."""
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    (out / "model_config.json").write_text(json.dumps({"kind": kind, **model_configs}, indent=2))
    data = {"store": str(Path(data_path).resolve()), "kind": store.kind, "size": store.size, "channels": 1,
            "normalisation": store.normalisation.to_dict(), "data_range": [-1.0, 1.0], "n": store.n}
    (out / "data.json").write_text(json.dumps(data, indent=2))
    resolved = {"model": kind, "data": str(data_path), "out": str(out), **asdict(model_settings), **asdict(settings)}
    (out / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))


def save_tile_grid(tiles: np.ndarray, path: Path, title: str) -> Path:
    """A grid of tiles in model space [-1, 1], grey scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(tiles)
    cols = int(np.ceil(np.sqrt(k)))
    rows = int(np.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, t in zip(axes.flat, tiles):
        ax.imshow(t, cmap="gray", vmin=-1, vmax=1, origin="lower")
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def save_heatmap(samples: np.ndarray, path: Path, title: str) -> Path:
    """The thesis's heatmap diagnostic (sec. 3.3, figure 11): the mean of generated samples.

    A structure common to all samples (a learned fixed pattern) shows up as a non-uniform mean.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean = np.asarray(samples, dtype=np.float64).mean(axis=0)
    fig, ax = plt.subplots(figsize=(4, 3.4), constrained_layout=True)
    im = ax.imshow(mean, cmap="inferno", origin="lower")
    fig.colorbar(im, ax=ax, label="mean (model space)")
    ax.set_title(f"{title}\nmean of {len(samples)} samples, std of mean {mean.std():.3f}", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def read_run(run) -> tuple[Path, dict, dict]:
    """(run dir, model_config.json, data.json) of a tile run, with clear errors."""
    run = Path(run)
    try:
        cfg = json.loads((run / "model_config.json").read_text())
        data = json.loads((run / "data.json").read_text())
    except FileNotFoundError:
        raise HeliogenError(f"{run} is not a tile GAN/VAE run directory (no model_config.json/data.json)") from None
    if cfg.get("kind") not in ("tilegan", "tilevae"):
        raise HeliogenError(f"{run} is a {cfg.get('kind', 'non-tile')!s} run, not a tile GAN or VAE run")
    return run, cfg, data


def _weights(run: Path, name: str, checkpoint=None) -> dict:
    from ..training.checkpoint import latest_checkpoint, load_weights

    ckpt = Path(checkpoint) if checkpoint else latest_checkpoint(run)
    if ckpt is None:
        raise HeliogenError(f"{run} has no complete checkpoint yet")
    ema = Path(ckpt) / f"{name}_ema.safetensors"
    return load_weights(ckpt, f"{name}_ema" if ema.is_file() else name)


def _load_tile_model(run, kind: str, checkpoint=None):
    """The EMA model of a ``kind`` run (tilegan: generator, tilevae: VAE), in eval mode (CPU)."""
    from ..models.tilegan import TileGenerator
    from ..models.tilevae import TileVAE

    run, cfg, _ = read_run(run)
    if cfg["kind"] != kind:
        raise HeliogenError(f"{run} is a {cfg['kind']} run, not a {kind} run")
    cls, config_key, weights = {"tilegan": (TileGenerator, "generator", "G"), "tilevae": (TileVAE, "vae", "vae")}[kind]
    model = cls(**cfg[config_key])
    model.load_state_dict(_weights(run, weights, checkpoint))
    return model.eval()


def load_tile_generator(run, checkpoint=None):
    """The EMA generator of a tile GAN run, in eval mode (CPU)."""
    return _load_tile_model(run, "tilegan", checkpoint)


def load_tile_vae(run, checkpoint=None):
    """The EMA VAE of a tile VAE run, in eval mode (CPU)."""
    return _load_tile_model(run, "tilevae", checkpoint)


@torch.no_grad()
def generate(g, n: int, seed: int, batch: int = 50) -> np.ndarray:
    """``n`` tiles (n, S, S) float32 from z ~ N(0, I) drawn from one seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, g.latent_dim, generator=gen)
    dev = next(g.parameters()).device
    out = [g(z[i:i + batch].to(dev)).float().cpu()[:, 0] for i in range(0, n, batch)]
    return torch.cat(out).numpy()
