"""Colormaps and normalisations for solar images, from sunpy's registered colormaps."""

from __future__ import annotations

import numpy as np

__all__ = ["colormap_for", "norm_for"]

B_DISPLAY = 1500.0  # G, symmetric magnetogram display range


def colormap_for(kind: str, wavelength: float | None = None, instrument: str = ""):
    """The sunpy colormap solar physicists expect: sdoaiaNNN, sohoeitNNN, hmimag, or grey."""
    import matplotlib
    import sunpy.visualization.colormaps as sunpy_cm

    if kind == "magnetogram":
        return sunpy_cm.cmlist["hmimag"]
    if kind == "euv" and wavelength and np.isfinite(wavelength):
        wl = int(round(wavelength))
        prefix = "sohoeit" if "EIT" in instrument.upper() else "sdoaia"
        for name in (f"{prefix}{wl}", f"sdoaia{wl}", f"sohoeit{wl}"):
            if name in sunpy_cm.cmlist:
                return sunpy_cm.cmlist[name]
        return sunpy_cm.cmlist["sdoaia193"]
    if kind == "granulation":
        return sunpy_cm.cmlist["hinodesotintensity"]
    return matplotlib.colormaps["gray"]


def norm_for(kind: str, images: np.ndarray):
    """A display normalisation shared by all panels of a grid, in physical units.

    EUV: asinh stretch (as sunpy's AIA maps) between the 0.5 and 99.9 percentiles;
    magnetograms: linear, +-1500 G; granulation: linear, 0.5-99.5 percentiles.
    """
    from astropy.visualization import AsinhStretch, ImageNormalize, LinearStretch

    finite = images[np.isfinite(images)]
    if kind == "magnetogram":
        return ImageNormalize(vmin=-B_DISPLAY, vmax=B_DISPLAY, stretch=LinearStretch(), clip=True)
    if kind == "euv":
        lo, hi = np.percentile(finite, [0.5, 99.9]) if finite.size else (0, 1)
        return ImageNormalize(vmin=lo, vmax=max(hi, lo + 1e-9), stretch=AsinhStretch(0.01), clip=True)
    lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0, 1)
    return ImageNormalize(vmin=lo, vmax=max(hi, lo + 1e-9), stretch=LinearStretch(), clip=True)
