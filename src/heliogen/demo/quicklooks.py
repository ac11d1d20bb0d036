"""Demo stage: a quicklook grid of each store, in physical units with the instrument colormaps."""

from __future__ import annotations

from ..viz.report import Section
from .stage import DemoContext, StageOutput

__all__ = ["quicklooks"]


def quicklooks(ctx: DemoContext) -> StageOutput:
    """Plot 16 EUV images (titled with their GOES class), 4 magnetogram crops and 16 granulation tiles."""
    from ..viz.quicklook import plot_store_grid

    figs, size = ctx.figures, ctx.sizes.euv_size
    euv = plot_store_grid(ctx["euv_store"], 16, figs / "euv_grid.png", seed=ctx.seed)
    magnetogram = plot_store_grid(ctx["magnetogram_store"], 4, figs / "magnetogram_grid.png", seed=ctx.seed)
    granulation = plot_store_grid(ctx["granulation_store"], 16, figs / "granulation_grid.png", seed=ctx.seed)
    section = Section("Quicklooks of the stores")
    section.figure(euv, f"EUV store ({size} px), DN/s, sdoaia193 colormap, with GOES class")
    section.figure(magnetogram, "Magnetogram store: 128 px crops centred on the strongest active region, hmimag")
    section.figure(granulation, "Granulation tiles (64 px), ten augmentations per patch")
    return StageOutput([section])
