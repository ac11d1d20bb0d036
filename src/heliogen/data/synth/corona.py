"""Quiet-corona ingredients of synthetic EUV images: the optically thin shell and coronal holes.

Emission from a hydrostatic-like shell ``exp(-(r - 1) / H)`` integrated along the line
of sight gives limb brightening on the disk and an exponential fall-off above the limb.
"""

import functools

import numpy as np

from .history import STREAMS
from .geometry import sphere_vectors
from .timeutil import DAY

__all__ = ["shell_profile", "hole_mask"]


@functools.lru_cache(maxsize=16)
def _shell_table(scale_height):
    p = np.linspace(0.0, 3.0, 1501)
    s = np.linspace(0.0, 1.0, 801) ** 2 * (40.0 * scale_height + 2.0)   # dense near the surface
    out = np.empty_like(p)
    for i, pi in enumerate(p):
        start = np.sqrt(max(1.0 - pi * pi, 0.0))
        radius = np.sqrt(pi * pi + (start + s) ** 2)
        one_side = np.trapezoid(np.exp(-(radius - 1.0) / scale_height), s)
        # Off the disk both halves of the line of sight are visible; on it, only the front.
        out[i] = one_side if pi <= 1.0 else 2.0 * np.trapezoid(
            np.exp(-(np.sqrt(pi * pi + s * s) - 1.0) / scale_height), s)
    return p, out / out[0]


def shell_profile(r, scale_height):
    """Line-of-sight integrated shell emission, normalised to 1 at disk centre.

    Parameters
    ----------
    r : numpy.ndarray
        Projected distance from disk centre (solar radii).
    scale_height : float
        Emission scale height (solar radii).

    Returns
    -------
    numpy.ndarray
    """
    p, table = _shell_table(float(scale_height))
    return np.interp(r, p, table, right=0.0)


@functools.lru_cache(maxsize=64)
def _holes(seed):
    rng = np.random.default_rng([seed, STREAMS["holes"]])
    holes = []
    for _ in range(int(rng.integers(0, 4))):
        if rng.random() < 0.65:   # most holes are polar
            lat, radius = rng.uniform(65.0, 90.0) * rng.choice([-1, 1]), rng.uniform(15.0, 28.0)
        else:
            lat, radius = rng.uniform(-40.0, 40.0), rng.uniform(6.0, 14.0)
        holes.append((lat, rng.uniform(0.0, 360.0), radius))
    return tuple(holes)


def hole_mask(seed, t, lat, lon):
    """Coronal-hole coverage (0..1) at Stonyhurst positions; 0 to 3 holes per seed.

    Parameters
    ----------
    seed : int
    t : float
        Seconds since 2000-01-01 UTC (holes rotate at 13.2 deg/day sidereal).
    lat, lon : numpy.ndarray
        Stonyhurst coordinates (deg).

    Returns
    -------
    numpy.ndarray
    """
    mask = np.zeros(np.shape(lat))
    if not _holes(seed):
        return mask
    vec = sphere_vectors(lat, lon)
    for hlat, hlon, radius in _holes(seed):
        centre = sphere_vectors(hlat, hlon + (13.2 - 0.9856) * t / DAY)
        ang = np.degrees(np.arccos(np.clip(vec @ centre, -1.0, 1.0)))
        mask = np.maximum(mask, 1.0 / (1.0 + np.exp((ang - radius) / 2.5)))
    return mask
