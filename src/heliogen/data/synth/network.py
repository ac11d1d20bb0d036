"""Quiet-Sun magnetic network as a smooth function of heliographic position.

Small mixed-polarity flux elements are drawn on a latitude-longitude grid per day
and interpolated to any position, so every instrument and resolution samples the same
synthetic network; consecutive days are cross-faded to let it evolve.
"""

import functools

import numpy as np
from scipy import ndimage

from .history import STREAMS
from .timeutil import DAY

__all__ = ["network_field"]

_NLAT, _NLON = 512, 1024      # 0.35 deg cells: ~4 Mm, the scale of network elements
_ROTATION = 13.2 - 0.9856     # synodic rate (deg/day) of the rigidly rotating network
_RMS_GAUSS = 30.0


@functools.lru_cache(maxsize=16)
def _grid(seed, day):
    rng = np.random.default_rng([seed, STREAMS["network"], day + 100000])
    grid = np.zeros((_NLAT, _NLON))
    n = 24000
    rows, cols = rng.integers(0, _NLAT, n), rng.integers(0, _NLON, n)
    amp = rng.lognormal(0.0, 0.7, n) * rng.choice([-1.0, 1.0], n)
    np.add.at(grid, (rows, cols), amp)
    grid = ndimage.gaussian_filter(grid, 0.7, mode=("nearest", "wrap"))
    grid -= grid.mean()           # the quiet network carries no net flux
    return (grid * (_RMS_GAUSS / grid.std())).astype(np.float32)


def network_field(seed, t, lat, lon):
    """Radial network field (G) at Stonyhurst positions and time ``t``.

    Parameters
    ----------
    seed : int
    t : float
        Seconds since 2000-01-01 UTC.
    lat, lon : numpy.ndarray
        Stonyhurst latitude and longitude (deg).

    Returns
    -------
    numpy.ndarray
        Field in Gauss, typically tens of G with peaks of ~100-200 G.
    """
    days = t / DAY
    day = int(np.floor(days))
    w = (days - day) * np.pi / 2.0
    lon_rot = (lon - _ROTATION * days) % 360.0
    coords = np.stack([(lat + 90.0) / 180.0 * _NLAT - 0.5, lon_rot / 360.0 * _NLON - 0.5])
    # Variance-preserving cross-fade between the independent grids of two days.
    out = np.cos(w) * ndimage.map_coordinates(_grid(seed, day), coords, order=1, mode="grid-wrap")
    out += np.sin(w) * ndimage.map_coordinates(_grid(seed, day + 1), coords, order=1, mode="grid-wrap")
    return out
