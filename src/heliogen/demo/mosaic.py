"""Demo stage: train the tile GAN briefly (or resume its cached run), bank 2,000 tiles, build a
10x10 mosaic with pixel blending, latent blending and GA refinement, and plot the seam figures
(granulation thesis sec. 3.4, figures 15-16)."""

from __future__ import annotations

import json
from pathlib import Path

from ..viz.report import Section
from .stage import DemoContext, StageOutput

__all__ = ["mosaic_for_demo", "granulation_mosaics"]


def _seam_figure(seams: dict, path: Path) -> Path:
    from matplotlib.figure import Figure

    names = list(seams)
    fig = Figure(figsize=(9, 2.8), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, key, label in zip(axes, ("ratio", "contrast", "mean_distance"),
                              ("seam ratio (gradient per unit variance)", "band / interior variance", "mean eq. 5 distance")):
        vals = [seams[n][key] for n in names]
        ax.bar(names, vals, color=["0.5", "tab:blue", "tab:orange"][: len(names)])
        if key != "mean_distance":
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_title(label, fontsize=9)
    fig.savefig(path, dpi=90)
    return path


def _side_by_side(left: Path, right: Path, path: Path) -> Path:
    """The README's mosaic figure: two previews side by side, 450 x 220 px, no axes."""
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    fig = Figure(figsize=(4.5, 2.2))
    for k, preview in enumerate((left, right)):
        ax = fig.add_axes((0.01 + k * 0.5, 0.0, 0.48, 1.0))
        ax.imshow(imread(preview), cmap="gray")
        ax.set_axis_off()
    fig.savefig(path, dpi=100)
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
        ``figures``: {name: PNG path} (heatmap, the three previews, the seam bar chart, and the
        pixel and latent previews side by side);
        ``seams``: {pixel|latent|ga: seam metric + mean distance}; ``shape``: mosaic size.
    """
    from ..mosaic import GASettings, bank_from_run, build_mosaic, open_bank
    from ..tiles import TileGANSettings, train_tilegan
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
    figures["pixel_and_latent"] = str(_side_by_side(Path(figures["mosaic_pixel"]), Path(figures["mosaic_latent"]),
                                                     out / "mosaic_pixel_and_latent.png"))
    heatmaps = sorted((run / "heatmaps").glob("*.png"))
    if heatmaps:
        figures["heatmap"] = str(heatmaps[-1])
    result = {"figures": figures, "seams": seams, "shape": shape, "grid": grid, "overlap": ov, "bank": str(bank_path), "run": str(run)}
    (out / "mosaic_summary.json").write_text(json.dumps(result, indent=2))
    return result


def granulation_mosaics(ctx: DemoContext) -> StageOutput:
    """Tile GAN, bank and the three 10x10 mosaics on the granulation store; the report's mosaic section."""
    import shutil

    steps = ctx.sizes.tile_steps
    mosaic = mosaic_for_demo(ctx["granulation_store"], ctx.out / "mosaic", steps=steps, seed=ctx.seed)
    # the README shows this figure as docs/mosaic_demo.png
    readme_figure = shutil.copy(mosaic["figures"]["pixel_and_latent"], ctx.figures / "mosaic_demo.png")
    section = Section("Granulation mosaics")
    section.text(
        f"The thesis's tile GAN (equalised LR, pixel norm, minibatch std; channels tapered for the CPU) trained for "
        f"{steps} steps on the synthetic granulation tiles, a bank of 2,000 tiles, and a {mosaic['grid']} mosaic "
        f"({mosaic['shape'][1]} x {mosaic['shape'][0]} px, overlap {mosaic['overlap']} px) by greedy seam matching (eq. 5) "
        "with alpha blending (eq. 4), latent blending of generator feature maps, and GA refinement of each tile's z."
    )
    section.text("Seam ratio: the mean squared gradient across seams over that inside tiles, each per unit pixel variance "
                 "(1 is seamless, lower is better); the raw gradient ratio and the band contrast are shown as well, since alpha "
                 "blending lowers the raw ratio by washing the bands out.")
    section.table([{"mosaic": name, "seam ratio": v["ratio"], "raw gradient ratio": v["raw_ratio"], "band contrast": v["contrast"],
                    "mean eq. 5 distance": v["mean_distance"], "seconds": v["seconds"]}
                   for name, v in mosaic["seams"].items()])
    for name in ("mosaic_pixel", "mosaic_latent", "mosaic_ga", "seams", "heatmap"):
        if name in mosaic["figures"]:
            section.figure(mosaic["figures"][name], name.replace("_", " "))
    section.figure(readme_figure, "pixel blending (left) and latent blending (right), as the README shows it")
    return StageOutput([section], {"mosaic": mosaic})
