"""Observer ephemeris and the orthographic image <-> heliographic mapping.

Every synthetic image is rendered through these helpers, so an active region at a
given Stonyhurst longitude/latitude lands on the same sky position in the EUV image
and in HMI- or MDI-like magnetograms. Image axes: x to solar west (+Tx), y to solar
north (+Ty), numpy row 0 at the bottom (FITS convention).
"""

import functools
from dataclasses import dataclass

import numpy as np
import astropy.units as u
from astropy.time import Time
from sunpy.coordinates import sun
from sunpy.sun import constants

from .timeutil import isot

__all__ = ["Observer", "observer_at", "pixel_axis", "disk_coordinates", "sphere_vectors",
           "project", "RSUN_M"]

#: Solar radius used for RSUN_REF and for RSUN_OBS (m); sunpy's value, so both agree.
RSUN_M = float(constants.radius.to_value(u.m))

#: SOHO sits near L1, ~1 % closer to the Sun than Earth.
SOHO_DISTANCE_FACTOR = 0.99


@dataclass(frozen=True)
class Observer:
    """Observer geometry at one time.

    Attributes
    ----------
    t : float
        Seconds since 2000-01-01 UTC.
    rsun_obs : float
        Apparent solar radius (arcsec).
    dsun : float
        Sun-observer distance (m).
    b0 : float
        Heliographic latitude of the observer (deg).
    l0 : float
        Carrington longitude of the observer (deg).
    """

    t: float
    rsun_obs: float
    dsun: float
    b0: float
    l0: float


@functools.lru_cache(maxsize=256)
def observer_at(t, distance_factor=1.0):
    """Earth (or L1 with ``distance_factor=0.99``) observer at time ``t`` (s since 2000)."""
    when = Time(isot(t), scale="utc")
    dsun = float(sun.earth_distance(when).to_value(u.m)) * distance_factor
    if distance_factor == 1.0:
        rsun = float(sun.angular_radius(when).to_value(u.arcsec))
    else:
        rsun = float(np.degrees(np.arcsin(RSUN_M / dsun)) * 3600.0)
    return Observer(t=float(t), rsun_obs=rsun, dsun=dsun,
                    b0=float(sun.B0(when).to_value(u.deg)),
                    l0=float(sun.L0(when).to_value(u.deg)))


def pixel_axis(size, cdelt, centre=0.0, supersample=1):
    """Sky coordinates (arcsec) of (sub-)pixel centres along one axis.

    Parameters
    ----------
    size : int
        Number of pixels; the reference pixel is the array centre ``(size + 1) / 2``.
    cdelt : float
        Pixel size (arcsec).
    centre : float
        Sky coordinate of the array centre (CRVAL).
    supersample : int
        Sub-pixels per pixel; the sub-pixels tile each pixel evenly.

    Returns
    -------
    numpy.ndarray
        ``size * supersample`` coordinates.
    """
    n = size * supersample
    return centre + (np.arange(n) - (n - 1) / 2.0) * (cdelt / supersample)


def disk_coordinates(x, y, obs):
    """Heliographic view of sky positions (orthographic, observer latitude B0).

    Parameters
    ----------
    x, y : numpy.ndarray
        1-D sky axes (arcsec), combined as a grid ``[y, x]``; or two 2-D arrays of the
        same shape holding each point's coordinates (a rolled pixel grid).
    obs : Observer

    Returns
    -------
    dict
        ``xn, yn`` (units of the solar radius), ``r``, ``on`` (on-disk mask),
        ``mu`` (cosine of the heliocentric angle, 0 off disk), and ``lat, lon``
        (Stonyhurst, deg; off-disk pixels use the limb point along their radius,
        so the corona above a region inherits its properties).
    """
    if np.ndim(x) == 2:
        xn, yn = np.asarray(x) / obs.rsun_obs, np.asarray(y) / obs.rsun_obs
    else:
        xn, yn = np.broadcast_arrays((x / obs.rsun_obs)[None, :], (y / obs.rsun_obs)[:, None])
    r2 = xn * xn + yn * yn
    on = r2 <= 1.0
    mu = np.sqrt(np.clip(1.0 - r2, 0.0, None))
    r = np.sqrt(r2)
    scale = np.where(on, 1.0, 1.0 / np.maximum(r, 1e-12))   # off disk: radial limb point
    lat, lon = _to_heliographic(xn * scale, yn * scale, mu, obs.b0)
    return {"xn": xn, "yn": yn, "r": r, "on": on, "mu": mu, "lat": lat, "lon": lon}


def _to_heliographic(xn, yn, z, b0):
    sb, cb = np.sin(np.radians(b0)), np.cos(np.radians(b0))
    lat = np.degrees(np.arcsin(np.clip(yn * cb + z * sb, -1.0, 1.0)))
    lon = np.degrees(np.arctan2(xn, z * cb - yn * sb))
    return lat, lon


def sphere_vectors(lat, lon):
    """Unit vectors in the Stonyhurst frame (x to the Earth meridian, z north)."""
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def project(vectors, b0):
    """Project Stonyhurst-frame points (units of Rsun) onto the sky.

    Parameters
    ----------
    vectors : numpy.ndarray
        ``(..., 3)`` positions.
    b0 : float
        Observer latitude (deg).

    Returns
    -------
    xn, yn, z : numpy.ndarray
        Sky position (Rsun) and depth toward the observer; a point is hidden by the
        disk when ``z < 0`` and ``xn**2 + yn**2 < 1``.
    """
    sb, cb = np.sin(np.radians(b0)), np.cos(np.radians(b0))
    px, py, pz = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    return py, -sb * px + cb * pz, cb * px + sb * pz
