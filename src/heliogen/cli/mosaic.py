"""``heliogen mosaic bank|build``: tile banks and mosaics of any size (granulation thesis sec. 3.4)."""

from __future__ import annotations

import json

import click

from .options import config_option

__all__ = ["mosaic"]


@click.group()
def mosaic():
    """Bank granulation tiles and stitch them into mosaics of any size."""


@mosaic.command("bank")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.option("--n", "n", type=click.IntRange(min=1), default=10000, show_default=True, help="Tiles to bank.")
@click.option("--out", type=click.Path(), required=True, help="Bank directory (BANK.zarr).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the z vectors.")
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True, help="Tiles per generator pass.")
@click.option("--checkpoint", default=None, help="A checkpoint: its folder, its name (step-0000100) or its step [default: newest].")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@config_option
def bank(source, n, out, seed, batch, checkpoint, no_progress):
    """Bank tiles of a tile GAN or tile VAE run SOURCE (float16 tiles with their z), or the real
    tiles of a granulation store SOURCE.zarr (no latents)."""
    import time

    from ..data.store import open_store
    from ..errors import HeliogenError
    from ..mosaic.bank import bank_from_run, bank_from_store
    from ..training.rundir import is_run

    t0 = time.perf_counter()
    if is_run(source):
        b = bank_from_run(source, out, n=n, seed=seed, batch=batch, progress=not no_progress, checkpoint=checkpoint)
    else:
        try:
            open_store(source)
        except HeliogenError:
            raise HeliogenError(f"{source} is neither a run nor a store; give a tile GAN or VAE run folder (from `heliogen train "
                                "tilegan|tilevae`) or a granulation store (STORE.zarr from `heliogen data build`)") from None
        b = bank_from_store(source, out, n=n)
    dt = time.perf_counter() - t0
    click.echo(f"banked {b.n} tiles of {b.size} px ({'with' if b.has_latents else 'without'} latents) in {out}; {b.n / dt:.1f} tiles/s")


@mosaic.command("build")
@click.option("--bank", "bank_path", type=click.Path(exists=True, file_okay=False), required=True, help="Tile bank (from `mosaic bank`).")
@click.option("--grid", default="10x10", show_default=True, help="Tiles, ROWSxCOLS (or one number for a square).")
@click.option("--overlap", type=int, default=10, show_default=True, help="Overlap in pixels (less than half the tile).")
@click.option("--out", type=click.Path(), required=True, help="Output mosaic: .fits, .tif/.tiff or .zarr (streamed row by row).")
@click.option("--preview", type=click.Path(dir_okay=False), default=None, help="Downsampled PNG preview.")
@click.option("--preview-side", type=click.IntRange(min=16), default=2048, show_default=True, help="Largest side of the preview (px).")
@click.option("--blend", type=click.Choice(["pixel", "latent"]), default="pixel", show_default=True, help="Alpha blending of pixels (eq. 4) or of generator feature maps.")
@click.option("--layer", type=click.IntRange(min=0), default=None, help="Generator layer for latent blending (default: the one at a quarter of the tile size).")
@click.option("--refine", type=click.Choice(["none", "ga"]), default="none", show_default=True, help="GA refinement of each tile's z.")
@click.option("--ga-population", type=click.IntRange(min=4), default=50, show_default=True)
@click.option("--ga-generations", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--ga-threshold", type=click.FloatRange(min=0), default=None, help="Stop a tile's GA once its distance (in --ga-fitness units) is at or below this.")
@click.option("--ga-mutation", type=click.FloatRange(min=0), default=0.1, show_default=True, help="Scale of the clipped Gaussian mutation.")
@click.option("--ga-fitness", type=click.Choice(["normalised", "eq5"]), default="normalised", show_default=True,
              help="GA distance: eq. 5 over the strips' energy, or the thesis's plain eq. 5 (which favours flat tile edges).")
@click.option("--reuse", is_flag=True, help="Allow a bank tile more than once (needed when the grid has more tiles than the bank).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Picks the first tile and seeds the GA.")
@click.option("--model-space", is_flag=True, help="Write model-space values [-1, 1] instead of I/<I>.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@config_option
def build(bank_path, grid, overlap, out, preview, preview_side, blend, layer, refine, ga_population, ga_generations, ga_threshold, ga_mutation,
          ga_fitness, reuse, seed, model_space, as_json, no_progress):
    """Build a mosaic of GRID tiles: greedy seam matching, blending, optional GA refinement, streamed to disk."""
    from ..mosaic.build import build_mosaic
    from ..mosaic.refine import GASettings

    ga = GASettings(population=ga_population, generations=ga_generations, threshold=ga_threshold, mutation=ga_mutation, fitness=ga_fitness)
    r = build_mosaic(bank_path, grid, overlap, out, preview=preview, blend=blend, refine=refine, seed=seed, reuse=reuse, layer=layer,
                     ga=ga, physical=not model_space, progress=not no_progress, preview_side=preview_side)
    if as_json:
        click.echo(json.dumps(r, indent=2))
    else:
        s = r["seams"]
        click.echo(f"wrote {r['out']} ({r['shape'][0]}x{r['shape'][1]} px, {r['grid'][0]}x{r['grid'][1]} tiles) in {r['seconds']:.1f} s; "
                   f"seam ratio {s['ratio']:.3f} (squared gradient per unit variance, seams / inside tiles; 1 is seamless), "
                   f"raw {s['raw_ratio']:.3f}, band contrast {s['contrast']:.3f}")
