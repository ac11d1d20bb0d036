"""``heliogen sample RUN``: FITS samples (with WCS and provenance) and a PNG grid from any run,
dispatched on the run's kind (diffusion, GAN, tile GAN, tile VAE); per-class statistics for diffusion."""

from __future__ import annotations

import click

DIFFUSION_ONLY = "(diffusion runs)"
GAN_ONLY = "(GAN runs)"


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--n", "n", type=click.IntRange(min=1), default=16, show_default=True, help="Samples (per condition for conditional diffusion runs).")
@click.option("--sampler", type=click.Choice(["ddpm", "ddim", "dpmpp"]), default="dpmpp", show_default=True, help=f"DDPM (ancestral), DDIM (eta=0) or DPM-Solver++(2M) {DIFFUSION_ONLY}.")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True, help=f"Sampling steps {DIFFUSION_ONLY}.")
@click.option("--class", "classes", multiple=True, type=click.Choice(["A", "B", "C", "M", "X"], case_sensitive=False), help="GOES class; repeatable [default for class models: all].")
@click.option("--flux", "fluxes", multiple=True, type=click.FloatRange(min=0, min_open=True), help="XRS-B flux in W/m^2; repeatable.")
@click.option("--guidance", type=float, default=None, help="Classifier-free guidance w in eps_u + w (eps_c - eps_u) [default: conditional model, w=1].")
@click.option("--truncation", type=click.FloatRange(0, 1), default=1.0, show_default=True, help=f"Truncation psi, 1 for none {GAN_ONLY}.")
@click.option("--edit", default=None, help=f"GANSpace edit, direction=steps in standard deviations, e.g. 0=+2.0,1=-1.5 {GAN_ONLY}.")
@click.option("--directions", "directions_path", type=click.Path(dir_okay=False), default=None, help=f"GANSpace directions file [default: RUN/ganspace/directions.npz] {GAN_ONLY}.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Sample k (of each condition) uses seed + k.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True, help="Images in flight.")
@click.option("--eval-batch", type=click.IntRange(min=1), default=8, show_default=True, help=f"Network micro-batch (fixes the numerics) {DIFFUSION_ONLY}.")
@click.option("--stats", is_flag=True, help=f"Also write per-condition mean and standard-deviation images {DIFFUSION_ONLY}.")
@click.option("--checkpoint", default=None, help="A checkpoint: its folder, its name (step-0000100), its step, or best (lowest FD during training) [default: newest].")
@click.option("--weights", type=click.Choice(["ema", "raw"]), default="ema", show_default=True, help="The EMA-averaged or the raw weights.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def sample(run, out, no_progress, **options):
    """Sample a trained run (diffusion, GAN, tile GAN or tile VAE) into FITS files and a PNG grid."""
    from click.core import ParameterSource

    from ..sample import sample_run

    ctx = click.get_current_context()
    given = [name for name in (*options, "no_progress") if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)]
    given = ["progress" if name == "no_progress" else name for name in given]
    options["classes"] = [c.upper() for c in options["classes"]]
    options["fluxes"] = list(options["fluxes"])
    paths = sample_run(run, out, given=given, progress=not no_progress, **options)
    click.echo(f"wrote {len(paths['fits'])} FITS file(s), {paths['grid']}" + (f", statistics in {paths['stats']}" if paths.get("stats") else ""))
