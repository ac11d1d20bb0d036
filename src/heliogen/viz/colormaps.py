"""Colormaps and display normalisations for solar images, as each kind's registry entry says
(:mod:`heliogen.data.kinds`), from sunpy's registered colormaps."""

from __future__ import annotations

import numpy as np

from ..data.kinds import KINDS

__all__ = ["colormap_for", "norm_for"]


def colormap_for(kind: str, wavelength: float | None = None, instrument: str = ""):
    """The colormap solar physicists expect: sdoaiaNNN, sohoeitNNN, hmimag, hinodesotintensity, or grey."""
    import matplotlib
    import sunpy.visualization.colormaps as sunpy_cm

    names = KINDS[kind].colormap_names(wavelength, instrument) if kind in KINDS else ["gray"]
    for name in names:
        if name in sunpy_cm.cmlist:
            return sunpy_cm.cmlist[name]
        if name in matplotlib.colormaps:
            return matplotlib.colormaps[name]
    return matplotlib.colormaps["gray"]


def norm_for(kind: str, images: np.ndarray):
    """A display normalisation shared by all panels of a grid, in physical units.

    EUV: asinh stretch (as sunpy's AIA maps) between the 0.5 and 99.9 percentiles;
    magnetograms: linear, +-1500 G; granulation (and unknown kinds): linear, 0.5-99.5 percentiles.
    """
    from astropy.visualization import AsinhStretch, ImageNormalize, LinearStretch

    spec = KINDS.get(kind)
    stretch = AsinhStretch(0.01) if spec is not None and spec.display_stretch == "asinh" else LinearStretch()
    if spec is not None and spec.display_limits is not None:
        lo, hi = spec.display_limits
        return ImageNormalize(vmin=lo, vmax=hi, stretch=stretch, clip=True)
    finite = images[np.isfinite(images)]
    percentiles = spec.display_percentiles if spec is not None else (0.5, 99.5)
    lo, hi = np.percentile(finite, percentiles) if finite.size else (0, 1)
    return ImageNormalize(vmin=lo, vmax=max(hi, lo + 1e-9), stretch=stretch, clip=True)
