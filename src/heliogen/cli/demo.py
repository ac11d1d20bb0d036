"""``heliogen demo``: the pipeline end to end on the embedded synthetic Sun."""

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-output", show_default=True, help="Output directory.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the synthetic Sun.")
def demo(out, seed):
    """Run heliogen's pipeline on synthetic data and write OUT/report.html."""
    from ..demo import run_demo

    path = run_demo(out, seed=seed)
    click.echo(f"wrote {path}")
