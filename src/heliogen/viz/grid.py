"""One plotter for every grid of images: quicklooks, sample grids, tile grids, report grids."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..errors import HeliogenError
from .figures import save_figure

__all__ = ["plot_image_grid"]


def plot_image_grid(
    images: Sequence, output, *, cols: int | None = None, titles: Sequence[str] | None = None, cmap="gray", norm=None,
    vmin: float | None = None, vmax: float | None = None, colorbar_label: str | None = None, suptitle: str | None = None,
    panel_size: tuple[float, float] = (2.2, 2.3), figsize: tuple[float, float] | None = None,
    layout: str | None = "constrained", interpolation: str | None = None, title_kw: dict | None = None,
    suptitle_kw: dict | None = None, dpi: float | None = 110,
) -> Path:
    """Save images as a grid of panels, row 0 of each image at the bottom (FITS order).

    Parameters
    ----------
    images : sequence of 2-D arrays
        One per panel, filled row by row; ``None`` leaves its panel empty.
    output : path
        The image file to write (its folder is created).
    cols : int, optional
        Panels per row; default ``ceil(sqrt(len(images)))``.
    titles : sequence of str, optional
        One per panel ("" for none).
    cmap : str or Colormap
    norm : Normalize or sequence of Normalize, optional
        One display normalisation for every panel, or one per panel. Else ``vmin``/``vmax``.
    colorbar_label : str, optional
        Add one colour bar for the grid with this label (needs one shared ``norm`` or range).
    panel_size : (float, float)
        Inches per panel; the figure is ``cols x rows`` panels, plus 0.8 in for a colour bar.
    figsize : (float, float), optional
        The whole figure's size, instead of ``panel_size``.
    layout : {"constrained", "tight", None}
    interpolation : str, optional
        ``imshow``'s; matplotlib's default when None.
    title_kw, suptitle_kw : dict, optional
        Keywords of the panel titles (default ``fontsize=7``) and of the figure's ``suptitle``.
    dpi : float, optional
        Resolution of the saved file; the figure's own when None.

    Returns
    -------
    Path
    """
    images = list(images)
    k = len(images)
    if k == 0 or all(img is None for img in images):
        raise HeliogenError("no images to plot")
    cols = int(cols or np.ceil(np.sqrt(k)))
    rows = int(np.ceil(k / cols))
    if figsize is None:
        figsize = (panel_size[0] * cols + (0.8 if colorbar_label is not None else 0.0), panel_size[1] * rows)
    norms = list(norm) if isinstance(norm, (list, tuple)) else [norm] * k
    title_kw = {"fontsize": 7} if title_kw is None else title_kw
    fig = Figure(figsize=figsize, layout=None if layout == "tight" else layout)
    axes = fig.subplots(rows, cols, squeeze=False)
    shown = None
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= k:
            continue
        if images[i] is not None:
            scale = {"norm": norms[i]} if norms[i] is not None else {"vmin": vmin, "vmax": vmax}
            shown = ax.imshow(np.asarray(images[i]), origin="lower", cmap=cmap, interpolation=interpolation, **scale)
        if titles is not None and titles[i]:
            ax.set_title(titles[i], **title_kw)
    if colorbar_label is not None:
        fig.colorbar(shown, ax=axes, shrink=0.8, label=colorbar_label)
    if suptitle:
        fig.suptitle(suptitle, **(suptitle_kw or {}))
    return save_figure(fig, output, tight=layout == "tight", dpi=dpi)
