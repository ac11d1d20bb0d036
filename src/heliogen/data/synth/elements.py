"""Discrete magnetic flux elements, rendered as exact pixel averages.

Network and plage fields are made of kilogauss flux tubes a few hundred km across, far below
HMI's 0.5 arcsec pixels. Each element here is a circular Gaussian of line-of-sight flux
``phi`` (Mx) and width ``sigma`` (arcsec) on the sky; a pixel receives the integral of the
Gaussian over its square (a product of two error-function differences) divided by its area,
so every plate scale sees the same flux and a 4x4 block mean of a fine render equals a
coarse render exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

__all__ = ["render_elements", "cm2_per_arcsec2"]

_SQRT2 = np.sqrt(2.0)


def cm2_per_arcsec2(dsun_m: float) -> float:
    """Area on the Sun (cm^2) seen in one square arcsec at distance ``dsun_m`` (small-angle)."""
    side_cm = dsun_m * 100.0 * np.radians(1.0 / 3600.0)
    return float(side_cm * side_cm)


def _edge_weights(pos, sigma, first_edge, cdelt, width):
    """Fraction of each element's 1-D Gaussian in pixels ``first + 0..width-1`` along one axis."""
    first = np.floor((pos - first_edge) / cdelt).astype(np.int64) - width // 2
    edges = first_edge + (first[:, None] + np.arange(width + 1)[None, :]) * cdelt
    cdf = 0.5 * (1.0 + erf((edges - pos[:, None]) / (_SQRT2 * sigma[:, None])))
    return first, np.diff(cdf, axis=1)


def render_elements(out, u, v, sigma, phi, u0, v0, cdelt, cm2_per_as2):
    """Add elements (G) to image ``out`` in place.

    Parameters
    ----------
    out : numpy.ndarray
        ``(ny, nx)`` image; pixel ``(j, i)`` spans ``u0 + [i, i+1] * cdelt`` by ``v0 + [j, j+1] * cdelt``.
    u, v : numpy.ndarray
        Element centres (arcsec) along the image's x and y axes.
    sigma : numpy.ndarray
        Gaussian widths (arcsec); the instrument's PSF may be added in quadrature.
    phi : numpy.ndarray
        Line-of-sight flux of each element (Mx, signed).
    u0, v0 : float
        Sky coordinate (arcsec) of the image's lower-left pixel corner.
    cdelt : float
        Pixel size (arcsec).
    cm2_per_as2 : float
        Solar area per square arcsec (:func:`cm2_per_arcsec2`), turning flux into flux density.
    """
    u, v, sigma, phi = (np.asarray(a, float) for a in (u, v, sigma, phi))
    ny, nx = out.shape
    margin = 6.0 * sigma + cdelt
    near = (u > u0 - margin) & (u < u0 + nx * cdelt + margin) & (v > v0 - margin) & (v < v0 + ny * cdelt + margin)
    u, v, sigma, phi = u[near], v[near], sigma[near], phi[near]
    # the window (pixels) an element needs: +-6 sigma (a 2e-9 tail) and the pixel it straddles; render
    # elements of equal window together, so a few wide pores do not widen every element's
    width = np.ceil(12.0 * sigma / cdelt).astype(int) + 2
    for w in np.unique(width):
        pick = width == w
        _render_group(out, u[pick], v[pick], sigma[pick], phi[pick], u0, v0, cdelt, cm2_per_as2, int(w))


def _render_group(out, u, v, sigma, phi, u0, v0, cdelt, cm2_per_as2, width):
    ny, nx = out.shape
    fx, wx = _edge_weights(u, sigma, u0, cdelt, width)
    fy, wy = _edge_weights(v, sigma, v0, cdelt, width)
    density = phi / (cdelt * cdelt * cm2_per_as2)  # G for a whole element in one pixel
    ix = fx[:, None] + np.arange(width)[None, :]
    iy = fy[:, None] + np.arange(width)[None, :]
    keep = (ix[:, -1] >= 0) & (ix[:, 0] < nx) & (iy[:, -1] >= 0) & (iy[:, 0] < ny)
    ix, iy, wx, wy, density = ix[keep], iy[keep], wx[keep], wy[keep], density[keep]
    values = density[:, None, None] * wy[:, :, None] * wx[:, None, :]
    jj = np.broadcast_to(iy[:, :, None], values.shape)
    ii = np.broadcast_to(ix[:, None, :], values.shape)
    inside = (jj >= 0) & (jj < ny) & (ii >= 0) & (ii < nx)
    out += np.bincount((jj[inside] * nx + ii[inside]), weights=values[inside], minlength=ny * nx).reshape(ny, nx)
