"""Command groups whose commands arrive with later issues: mosaic."""

import click


@click.group()
def mosaic():
    """Bank granulation tiles and stitch them into mosaics of any size."""
