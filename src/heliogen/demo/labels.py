"""Demo stage: attach GOES flare classes to the EUV store and plot the curve with each image time."""

from __future__ import annotations

from ..viz.report import Section
from .stage import DemoContext, StageOutput

__all__ = ["flare_labels", "FLARE_WINDOW_MIN"]

FLARE_WINDOW_MIN = 60.0  # the +-30 min window around each image time


def flare_labels(ctx: DemoContext) -> StageOutput:
    """Label the EUV store from the synthetic GOES curve and flare list of the same seed."""
    from ..data.goes import read_xrs
    from ..data.labels import attach_labels
    from ..data.store import open_store
    from ..viz.goes_plot import plot_goes_labels

    goes_csv, store = ctx["goes_csv"], ctx["euv_store"]
    counts = attach_labels(store, [goes_csv], ctx["flare_list"], FLARE_WINDOW_MIN)
    table = open_store(store).table()
    figure = plot_goes_labels(read_xrs(goes_csv), table["time"], table["goes_class"], ctx.figures / "goes_labels.png")
    section = Section("Flare labels")
    section.text("Peak XRS-B flux within +-30 min of each image time, from the synthetic GOES curve of the same seed "
                 "and its SWPC-style flare list; class letters by NOAA's decades.")
    section.table([{"class": k, "images": v} for k, v in counts.items()])
    section.figure(figure, "Synthetic GOES XRS with each EUV image time and its class")
    return StageOutput([section], {"label_counts": dict(counts)})
