"""``heliogen data``: synthetic Sun, fetching, building stores, labels, quicklooks and exports."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..data.kinds import KINDS, kind_spec
from ..errors import HeliogenError
from .options import config_option

log = logging.getLogger("heliogen")

BUILD_KINDS = (*KINDS, "magnetogram-pairs")
SYNTH_KINDS = (*KINDS, "goes")


@click.group()
def data():
    """Solar data: synthesise, fetch, build stores, attach flare labels, look, export."""


@data.command("synth")
@click.option("--kind", type=click.Choice(SYNTH_KINDS), required=True, help="What to synthesise.")
@click.option("--n", "n", type=click.IntRange(min=1), default=16, show_default=True, help="Number of images (goes: number of cadence steps covered).")
@click.option("--size", type=click.IntRange(min=8, max=8192), default=256, show_default=True, help="Image side in pixels.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the synthetic Sun.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
@click.option("--wavelength", type=click.IntRange(min=1), default=193, show_default=True, help="EUV channel in Angstrom.")
@click.option("--instrument", type=click.Choice(["hmi", "mdi"]), default="hmi", show_default=True, help="Magnetogram instrument.")
@click.option("--start", default="2011-01-01T00:00:00", show_default=True, help="Time of the first image (UTC).")
@click.option("--cadence", default="6h", show_default=True, help="Time between images (pandas offset, e.g. 6h, 12min).")
@config_option
def synth(kind, n, size, seed, out, wavelength, instrument, start, cadence):
    """Write synthetic (not observed) FITS files with instrument-like headers.

    The synthetic Sun is one seeded history: EUV images, magnetograms and the GOES curve of
    the same seed show the same active regions and flares.
    """
    from ..data.synth import write_synth

    options = {"start": start, "cadence": cadence}
    if kind == "euv":
        options["wavelength"] = wavelength
    if kind == "magnetogram":
        options["instrument"] = instrument
    paths = write_synth(kind, n, size, seed, out, **options)
    click.echo(f"wrote {len(paths)} synthetic {kind} file{'s' if len(paths) != 1 else ''} to {out}")


def _read_crop_list(path):
    """A crop list CSV: columns tx, ty (arcsec) and optionally file (a file name, or * for all)."""
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise HeliogenError(f"cannot read crop list {path}: {err}") from None
    if not {"tx", "ty"} <= set(table.columns):
        raise HeliogenError(f"crop list {path} needs tx and ty columns (arcsec), got {', '.join(table.columns)}")
    positions = {}
    for row in table.itertuples():
        positions.setdefault(str(getattr(row, "file", "*")), []).append([float(row.tx), float(row.ty)])
    return positions


@data.command("build")
@click.option("--kind", type=click.Choice(BUILD_KINDS), required=True, help="Preprocessing to apply (magnetogram-pairs: --hr and --lr files co-registered).")
@click.option("--input", "inputs", multiple=True, help="Directory, glob or file; repeatable.")
@click.option("--hr", "hr_inputs", multiple=True, help="magnetogram-pairs: high-resolution (HMI) files; repeatable.")
@click.option("--lr", "lr_inputs", multiple=True, help="magnetogram-pairs: low-resolution (MDI) files; repeatable.")
@click.option("--tolerance", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True, help="magnetogram-pairs: largest time between paired files (minutes).")
@click.option("--reproject", type=click.Choice(["adaptive", "interpolation", "exact"]), default="adaptive", show_default=True, help="magnetogram-pairs: sunpy reproject_to algorithm for the low-resolution map.")
@click.option("--out", type=click.Path(), required=True, help="Store to create or resume (STORE.zarr).")
@click.option("--size", type=click.IntRange(min=8, max=8192), default=None, help=f"Stored image side S (euv default {KINDS['euv'].default_size}, granulation {KINDS['granulation'].default_size}; magnetogram default: crop or native).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Preprocessing processes.")
@click.option("--wavelength", type=float, default=None, help="euv: keep only this wavelength (Angstrom); others are skipped.")
@click.option("--register/--no-register", default=True, show_default=True, help="euv: aiapy.calibrate.register for AIA level 1.")
@click.option("--degradation", is_flag=True, help="euv: aiapy degradation correction (needs JSOC or --degradation-table).")
@click.option("--degradation-table", type=click.Path(exists=True, dir_okay=False), default=None, help="euv: local aiapy correction table.")
@click.option("--fov", type=click.FloatRange(min=1), default=None, help="euv: field of view of the grid in arcsec [default: 2457.6, AIA's].")
@click.option("--crop", type=click.IntRange(min=8), default=None, help="magnetogram: C x C native-resolution crops.")
@click.option("--crop-mode", type=click.Choice(["center", "random", "ar"]), default=None, help="magnetogram: where crops go (ar = strongest active region) [default: center; magnetogram-pairs: ar].")
@click.option("--crops-per-image", type=click.IntRange(min=1), default=1, show_default=True, help="magnetogram: random crops per image.")
@click.option("--crop-list", type=click.Path(exists=True, dir_okay=False), default=None, help="magnetogram: CSV of crop centres (tx, ty in arcsec[, file]).")
@click.option("--pairs", type=click.IntRange(min=2), default=None, help="magnetogram: also store the f x f block-mean low-resolution image.")
@click.option("--augment/--no-augment", default=True, show_default=True, help="granulation: the x10 mirror/rotation augmentation.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of random crops.")
@click.option("--dry-run", is_flag=True, help="List what would be built and stop.")
@config_option
def build(kind, inputs, hr_inputs, lr_inputs, tolerance, reproject, out, size, workers, wavelength, register, degradation,
          degradation_table, fov, crop, crop_mode, crops_per_image, crop_list, pairs, augment, seed, dry_run):
    """Preprocess FITS files into a chunked Zarr store (resumable; bad files are skipped with a reason).

    magnetogram-pairs matches --hr and --lr files by time, reprojects each low-resolution map
    onto its high-resolution partner's grid coarsened 4x (sunpy reproject_to), and stores
    --crop C high-resolution crops (default: on the strongest active region) with their C/4 twins.
    """
    from ..data.build import build_store, resolve_inputs

    if kind == "magnetogram-pairs":
        return _build_pairs(hr_inputs, lr_inputs, inputs, out, size, crop, crop_mode, crops_per_image, crop_list, pairs,
                            tolerance, reproject, workers, seed, dry_run)
    if hr_inputs or lr_inputs:
        raise HeliogenError("--hr and --lr apply to --kind magnetogram-pairs only; other kinds take --input")
    if not inputs:
        raise HeliogenError("--input is required (a directory, glob or file)")
    if kind != "magnetogram" and (crop or pairs or crop_list):
        raise HeliogenError("--crop, --crop-list and --pairs apply to --kind magnetogram only")
    if size is None:
        size = kind_spec(kind).default_size
    if kind == "euv":
        options = {"wavelength": wavelength, "register": register, "degradation": degradation, "degradation_table": degradation_table, "fov": fov}
    elif kind == "magnetogram":
        mode = "list" if crop_list else (crop_mode or "center")
        if crop_list and not crop:
            raise HeliogenError("--crop-list needs --crop to set the crop size")
        options = {"crop": crop, "crop_mode": mode, "n_random": crops_per_image, "pairs": pairs, "seed": seed,
                   "positions": _read_crop_list(crop_list) if crop_list else None}
    else:
        from ..data.granulation import AUGMENTATIONS

        options = {"augmentations": list(AUGMENTATIONS if augment else AUGMENTATIONS[:1])}
    if dry_run:
        files = resolve_inputs(inputs)
        click.echo(f"would build {len(files)} file(s) into {out} as {kind} at size {size}: {options}")
        return
    report = build_store(inputs, out, kind, size, workers=workers, **options)
    click.echo(report.summary())
    if report.total_samples == 0:
        raise HeliogenError("no image could be built; see the skip reasons above")


def _build_pairs(hr_inputs, lr_inputs, inputs, out, size, crop, crop_mode, crops_per_image, crop_list, pairs, tolerance,
                 reproject, workers, seed, dry_run):
    from ..data.build import resolve_inputs
    from ..data.build_pairs import build_pair_store
    from ..data.pairs import match_pairs

    if inputs:
        raise HeliogenError("magnetogram-pairs takes --hr and --lr instead of --input")
    if not hr_inputs or not lr_inputs:
        raise HeliogenError("magnetogram-pairs needs both --hr (high-resolution) and --lr (low-resolution) files")
    if not crop:
        raise HeliogenError("magnetogram-pairs needs --crop C (the high-resolution crop side, a multiple of 4)")
    if size not in (None, crop) or pairs not in (None, 4):
        raise HeliogenError("magnetogram-pairs stores the crops at native resolution with a factor 4: leave --size and --pairs out")
    mode = "list" if crop_list else (crop_mode or "ar")
    if dry_run:
        matched, unpaired = match_pairs(resolve_inputs(hr_inputs), resolve_inputs(lr_inputs), tolerance)
        click.echo(f"would pair {len(matched)} file(s) into {out} ({len(unpaired)} unpaired), {crop} px crops ({mode})")
        return
    report = build_pair_store(hr_inputs, lr_inputs, out, crop, crop_mode=mode, tolerance_min=tolerance, reproject=reproject,
                              workers=workers, n_random=crops_per_image, seed=seed,
                              positions=_read_crop_list(crop_list) if crop_list else None)
    click.echo(report.summary())
    if report.total_samples == 0:
        raise HeliogenError("no pair could be built; see the skip reasons above")


@data.command("labels")
@click.option("--store", "store", type=click.Path(exists=True), required=True, help="Store to label.")
@click.option("--goes", "goes", multiple=True, type=click.Path(exists=True, dir_okay=False), help="GOES XRS file (FITS, netCDF or CSV); repeatable.")
@click.option("--flare-list", type=click.Path(exists=True, dir_okay=False), default=None, help="SWPC-style flare list CSV.")
@click.option("--window", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True, help="Full window width in minutes, centred on each image time.")
def labels(store, goes, flare_list, window):
    """Attach peak XRS-B flux, GOES class (A-X) and log10 flux to each image."""
    from ..data.labels import attach_labels

    counts = attach_labels(store, goes, flare_list, window)
    click.echo("labels: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@data.command("fetch")
@click.option("--instrument", type=click.Choice(["aia", "hmi", "mdi"]), required=True)
@click.option("--wavelength", type=click.IntRange(min=1), default=193, show_default=True, help="AIA channel in Angstrom.")
@click.option("--start", required=True, help="Start time (UTC, ISO).")
@click.option("--end", required=True, help="End time (UTC, ISO).")
@click.option("--cadence", default="6h", show_default=True, help="One file per cadence step (e.g. 6h, 12min).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Download directory.")
@click.option("--via", type=click.Choice(["fido", "jsoc"]), default="fido", show_default=True, help="Fido (VSO) or a JSOC export (needs JSOC_EMAIL).")
@click.option("--email", envvar="JSOC_EMAIL", default=None, help="JSOC-registered e-mail [env: JSOC_EMAIL].")
@click.option("--dry-run", is_flag=True, help="Search only and print what would be downloaded.")
def fetch(instrument, wavelength, start, end, cadence, out, via, email, dry_run):
    """Download real AIA/HMI/MDI data with sunpy Fido (resumes: existing files are kept)."""
    from ..data import fetch as fetching

    if dry_run:
        result = fetching.search(instrument, start, end, cadence, wavelength=wavelength, via=via, email=email)
        click.echo(result)
        click.echo(f"found {sum(len(r) for r in result)} record(s)")
        return
    files = fetching.fetch(instrument, start, end, cadence, out, wavelength=wavelength, via=via, email=email)
    click.echo(f"have {len(files)} file(s) in {out}")


@data.command("show")
@click.argument("store", type=click.Path(exists=True))
@click.option("--n", "n", type=click.IntRange(min=1, max=256), default=16, show_default=True, help="Images in the grid.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="grid.png", show_default=True, help="PNG to write.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Which images (a seeded choice).")
def show(store, n, output, seed):
    """Quicklook grid in the instrument's sunpy colormap, in physical units."""
    from ..viz.quicklook import plot_store_grid

    path = plot_store_grid(store, n=n, output=output, seed=seed)
    click.echo(f"wrote {path}")


@data.command("info")
@click.argument("store", type=click.Path(exists=True))
def info(store):
    """Summarise a store: size, kind, normalisation, labels and skipped inputs."""
    from ..data.store import open_store

    s = open_store(store)
    a = s.attrs
    click.echo(f"{store}: {s.n} {a['kind']} samples of {a['channels']}x{a['size']}x{a['size']}")
    click.echo(f"normalisation: {a['normalisation']}")
    if "labels" in a:
        click.echo(f"labels: {a['labels']['counts']}")
    for src, reason in a.get("skipped", {}).items():
        click.echo(f"skipped {Path(src).name}: {reason}")


@data.command("export")
@click.argument("store", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["stylegan-zip"]), default="stylegan-zip", show_default=True,
              help="stylegan-zip: the dataset zip of NVlabs' StyleGAN2-ADA/StyleGAN3 (uint8 PNGs, dataset.json).")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The .zip to write.")
@click.option("--split", type=click.Choice(["all", "train", "val", "test"]), default="all", show_default=True,
              help="All images, or one default time-block split (as heliogen evaluate classify cuts it).")
@click.option("--no-labels", is_flag=True, help="Leave GOES classes out (dataset.json labels null).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def export(store, fmt, out, split, no_labels, overwrite, no_progress):
    """Write a store for other codes: 8-bit PNGs in the store's model range, labels, and the
    constants that map them back (heliogen.json)."""
    from ..data.stylegan_zip import export_stylegan_zip

    r = export_stylegan_zip(store, out, split=split, labels=not no_labels, overwrite=overwrite, progress=not no_progress)
    labels = "GOES classes A=0 B=1 C=2 M=3 X=4" if r["labelled"] else "no labels"
    click.echo(f"wrote {r['n']} {r['kind']} image{'s' if r['n'] != 1 else ''} ({r['channels']}x{r['size']}x{r['size']}, "
               f"split {r['split']}, {labels}) to {r['out']}; one uint8 step = {r['step_stored']:.4g} in stored units")
