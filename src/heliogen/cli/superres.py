"""``heliogen superres``: 4x super-resolved magnetograms (MDI 2" to HMI 0.5") as FITS with uncertainty."""

from __future__ import annotations

import click

__all__ = ["superres"]


@click.command("superres")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--model", "run", required=True, type=click.Path(exists=True, file_okay=False), help="A super-resolution run (heliogen train superres).")
@click.option("--samples", type=click.IntRange(min=1), default=10, show_default=True, help="Samples per input (diffusion models); their mean is the prediction, their spread the uncertainty.")
@click.option("--sampler", type=click.Choice(["ddpm", "ddim", "dpmpp"]), default="dpmpp", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--tile", type=click.IntRange(min=4), default=None, help="Tile side in input pixels [default: 64, or the whole image when smaller].")
@click.option("--overlap", type=click.IntRange(min=0), default=None, help="Tile overlap in input pixels [default: tile / 8].")
@click.option("--tile-batch", type=click.IntRange(min=1), default=4, show_default=True, help="Tiles per network batch (the result does not depend on it).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of sample 0; sample k uses seed + k.")
@click.option("--checkpoint", default=None, help="Checkpoint of the run (step, name or best) [default: newest].")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True)
@click.option("--no-progress", is_flag=True)
def superres(inputs, out, run, samples, sampler, steps, tile, overlap, tile_batch, seed, checkpoint, device, no_progress):
    """Super-resolve magnetograms (crops or full disks) 4x: FITS in Gauss with the WCS moved to the
    finer grid, the per-pixel standard deviation and its Butterworth split, and provenance."""
    from ..device import resolve_device
    from ..superres.infer import superres_files

    summary = superres_files(inputs, out, run, samples=samples, sampler=sampler, steps=steps, tile=tile, overlap=overlap, seed=seed,
                             checkpoint=checkpoint, device=resolve_device(device), tile_batch=tile_batch, progress=not no_progress)
    for path in summary["written"]:
        click.echo(f"wrote {path}")
    for path, reason in summary["skipped"].items():
        click.echo(f"skipped {path}: {reason}")
    if not summary["written"]:
        from ..errors import HeliogenError

        raise HeliogenError("no input could be super-resolved; see the reasons above")
