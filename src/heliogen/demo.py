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


def run_demo(out="demo-output", seed: int = 0, n_euv: int = 48, euv_size: int = 64) -> Path:
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
        gran_files = write_synth("granulation", 2, 256, seed, raw / "granulation")

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
    report.section("Timing")
    report.table(stage.rows)
    return report.write(out / "report.html")
