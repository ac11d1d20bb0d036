"""The demo's mosaic stage: train the tile GAN briefly (or resume its cached run), bank 2,000
tiles, build a 10x10 mosaic with pixel blending, latent blending and GA refinement, and plot
the seam figures (granulation thesis sec. 3.4, figures 15-16)."""

from __future__ import annotations

import json
from pathlib import Path


__all__ = ["mosaic_for_demo"]


def _seam_figure(seams: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(seams)
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.8), constrained_layout=True)
    for ax, key, label in zip(axes, ("ratio", "contrast", "mean_distance"),
                              ("seam ratio (gradient per unit variance)", "band / interior variance", "mean eq. 5 distance")):
        vals = [seams[n][key] for n in names]
        ax.bar(names, vals, color=["0.5", "tab:blue", "tab:orange"][: len(names)])
        if key != "mean_distance":
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_title(label, fontsize=9)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def mosaic_for_demo(store, out_dir, steps: int = 200, n_bank: int = 2000, grid: str = "10x10", overlap: int | None = None,
                    seed: int = 0, ga_generations: int = 3) -> dict:
    """Run the mosaic pipeline on a granulation store for the demo report.

    Parameters
    ----------
    store : path or Store
        A granulation store (tile size a power of two from 32 to 256).
    out_dir : path
        Working folder; ``out_dir/tilegan`` is the cached run (resumed, so a second call with
        the same ``steps`` trains nothing), ``out_dir/bank.zarr`` the cached bank.
    steps : int
        Training steps of the tile GAN (a CPU-sized width, tapered from 16 px).

    Returns
    -------
    dict
        ``figures``: {name: PNG path} (heatmap, the three previews, the seam bar chart);
        ``seams``: {pixel|latent|ga: seam metric + mean distance}; ``shape``: mosaic size.
    """
    from ..mosaic.bank import bank_from_run, open_bank
    from ..mosaic.build import build_mosaic
    from ..mosaic.refine import GASettings
    from ..tiles.train_gan import TileGANSettings, train_tilegan
    from ..training.trainer import TrainSettings

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store_path = Path(getattr(store, "path", store))
    run = out / "tilegan"
    settings = TrainSettings(steps=steps, batch=8, lr=1e-3, grad_clip=0.0, ema=0.999, checkpoint_every=steps, sample_every=steps,
                             log_every=max(1, steps // 10), progress=False, seed=seed)
    train_tilegan(store_path, run, settings, TileGANSettings(width=32, taper_from=16))
    bank_path = out / "bank.zarr"
    marker = out / "bank.json"
    key = {"steps": steps, "n": n_bank, "seed": seed}
    if not (bank_path.exists() and marker.is_file() and json.loads(marker.read_text()) == key):
        bank_from_run(run, bank_path, n=n_bank, seed=seed, progress=False)
        marker.write_text(json.dumps(key))
    bank = open_bank(bank_path)
    ov = overlap or max(2, bank.size // 16)  # 8 px for 128 px tiles, 4 px for 64 px
    if ov % 2:
        ov += 1
    tiles = bank.tiles()
    figures, seams = {}, {}
    ga = GASettings(population=50, generations=ga_generations)
    for name, kw in (("pixel", {}), ("latent", {"blend": "latent"}), ("ga", {"refine": "ga", "ga": ga})):
        r = build_mosaic(bank, grid, ov, out / f"mosaic_{name}.fits", preview=out / f"mosaic_{name}.png", seed=seed, progress=False,
                         tiles=tiles, **kw)
        figures[f"mosaic_{name}"] = str(out / f"mosaic_{name}.png")
        seams[name] = {**r["seams"], "mean_distance": r["mean_distance"], "seconds": r["seconds"]}
        shape = r["shape"]
    figures["seams"] = str(_seam_figure(seams, out / "mosaic_seams.png"))
    heatmaps = sorted((run / "heatmaps").glob("*.png"))
    if heatmaps:
        figures["heatmap"] = str(heatmaps[-1])
    result = {"figures": figures, "seams": seams, "shape": shape, "grid": grid, "overlap": ov, "bank": str(bank_path), "run": str(run)}
    (out / "mosaic_summary.json").write_text(json.dumps(result, indent=2))
    return result
