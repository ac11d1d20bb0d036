"""Synthetic photospheric granulation patches (resolved ~1 Mm convective cells).

Cells are a multiplicatively weighted Voronoi tessellation of jittered seed points
(mean spacing 1 Mm, log-normal size weights): domed bright interiors, narrow dark
intergranular lanes, light smoothing. The azimuthal power spectrum therefore peaks
near k = 1 / (1 Mm). The points are drawn from the seed over the whole patch, so the
pattern never repeats. Synthetic data.
"""

import numpy as np
import sunpy.map
from scipy import ndimage
from scipy.spatial import cKDTree

from .geometry import observer_at
from .header import base_header
from .history import STREAMS, SyntheticSun

__all__ = ["synth_granulation", "KM_PER_ARCSEC", "CELL_SPACING_KM"]

KM_PER_ARCSEC = 725.0
CELL_SPACING_KM = 1000.0
_CONTRAST = 0.14           # RMS intensity contrast
_LANE_KM = 90.0            # half-width scale of intergranular lanes


def _cells(rng, extent_km):
    """Jittered-grid seed points (km) with log-normal size weights, with a margin."""
    n = int(np.ceil(extent_km / CELL_SPACING_KM)) + 4
    gx, gy = np.meshgrid(np.arange(n) - 2.0, np.arange(n) - 2.0)
    pts = (np.stack([gx.ravel(), gy.ravel()], 1) + rng.uniform(-0.45, 0.45, (n * n, 2))) * CELL_SPACING_KM
    weights = rng.lognormal(0.0, 0.2, n * n)
    return pts, weights


def synth_granulation(seed, size=256, cdelt_km=48.0):
    """Render a synthetic quiet-Sun granulation intensity patch at disk centre.

    Parameters
    ----------
    seed : int
        Seed (the pattern never tiles; different seeds give different cells).
    size : int
        Image side in pixels.
    cdelt_km : float
        Pixel size in km (converted to arcsec with 725 km/arcsec).

    Returns
    -------
    sunpy.map.GenericMap
        float32 intensity normalised to a mean of 1, RMS contrast ~14 %.
    """
    return render_granulation(seed, size, cdelt_km, frame=0)


def render_granulation(seed, size, cdelt_km, frame):
    """`synth_granulation` for frame ``frame`` of a series (independent cells per frame)."""
    rng = np.random.default_rng([int(seed), STREAMS["granulation"], size, int(cdelt_km * 1000), frame])
    extent = size * cdelt_km
    pts, weights = _cells(rng, extent)
    coords = (np.arange(size) + 0.5) * cdelt_km
    px = np.stack(np.meshgrid(coords, coords), -1).reshape(-1, 2)
    # Weighted distances among the 8 nearest points approximate the weighted diagram.
    dist, idx = cKDTree(pts).query(px, k=8)
    wd = dist / weights[idx]
    order = np.argsort(wd, axis=1)
    d1 = np.take_along_axis(wd, order[:, :1], 1)[:, 0]
    d2 = np.take_along_axis(wd, order[:, 1:2], 1)[:, 0]
    owner = np.take_along_axis(idx, order[:, :1], 1)[:, 0]
    q = d1 / (0.5 * (d1 + d2))                       # 0 at cell centre, 1 on the boundary
    gap = (d2 - d1) * weights[owner] * 0.5           # ~ distance to the boundary, km
    brightness = rng.lognormal(0.0, 0.04, len(pts))[owner]
    img = brightness * (1.0 - 0.6 * q * q) - 0.9 * np.exp(-np.square(gap / _LANE_KM))
    img = ndimage.gaussian_filter(img.reshape(size, size), 70.0 / cdelt_km)  # ~100 km PSF
    img = 1.0 + _CONTRAST * (img - img.mean()) / img.std()

    sun = SyntheticSun(seed)
    obs = observer_at(sun.start)
    h = base_header(seed=seed, obs=obs, size=size, cdelt=cdelt_km / KM_PER_ARCSEC,
                    telescope="heliogen synthetic", instrument="heliogen synthetic", bunit="")
    h["CDELT_KM"] = (float(cdelt_km), "[km] pixel size")
    h["HGCELLKM"] = (CELL_SPACING_KM, "[km] mean granule spacing")
    h["CONTENT"] = "GRANULATION"
    h["HGFRAME"] = (int(frame), "frame index in a synthetic series")
    return sunpy.map.Map(img.astype(np.float32), h)
