"""GOES XRS light curve with image times and their flare classes marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .figures import save_figure

__all__ = ["plot_goes_labels"]


def plot_goes_labels(xrs, times, classes, output) -> Path:
    """Plot XRS-A/B (log scale, class bands) and mark each image time with its class."""
    import pandas as pd
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.semilogy(xrs.index, xrs["xrsb"], lw=0.8, color="tab:red", label="XRS-B 1-8 A")
    ax.semilogy(xrs.index, xrs["xrsa"], lw=0.6, color="tab:blue", label="XRS-A 0.5-4 A")
    for edge, letter in zip([1e-8, 1e-7, 1e-6, 1e-5, 1e-4], "ABCMX"):
        ax.axhline(edge, color="grey", lw=0.4, ls=":")
        ax.text(1.002, edge * 2, letter, transform=ax.get_yaxis_transform(), fontsize=8, va="center")
    t = pd.to_datetime(pd.Index(times), format="ISO8601")
    ymax = np.nanmax(xrs["xrsb"].to_numpy())
    for ti, c in zip(t, classes):
        ax.axvline(ti, color="k", lw=0.3, alpha=0.4)
        ax.text(ti, ymax * 1.5, c or "?", fontsize=6, ha="center")
    ax.set_ylim(1e-9, max(ymax * 4, 1e-3))
    ax.set_ylabel("flux (W/m$^2$)")
    ax.legend(loc="lower right", fontsize=7)
    return save_figure(fig, output, tight=False, dpi=110)
