"""``heliogen gan ...``: tools for trained GAN runs (GANSpace directions)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def gan():
    """Tools for trained GAN runs."""


@gan.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--samples", type=click.IntRange(min=2), default=10000, show_default=True, help="w vectors sampled for the PCA.")
@click.option("--components", type=click.IntRange(min=1), default=8, show_default=True, help="Principal directions kept.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the sampled z.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Output folder [default: RUN/ganspace].")
@click.option("--figure-seeds", default="0,1,2,3", show_default=True, help="Seeds of the figure's rows, comma-separated.")
@click.option("--steps", "steps_text", default="-2,-1,0,1,2", show_default=True, help="Figure columns per direction, in standard deviations.")
@click.option("--figure-components", type=click.IntRange(min=1), default=4, show_default=True, help="Directions shown in the figure.")
@click.option("--checkpoint", default=None, help="A checkpoint: folder, name, step or best [default: newest].")
@click.option("--weights", type=click.Choice(["ema", "raw"]), default="ema", show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def directions(run, samples, components, seed, out, figure_seeds, steps_text, figure_components, checkpoint, weights, device):
    """GANSpace (Härkönen et al. 2020): PCA of W, saved as directions.npz with a figure of edits.

    Apply them with ``heliogen sample RUN --edit 0=+2.0,1=-1.5`` (steps in standard deviations).
    """
    from ..device import resolve_device
    from ..errors import HeliogenError
    from ..gan.directions import find_directions
    from ..gan.directions_figure import plot_directions
    from ..viz.colormaps import colormap_for
    from ..training.rundir import open_run

    r = open_run(run)
    if r.kind != "gan":
        raise HeliogenError(f"{r.path} is a {r.kind} run; GANSpace directions need a GAN run (heliogen train gan)")
    try:
        seeds = [int(s) for s in figure_seeds.split(",") if s.strip()]
        steps = [float(s) for s in steps_text.split(",") if s.strip()]
    except ValueError:
        raise HeliogenError("--figure-seeds takes integers and --steps numbers, comma-separated (e.g. 0,1,2 and -2,0,2)") from None
    if not seeds or not steps:
        raise HeliogenError("--figure-seeds and --steps need at least one value each")
    ckpt = r.checkpoint(checkpoint)
    G = r.load_module("G", ema=weights == "ema", checkpoint=ckpt, device=resolve_device(device))
    found = find_directions(G, samples=samples, components=components, seed=seed)
    folder = Path(out) if out else r.path / "ganspace"
    path = found.save(folder / "directions.npz")
    header = r.header
    figure = plot_directions(G, found, seeds, folder / "directions.png", steps=steps,
                             components=range(min(figure_components, found.k)),
                             cmap=colormap_for(r.data["kind"], header.get("WAVELNTH"), header.get("INSTRUME", "")))
    shares = ", ".join(f"{100 * v:.1f}%" for v in found.explained_ratio)
    click.echo(f"{ckpt.name} ({weights}): {found.k} directions from {samples} w, variance explained {shares}")
    click.echo(f"wrote {path} and {figure}")
