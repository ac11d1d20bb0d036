"""``heliogen sample RUN``: FITS samples (with WCS and provenance), a PNG grid, per-class statistics."""

from __future__ import annotations

import click


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--n", "n", type=click.IntRange(min=1), default=16, show_default=True, help="Samples per condition.")
@click.option("--sampler", type=click.Choice(["ddpm", "ddim", "dpmpp"]), default="dpmpp", show_default=True, help="DDPM (ancestral), DDIM (eta=0) or DPM-Solver++(2M).")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True, help="Sampling steps.")
@click.option("--class", "classes", multiple=True, type=click.Choice(["A", "B", "C", "M", "X"], case_sensitive=False), help="GOES class; repeatable [default for class models: all].")
@click.option("--flux", "fluxes", multiple=True, type=click.FloatRange(min=0, min_open=True), help="XRS-B flux in W/m^2; repeatable.")
@click.option("--guidance", type=float, default=None, help="Classifier-free guidance w in eps_u + w (eps_c - eps_u) [default: conditional model, w=1].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Image k of each condition uses seed + k.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True, help="Images in flight.")
@click.option("--eval-batch", type=click.IntRange(min=1), default=8, show_default=True, help="Network micro-batch (fixes the numerics).")
@click.option("--stats", is_flag=True, help="Also write per-condition mean and standard-deviation images.")
@click.option("--checkpoint", type=click.Path(exists=True, file_okay=False), default=None, help="A checkpoint directory [default: newest].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def sample(run, n, sampler, steps, classes, fluxes, guidance, seed, out, batch, eval_batch, stats, checkpoint, device, no_progress):
    """Sample a trained diffusion run (EMA weights) into FITS files and a PNG grid."""
    from ..diffusion.generate import generate

    paths = generate(run, out, n=n, sampler=sampler, steps=steps, classes=[c.upper() for c in classes], fluxes=list(fluxes),
                     guidance=guidance, seed=seed, batch=batch, eval_batch=eval_batch, stats=stats, checkpoint=checkpoint, device=device, progress=not no_progress)
    click.echo(f"wrote {len(paths['fits'])} FITS file(s), {paths['grid']}" + (f", statistics in {paths['stats']}" if stats else ""))
