"""Command groups whose commands arrive with the model issues: train, sample, evaluate, mosaic."""

import click


@click.group()
def train():
    """Train models (diffusion, GANs, VAEs, super-resolution) on a store."""


@click.group()
def sample():
    """Sample trained models to FITS files with WCS and provenance."""


@click.group()
def evaluate():
    """Evaluate generated images against real ones (distribution, pairwise and physics metrics)."""


@click.group()
def mosaic():
    """Bank granulation tiles and stitch them into mosaics of any size."""
