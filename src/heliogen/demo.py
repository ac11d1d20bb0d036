"""The demo: heliogen's pipeline end to end on the synthetic Sun, written up as an HTML report.

Stages so far: synthesise EUV, magnetogram, granulation and GOES data; build the three
stores; attach flare labels; plot quicklooks. Later model stages add themselves here.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .viz.report import Report

__all__ = ["run_demo"]

log = logging.getLogger("heliogen")


class _Timer:
    def __init__(self):
        self.rows = []

    def __call__(self, name):
        timer = self

        class _Stage:
            def __enter__(self):
                log.info("demo: %s", name)
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.rows.append({"stage": name, "seconds": round(time.perf_counter() - self.t0, 2)})

        return _Stage()


def run_demo(out="demo-output", seed: int = 0, n_euv: int = 48, euv_size: int = 64, diffusion_steps: int = 600,
             tile_steps: int = 150) -> Path:
    """Run every demo stage into ``out`` and return the report path."""
    from .data.build import build_store
    from .data.goes import read_xrs
    from .data.labels import attach_labels
    from .data.store import open_store
    from .data.synth import write_synth
    from .viz.goes_plot import plot_goes_labels
    from .viz.quicklook import plot_store_grid

    out = Path(out)
    raw, stores, figs = out / "data", out / "stores", out / "figures"
    for d in (raw, stores, figs):
        d.mkdir(parents=True, exist_ok=True)
    stage = _Timer()
    report = Report("heliogen demo: the synthetic Sun, from FITS to dataset stores")
    report.section("About").text(
        "Everything below runs on heliogen's synthetic Sun: physically motivated, seeded EUV disks, magnetograms, "
        "granulation and GOES curves written as FITS/CSV with instrument-like headers. They are synthetic, not observations. "
        f"Seed {seed}."
    )

    with stage("synthesise"):
        euv_files = write_synth("euv", n_euv, euv_size * 4, seed, raw / "euv", wavelength=193)
        write_synth("goes", n_euv, 0, seed, raw / "goes")
        mag_files = write_synth("magnetogram", 4, 512, seed, raw / "magnetogram", instrument="hmi")
        gran_files = write_synth("granulation", 8, 256, seed, raw / "granulation")

    with stage("build stores"):
        reports = [
            build_store(raw / "euv", stores / "euv.zarr", "euv", euv_size, wavelength=193, progress=False),
            build_store(raw / "magnetogram", stores / "magnetogram.zarr", "magnetogram", 128, crop=128, crop_mode="ar", pairs=4, progress=False),
            build_store(raw / "granulation", stores / "granulation.zarr", "granulation", 64, progress=False),
        ]

    with stage("flare labels"):
        goes_csv = raw / "goes" / "goes_xrs_synthetic.csv"
        counts = attach_labels(stores / "euv.zarr", [goes_csv], raw / "goes" / "flarelist_synthetic.csv", 60.0)
        euv = open_store(stores / "euv.zarr")
        table = euv.table()
        plot_goes_labels(read_xrs(goes_csv), table["time"], table["goes_class"], figs / "goes_labels.png")

    with stage("quicklooks"):
        plot_store_grid(stores / "euv.zarr", 16, figs / "euv_grid.png", seed=seed)
        plot_store_grid(stores / "magnetogram.zarr", 4, figs / "magnetogram_grid.png", seed=seed)
        plot_store_grid(stores / "granulation.zarr", 16, figs / "granulation_grid.png", seed=seed)

    report.section("Data: synthetic FITS to stores")
    report.table([{"store": r.store.name, "samples": r.total_samples, "files": r.added_files + r.already_done,
                   "skipped": len(r.skipped)} for r in reports])
    report.text(f"{len(euv_files)} EUV 193 A images at {euv_size * 4} px, {len(mag_files)} HMI-like magnetograms, "
                f"{len(gran_files)} granulation patches (x10 augmentation), and one GOES XRS curve.")
    report.figure(figs / "euv_grid.png", f"EUV store ({euv_size} px), DN/s, sdoaia193 colormap, with GOES class")
    report.figure(figs / "magnetogram_grid.png", "Magnetogram store: 128 px crops centred on the strongest active region, hmimag")
    report.figure(figs / "granulation_grid.png", "Granulation tiles (64 px), ten augmentations per patch")
    report.section("Flare labels")
    report.text("Peak XRS-B flux within +-30 min of each image time, from the synthetic GOES curve of the same seed "
                "and its SWPC-style flare list; class letters by NOAA's decades.")
    report.table([{"class": k, "images": v} for k, v in counts.items()])
    report.figure(figs / "goes_labels.png", "Synthetic GOES XRS with each EUV image time and its class")
    with stage("train class-conditional diffusion"):
        diffusion = _diffusion_stage(raw / "goes", raw / "euv", stores, out / "runs", figs, seed, diffusion_steps)
    report.section("Flare-class conditional diffusion")
    report.text(
        f"The tiny ADM preset (diffusers UNet2DModel, scale-shift norm) trained for {diffusion_steps} steps on the "
        f"{diffusion['n']} synthetic EUV images at 32 px, conditioned on the GOES class with the condition dropped 10% "
        f"of the time. Samples use {diffusion['sampler']}-{diffusion['steps']} with classifier-free guidance "
        f"w={diffusion['guidance']} (eps_u + w (eps_c - eps_u)). A CPU-minutes model: expect blurry suns, not science."
    )
    report.figure(diffusion["grid"], "Samples per class (DN/s, sdoaia193)")
    report.figure(diffusion["stats"], "Per-class mean and standard deviation of the samples, as the flare-class poster shows them")
    report.figure(diffusion["losses"], "Training loss")

    with stage("evaluate samples"):
        metrics, eval_figs = _evaluation_stage(raw, stores, out / "evaluation", diffusion["samples"], seed, n_euv)
    report.section("Evaluation: samples against held-out synthetic images")
    report.text("Fréchet distances (TF-FID Inception pool3, and the randomly initialised Inception of the EUV study's rFID), "
                "KID, precision/recall/density/coverage (k=3), the flare poster's cluster metrics (K=4 for these small sets) "
                "and pixel statistics, all computed by heliogen.evaluate; the JSON is evaluation/metrics.json.")
    report.table(_flat_metrics(metrics))
    for fig in eval_figs:
        report.figure(fig, fig.stem.replace("_", " "))
    with stage("granulation tiles and mosaics"):
        from .mosaic.demo import mosaic_for_demo

        mosaic = mosaic_for_demo(stores / "granulation.zarr", out / "mosaic", steps=tile_steps, seed=seed)
    report.section("Granulation mosaics")
    report.text(
        f"The thesis's tile GAN (equalised LR, pixel norm, minibatch std; channels tapered for the CPU) trained for "
        f"{tile_steps} steps on the synthetic granulation tiles, a bank of 2,000 tiles, and a {mosaic['grid']} mosaic "
        f"({mosaic['shape'][1]} x {mosaic['shape'][0]} px, overlap {mosaic['overlap']} px) by greedy seam matching (eq. 5) "
        "with alpha blending (eq. 4), latent blending of generator feature maps, and GA refinement of each tile's z."
    )
    report.text("Seam ratio: the mean squared gradient across seams over that inside tiles, each per unit pixel variance "
                "(1 is seamless, lower is better); the raw gradient ratio and the band contrast are shown as well, since alpha "
                "blending lowers the raw ratio by washing the bands out.")
    report.table([{"mosaic": name, "seam ratio": v["ratio"], "raw gradient ratio": v["raw_ratio"], "band contrast": v["contrast"],
                   "mean eq. 5 distance": v["mean_distance"], "seconds": v["seconds"]}
                  for name, v in mosaic["seams"].items()])
    for name in ("mosaic_pixel", "mosaic_latent", "mosaic_ga", "seams", "heatmap"):
        if name in mosaic["figures"]:
            report.figure(mosaic["figures"][name], name.replace("_", " "))
    report.section("Timing")
    report.table(stage.rows)
    return report.write(out / "report.html")


def _evaluation_stage(raw, stores, folder, samples, seed, n):
    """Held-out synthetic images (another stretch of the same Sun's history) against the samples."""
    from .data.build import build_store
    from .data.synth import write_synth
    from .evaluate import evaluate_for_demo

    held_raw = raw / "euv_heldout"
    write_synth("euv", n, 128, seed, held_raw, wavelength=193, start="2011-03-01T00:00:00")
    held = stores / "euv32_heldout.zarr"
    build_store(held_raw, held, "euv", 32, wavelength=193, progress=False)
    return evaluate_for_demo(held, samples, folder)


def _flat_metrics(doc: dict) -> list[dict]:
    from .evaluate.schema import flatten_metrics

    return [{"metric": k, "value": v} for k, v in flatten_metrics({"metrics": doc["metrics"]}).items()]


DEMO_SAMPLER = ("ddpm", 100)
DEMO_GUIDANCE = 2.0


def _diffusion_stage(goes_dir, euv_dir, stores, runs, figs, seed, steps) -> dict:
    """Train the tiny class-conditional model (resumes: a finished run is reused) and sample every class."""
    import shutil

    from .data.build import build_store
    from .data.labels import attach_labels
    from .diffusion.generate import generate
    from .diffusion.train import DiffusionSettings, train_diffusion
    from .training.trainer import TrainSettings
    from .viz.training_plot import plot_losses

    store = stores / "euv32.zarr"
    build_store(euv_dir, store, "euv", 32, wavelength=193, progress=False)
    attach_labels(store, [goes_dir / "goes_xrs_synthetic.csv"], goes_dir / "flarelist_synthetic.csv", 60.0)
    run = runs / "flare-cfg-tiny"
    settings = TrainSettings(steps=steps, batch=16, lr=1e-3, ema=0.99, checkpoint_every=steps, log_every=25, seed=seed, progress=False)
    train_diffusion(store, run, settings, DiffusionSettings(preset="tiny", cond="class", prediction="v_prediction"))
    samples = runs / "flare-cfg-tiny-samples"
    shutil.rmtree(samples, ignore_errors=True)
    sampler, nsteps = DEMO_SAMPLER
    out = generate(run, samples, n=8, sampler=sampler, steps=nsteps, guidance=DEMO_GUIDANCE, seed=seed, stats=True, progress=False)
    grid = shutil.copy(out["grid"], figs / "diffusion_samples.png")
    stats = shutil.copy(out["stats"] / "stats.png", figs / "diffusion_class_stats.png")
    losses = plot_losses(run, figs / "diffusion_loss.png")
    from .data.store import open_store

    return {"grid": Path(grid), "stats": Path(stats), "losses": losses, "sampler": sampler, "steps": nsteps,
            "guidance": DEMO_GUIDANCE, "n": open_store(store).n, "samples": samples, "run": run}
