"""The GANSpace figure: one row per seed, one column per step along each shown direction.

As in the full-disk EUV study's latent-space figure, each row is an independent sample and
the columns move it along the first principal directions of W, in standard deviations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from ..errors import HeliogenError
from ..viz.grid import plot_image_grid
from .directions import Directions, generate_edited

__all__ = ["plot_directions"]


def _panel_titles(seeds: Sequence[int], components: Sequence[int], steps: Sequence[float]) -> list[str]:
    """Direction and step over the first row; the seed on the first panel of every row."""
    titles = []
    for row, seed in enumerate(seeds):
        for c in components:
            for j, step in enumerate(steps):
                head = f"PC{c} {step:+g}σ" if row == 0 else ""
                first = c == components[0] and j == 0
                titles.append("\n".join(t for t in ((f"seed {seed}" if first else ""), head) if t))
    return titles


def plot_directions(generator, directions: Directions, seeds: Sequence[int], out, *,
                    steps: Sequence[float] = (-2, -1, 0, 1, 2), components: Iterable[int] | None = None,
                    layers=None, psi: float = 1.0, noise_mode: str = "random", channel: int = 0, cmap="gray",
                    norm=None, eval_batch: int = 8, panel_size: tuple[float, float] = (1.3, 1.4)) -> Path:
    """Save the GANSpace figure of ``seeds`` and return its path.

    Parameters
    ----------
    generator
        The StyleGAN2Generator the directions were found for (checked).
    directions : Directions
    seeds : sequence of int
        One row each; images come from the generator's per-seed path, so a row does not
        depend on the other seeds, and step 0 is the seed's unedited sample.
    out : path
        The image file to write.
    steps : sequence of float
        Steps along each direction, in its standard deviations.
    components : iterable of int, optional
        Directions shown, left to right (default: all).
    layers : None, slice or iterable of int
        ws the edit moves (default: all).
    psi, noise_mode, eval_batch
        As in :meth:`StyleGAN2Generator.generate`.
    channel : int
        Image channel shown.
    cmap, norm
        Display; without ``norm`` every panel shares the 0.5-99.5 percentile range of all panels.
    panel_size : (float, float)
        Inches per panel.
    """
    seeds, steps = [int(s) for s in seeds], [float(s) for s in steps]
    components = list(range(directions.k)) if components is None else [int(c) for c in components]
    if not seeds or not steps or not components:
        raise HeliogenError("the GANSpace figure needs at least one seed, one step and one direction")
    bad = [c for c in components if not 0 <= c < directions.k]
    if bad:
        raise HeliogenError(f"direction {bad[0]} is out of range: indices must lie in 0..{directions.k - 1}")
    if not 0 <= int(channel) < generator.image_channels:
        raise HeliogenError(f"channel {channel} is out of range: the generator has {generator.image_channels}")
    directions.check_generator(generator)
    columns = []
    with torch.no_grad():
        for c in components:
            for step in steps:
                images = generate_edited(generator, seeds, directions, {c: step}, layers=layers, psi=psi,
                                         noise_mode=noise_mode, eval_batch=eval_batch)
                columns.append(images[:, int(channel)].to("cpu", torch.float64).numpy())
    panels = [columns[col][row] for row in range(len(seeds)) for col in range(len(columns))]
    scale = {"norm": norm}
    if norm is None:
        lo, hi = np.percentile(np.stack(panels), (0.5, 99.5))
        scale = {"vmin": float(lo), "vmax": float(max(hi, lo + 1e-9))}
    return plot_image_grid(panels, out, cols=len(columns), titles=_panel_titles(seeds, components, steps), cmap=cmap,
                           panel_size=panel_size, suptitle=f"GANSpace directions of W (ψ={psi:g})", **scale)
