"""``heliogen demo``: the pipeline end to end on the embedded synthetic Sun."""

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-output", show_default=True, help="Output directory.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the synthetic Sun.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: torch's choice). On a machine busy with other work, 1 is often much faster.")
def demo(out, seed, threads):
    """Run heliogen's pipeline on synthetic data and write OUT/report.html.

    The stages and their time budgets are listed in the report's timing table.
    """
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    from ..demo import run_demo

    path = run_demo(out, seed=seed)
    click.echo(f"wrote {path}")
