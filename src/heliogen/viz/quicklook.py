"""Quicklook grids of solar images in physical units and sunpy colormaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.kinds import KINDS
from ..errors import HeliogenError
from .colormaps import colormap_for, norm_for
from .grid import plot_image_grid

__all__ = ["plot_grid", "plot_store_grid"]


def plot_grid(images: np.ndarray, kind: str, output, titles=None, wavelength=None, instrument: str = "", suptitle: str | None = None) -> Path:
    """Save a grid of physical-unit images (k, S, S) with one colour bar in the kind's unit.

    Parameters
    ----------
    images : ndarray (k, S, S)
    kind : {"euv", "magnetogram", "granulation"}
    output : path
        PNG file.
    titles : list of str, optional
    wavelength, instrument : optional
        Choose the EUV channel's colormap.
    suptitle : str, optional
    """
    images = np.asarray(images)
    if len(images) == 0:
        raise HeliogenError("no images to plot")
    return plot_image_grid(images, output, titles=titles, cmap=colormap_for(kind, wavelength, instrument),
                           norm=norm_for(kind, images), colorbar_label=KINDS[kind].unit if kind in KINDS else "",
                           suptitle=suptitle, suptitle_kw={"fontsize": 9}, interpolation="nearest")


def plot_store_grid(store, n: int = 16, output="grid.png", seed: int = 0) -> Path:
    """Plot ``n`` images of a store (a seeded choice), de-normalised to physical units."""
    from ..data.store import open_store

    s = open_store(store) if not hasattr(store, "images") else store
    if s.n == 0:
        raise HeliogenError(f"{s.path} holds no images")
    idx = np.sort(np.random.default_rng(seed).permutation(s.n)[: min(n, s.n)])
    norm = s.normalisation
    images = norm.physical(norm.forward(s.images(idx)[:, 0].astype(np.float64)))
    table = s.table()
    titles = []
    for i in idx:
        row = table.iloc[i]
        t = str(row["time"])[:16].replace("T", " ")
        label = f" {row['goes_class']}" if "goes_class" in table and row["goes_class"] else ""
        augment = f" {row['augment']}" if row["augment"] else ""
        titles.append(f"{t}{label}{augment}")
    wl = float(table["wavelength"].iloc[idx[0]])
    instrument = str(table["instrument"].iloc[idx[0]])
    return plot_grid(images, s.kind, output, titles=titles, wavelength=wl, instrument=instrument,
                     suptitle=f"{Path(str(s.path)).name}: {s.kind}, {len(idx)} of {s.n}")
