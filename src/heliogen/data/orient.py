"""Bring a map north up without blurring it where a lossless turn suffices.

HMI is written upside down (CROTA2 close to 180 deg). An interpolating rotation of such a map
(``order=1``) acts as a low-pass filter: on a synthetic field it kept about half the power at
periods under 2 arcsec, the scales super-resolution is judged on. A turn by a multiple of
90 deg is a permutation of pixels, so when the roll is within :data:`ROLL_TOLERANCE_DEG` of one,
the data are turned exactly (``numpy.rot90``) and the small residual angle stays in the WCS:
the new PCi_j matrix is the old one composed with the turn, so every pixel keeps its exact
sky position. Other rolls are interpolated at third order (sunpy's ``rotate``), and the
record says so.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["north_up", "roll_deg", "ROLL_TOLERANCE_DEG", "EXACT", "INTERPOLATED"]

# HMI's roll differs from 180 deg by < 0.1 deg; beyond this a residual roll misplaces
# limb pixels by more than ~3 HMI pixels in a north-up crop table, so interpolate instead.
ROLL_TOLERANCE_DEG = 0.1
EXACT, INTERPOLATED = "exact", "interpolated order 3"


def roll_deg(smap) -> float:
    """The map's roll: the angle (deg, counter-clockwise) of its PCi_j rotation matrix."""
    pc = np.asarray(smap.rotation_matrix, dtype=float)
    return float(np.degrees(np.arctan2(pc[1, 0], pc[0, 0])))


def _turn_affine(k: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with old 0-based pixel ``(x, y) = A @ (x', y') + b`` for ``np.rot90(data, k)``.

    Read off the turned index grids rather than derived by hand, so the sign conventions of
    ``rot90`` and of FITS axes cannot disagree.
    """
    ny, nx = shape
    ys, xs = np.mgrid[0:ny, 0:nx]
    xt, yt = np.rot90(xs, k), np.rot90(ys, k)
    b = np.array([xt[0, 0], yt[0, 0]], dtype=float)
    a = np.array([[xt[0, 1] - b[0], xt[1, 0] - b[0]], [yt[0, 1] - b[1], yt[1, 0] - b[1]]], dtype=float)
    return a, b


def _turned_map(smap, k: int):
    import sunpy.map

    a, b = _turn_affine(k, smap.data.shape)
    pc = np.asarray(smap.rotation_matrix, dtype=float) @ a
    crpix_old = np.array([float(smap.meta["crpix1"]), float(smap.meta["crpix2"])]) - 1.0
    crpix = np.linalg.solve(a, crpix_old - b) + 1.0
    meta = smap.meta.copy()
    # a CD matrix holds the pixel size too: it becomes CDELT (sunpy's scale) beside the new PC
    meta["cdelt1"], meta["cdelt2"] = (float(v.to_value(f"{u}/pix")) for v, u in zip(smap.scale, smap.spatial_units))
    for key in ("crota1", "crota2", "crota", "cd1_1", "cd1_2", "cd2_1", "cd2_2"):
        meta.pop(key, None)
    # CDELTi stay with their axes: world = CDELT * PC A (p' - CRPIX') is exact for any pixel shape
    meta.update({"pc1_1": pc[0, 0], "pc1_2": pc[0, 1], "pc2_1": pc[1, 0], "pc2_2": pc[1, 1],
                 "crpix1": crpix[0], "crpix2": crpix[1]})
    data = np.ascontiguousarray(np.rot90(smap.data, k))
    meta["naxis1"], meta["naxis2"] = data.shape[1], data.shape[0]
    return sunpy.map.Map(data, meta)


def north_up(smap, tolerance_deg: float = ROLL_TOLERANCE_DEG):
    """``(map, how, residual_deg)``: the map turned north up, how it was done, and the roll left.

    Parameters
    ----------
    smap : sunpy.map.GenericMap
    tolerance_deg : float
        Largest distance (deg) from a multiple of 90 deg that is turned exactly.

    Returns
    -------
    map : sunpy.map.GenericMap
        North up to within ``residual_deg``; unchanged when its roll is below 1e-3 deg.
    how : str
        ``""`` (already north up), :data:`EXACT` (a pixel permutation) or :data:`INTERPOLATED`.
    residual_deg : float
        The roll of the returned map's WCS (its PCi_j); 0 after an interpolated rotation.
    """
    roll = roll_deg(smap)
    if abs(roll) <= 1e-3:
        return smap, "", roll
    quarters = round(roll / 90.0)
    residual = roll - 90.0 * quarters
    if abs(residual) <= tolerance_deg:
        # rot90 turns the array counter-clockwise as displayed with origin lower-left, i.e. by
        # +90 deg on the sky axes; undoing a roll of +90 deg needs the opposite turn
        turned = _turned_map(smap, (-quarters) % 4)
        return turned, EXACT, roll_deg(turned)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smap.rotate(order=3, missing=np.nan), INTERPOLATED, 0.0
