"""Quicklook grids of solar images in physical units and sunpy colormaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import HeliogenError

__all__ = ["plot_grid", "plot_store_grid"]

UNITS = {"euv": "DN/s", "magnetogram": "G", "granulation": "I/<I>"}


def plot_grid(images: np.ndarray, kind: str, output, titles=None, wavelength=None, instrument: str = "", suptitle: str | None = None) -> Path:
    """Save a grid of physical-unit images (k, S, S) with one colour bar.

    Parameters
    ----------
    images : ndarray (k, S, S)
    kind : {"euv", "magnetogram", "granulation"}
    output : path
        PNG file.
    titles : list of str, optional
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .colormaps import colormap_for, norm_for

    images = np.asarray(images)
    k = len(images)
    if k == 0:
        raise HeliogenError("no images to plot")
    cols = int(np.ceil(np.sqrt(k)))
    rows = int(np.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols + 0.8, 2.3 * rows), squeeze=False, constrained_layout=True)
    cmap, norm = colormap_for(kind, wavelength, instrument), norm_for(kind, images)
    im = None
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < k:
            im = ax.imshow(images[i], origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8, label=UNITS.get(kind, ""))
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(output, dpi=110)
    except OSError as err:
        raise HeliogenError(f"cannot write {output}: {err.strerror or err}") from None
    finally:
        plt.close(fig)
    return output


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
