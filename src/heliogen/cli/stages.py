"""Command groups whose commands arrive with later issues: evaluate, mosaic."""

import click


@click.group()
def evaluate():
    """Evaluate generated images against real ones (distribution, pairwise and physics metrics)."""


@click.group()
def mosaic():
    """Bank granulation tiles and stitch them into mosaics of any size."""
