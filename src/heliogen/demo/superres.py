"""Demo stage: 4x magnetogram super-resolution, from HMI pairs to a super-resolved MDI disk.

At CPU size: fields of view at HMI's 0.5" around the strongest region of each synthetic
magnetogram, 64 px crops paired with their 4x4 block means, a small KL autoencoder, ldm-res
(the super-resolution paper's model) and the two deterministic baselines; the paper's table 1
on held-out crops; then ``heliogen superres`` on a synthetic MDI full disk, with its
uncertainty map.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..viz.report import Section
from .stage import DemoContext, StageOutput

__all__ = ["magnetogram_superres", "DEMO_SR"]

# Steps measured to fit the stage's share on 2 cores (s a step: autoencoder 0.28, ldm-res 0.19, enhance and progressive 0.05).
DEMO_SR = dict(fov=192, crop=64, train_crops=12, heldout_crops=8, ae_steps=40, ldm_steps=120, det_steps=100,
               eval_samples=3, eval_steps=10, mdi_size=256, disk_samples=3, disk_steps=8, tile=32)


def _fields_of_view(ctx: DemoContext) -> tuple[list[Path], list[Path]]:
    """HMI fields of view at 0.5" centred on each synthetic magnetogram's strongest region; the last is held out."""
    import astropy.units as u

    from ..data.fitsio import read_map
    from ..data.magnetogram import strongest_region_pixel
    from ..data.synth import write_synth

    disks = sorted((ctx.raw / "magnetogram").glob("*.fits"))
    train, held = [], []
    for k, disk in enumerate(disks):
        smap = read_map(disk)
        x, y = strongest_region_pixel(np.nan_to_num(smap.data), 8.0)
        centre = smap.pixel_to_world(x * u.pix, y * u.pix)
        folder = ctx.raw / ("hmi-fov-heldout" if k == len(disks) - 1 else "hmi-fov")
        written = write_synth("magnetogram", 1, DEMO_SR["fov"], ctx.seed, folder, instrument="hmi", start=smap.date.isot,
                              cdelt=0.5, center=(centre.Tx.to_value(u.arcsec), centre.Ty.to_value(u.arcsec)))
        (held if k == len(disks) - 1 else train).extend(written)
    return train, held


def _train(ctx: DemoContext, train_store: Path) -> dict:
    from ..superres.train import SuperResSettings, train_superres
    from ..superres.train_autoencoder import AutoencoderSettings, train_autoencoder
    from ..training.trainer import TrainSettings

    runs = {name: ctx.runs / f"superres-{name}" for name in ("autoencoder", "ldm-res", "enhance", "progressive")}

    def settings(steps, batch):
        return TrainSettings(steps=steps, batch=batch, checkpoint_every=steps, log_every=max(1, steps // 10), seed=ctx.seed,
                             progress=False, lr=2e-4 if batch == 8 else 1e-3)

    train_autoencoder(train_store, runs["autoencoder"], settings(DEMO_SR["ae_steps"], 8),
                      AutoencoderSettings(type="kl", factor=4, width=16, latent_channels=2))
    train_superres(train_store, runs["ldm-res"], settings(DEMO_SR["ldm_steps"], 4),
                   SuperResSettings(model="ldm-res", autoencoder=str(runs["autoencoder"])))
    for name in ("enhance", "progressive"):
        train_superres(train_store, runs[name], settings(DEMO_SR["det_steps"], 4), SuperResSettings(model=name, width=16, blocks=4))
    return runs


def _disk_figure(mdi: Path, result: Path, path: Path) -> Path:
    """The MDI input, the super-resolved mean and its per-pixel standard deviation with the mask."""
    from astropy.io import fits
    from matplotlib.figure import Figure

    from ..data.fitsio import read_map
    from ..viz.colormaps import colormap_for
    from ..viz.figures import save_figure

    field = read_map(mdi).data
    with fits.open(result) as hdul:
        mean, std, mask = hdul[0].data, hdul["STD"].data, hdul["UNC_MASK"].data
    fig = Figure(figsize=(11, 3.9), dpi=100)
    axes = fig.subplots(1, 3)
    cmap = colormap_for("magnetogram")
    axes[0].imshow(field, origin="lower", cmap=cmap, vmin=-1500 * 1.4, vmax=1500 * 1.4)
    axes[0].set_title(f"synthetic MDI, {field.shape[0]} px (G)", fontsize=9)
    axes[1].imshow(mean, origin="lower", cmap=cmap, vmin=-1500, vmax=1500)
    axes[1].set_title(f"ldm-res x4, {mean.shape[0]} px (HMI-equivalent G)", fontsize=9)
    im = axes[2].imshow(std, origin="lower", cmap="viridis", vmax=np.nanpercentile(std, 99.5))
    axes[2].contour(mask, levels=[0.5], colors="red", linewidths=0.3)
    fig.colorbar(im, ax=axes[2], fraction=0.046, label="std (G)")
    axes[2].set_title("per-pixel std, red: UNC_MASK", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return save_figure(fig, path)


def magnetogram_superres(ctx: DemoContext) -> StageOutput:
    """Train (or reuse) ldm-res, enhance and progressive on synthetic HMI pairs, evaluate them on
    held-out crops (the paper's table 1) and super-resolve a synthetic MDI full disk."""
    from ..data.build import build_store
    from ..data.synth import write_synth
    from ..superres.evaluate import TABLE_ROWS, SuperResEvalSettings, evaluate_superres
    from ..superres.infer import superres_files

    figs = ctx.figures
    train_files, held_files = _fields_of_view(ctx)
    train_store, held_store = ctx.stores / "magnetogram-pairs.zarr", ctx.stores / "magnetogram-pairs-heldout.zarr"
    build_store(train_files, train_store, "magnetogram", None, crop=DEMO_SR["crop"], crop_mode="random",
                n_random=DEMO_SR["train_crops"], pairs=4, progress=False, seed=ctx.seed)
    build_store(held_files, held_store, "magnetogram", None, crop=DEMO_SR["crop"], crop_mode="random",
                n_random=DEMO_SR["heldout_crops"], pairs=4, progress=False, seed=ctx.seed + 1)
    runs = _train(ctx, train_store)
    evaluation = ctx.out / "evaluation" / "superres"
    settings = SuperResEvalSettings(n=DEMO_SR["heldout_crops"], samples=DEMO_SR["eval_samples"], steps=DEMO_SR["eval_steps"],
                                    seed=ctx.seed, figure_rows=2, progress=False)
    doc = evaluate_superres([runs[m] for m in ("ldm-res", "enhance", "progressive")], held_store, evaluation, settings)
    shown = {name: Path(shutil.copy(evaluation / f"{name}.png", figs / f"superres_{name}.png"))
             for name in ("samples", "fourier", "uncertainty", "physics_boxplots")}

    last = sorted((ctx.raw / "magnetogram").glob("*.fits"))[-1]
    from ..data.fitsio import read_map

    mdi = write_synth("magnetogram", 1, DEMO_SR["mdi_size"], ctx.seed, ctx.raw / "mdi", instrument="mdi",
                      start=read_map(last).date.isot)[0]
    disk_out = ctx.out / "superres"
    summary = superres_files([mdi], disk_out, runs["ldm-res"], samples=DEMO_SR["disk_samples"], steps=DEMO_SR["disk_steps"],
                             tile=DEMO_SR["tile"], tile_batch=16, seed=ctx.seed, progress=False)
    disk = _disk_figure(mdi, Path(summary["written"][0]), figs / "superres_disk.png")

    labels = dict(TABLE_ROWS, perceptual=doc["networks"]["perceptual"].split(" (")[0][:40], fd=f"FD ({doc['networks']['fd']})")
    rows = []
    for key, label in TABLE_ROWS:
        row = {"metric": labels.get(key, label)}
        for r in doc["results"]:
            m = r["metrics"].get(key)
            row[r["label"]] = "-" if m is None else (f"{m['mean']:.3g}" if key == "fd" else f"{m['mean']:.3g} ± {m['std']:.2g}")
        rows.append(row)
    section = Section("Magnetogram super-resolution")
    section.text(
        f"The super-resolution paper's pipeline at CPU size. Fields of view at HMI's 0.5\" around the strongest region of each synthetic "
        f"magnetogram give {DEMO_SR['crop']} px crops paired with their 4x4 block means (2\", MDI's pixels); the last time is held out. "
        f"A KL autoencoder (f = 4, {DEMO_SR['ae_steps']} steps), ldm-res (latent diffusion on the residual, Palette-conditioned, "
        f"{DEMO_SR['ldm_steps']} steps) and the deterministic Enhance and Progressive ({DEMO_SR['det_steps']} steps each) train on "
        f"the pairs. CPU-seconds models: the table shows the evaluation working, not the paper's result.")
    section.table(rows, caption=f"The paper's table 1 on {len(doc['rows'])} held-out crops ({DEMO_SR['eval_samples']} ldm-res samples each, "
                                f"DPM-Solver++ {DEMO_SR['eval_steps']} steps). Perceptual distance: {doc['networks']['perceptual']}")
    section.figure(shown["samples"], "Input (2\" pixels), target and one sample of every model (hmimag, ±1500 G)")
    section.figure(shown["fourier"], "Amplitude spectra of the first crop; outside the red circle lies structure finer than 2\"")
    section.figure(shown["uncertainty"], "ldm-res: per-pixel std over the samples of one crop, its Butterworth high-pass at 2\" and the mask")
    section.figure(shown["physics_boxplots"], "Unsigned-flux and AR-size (300 G) errors per model")
    section.text(
        f"Then `heliogen superres` on a synthetic MDI full disk ({DEMO_SR['mdi_size']} px, so the demo's CPU seconds suffice: its pixels are "
        f"{1024 // DEMO_SR['mdi_size']}x MDI's 2\", so the model, trained at 2\" to 0.5\", is applied outside its scale here). MDI's field is "
        f"scaled by 1/1.4 to HMI's, the disk is cut in {DEMO_SR['tile']} px tiles blended by raised-cosine windows, and "
        f"{DEMO_SR['disk_samples']} samples give the mean and the per-pixel standard deviation, written with the 4x finer WCS as "
        f"{Path(summary['written'][0]).relative_to(ctx.out)}.")
    section.figure(disk, "MDI input, the super-resolved mean and its uncertainty map")
    return StageOutput([section], {"superres_runs": runs, "superres_disk": Path(summary["written"][0])})
