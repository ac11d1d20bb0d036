"""Sunspots with an umbra, a penumbra and radial penumbral filaments; pores and plage elements.

A spot's radial field depends on the distance r from its centre and on the azimuth theta:

* umbra (r < R_u): B0 (1 - 0.3 (r / R_u)^2), from B0 down to 0.7 B0 at its edge;
* penumbra (R_u < r < R_p = 2.4 R_u, the usual ratio of penumbral to umbral radius): falling
  linearly from 0.7 B0 to 0.2 B0, modulated by radial filaments, 1 + 0.3 g(theta) with g a
  random periodic function of unit variance whose harmonics put a filament every ~1.5
  arcsec at the outer edge (spines and intra-spines of alternating field strength);
* outside, a Gaussian edge of width 0.15 R_u.

B0 grows with the spot's flux (1.8 to 3.3 kG) and R_u follows from the flux it must hold.
The filaments average out over azimuth, so they move no flux. Spots are rendered on a local
grid of sub-pixels no larger than 0.1 arcsec, then block-averaged to the image's pixels.

Around each spot, pores (1.5-2 kG, ~1 arcsec Gaussians without penumbra) and plage flux
elements (kG tubes like the network's, clustered on ~8 Mm mesogranular lanes within the
polarity's plage radius) carry the rest of the polarity's flux.
"""

from __future__ import annotations

import functools

import numpy as np
from .network_elements import RSUN_MM, boundary_points, element_sigma_cm

__all__ = ["spot_field", "spot_radius_mm", "spot_b0", "polarity_elements", "PENUMBRA_RATIO"]

PENUMBRA_RATIO = 2.4
_EDGE = 0.15               # Gaussian edge width beyond the penumbra, in umbral radii
_FILAMENT_AMPLITUDE = 0.3
_FILAMENT_SPACING_MM = 1.1  # ~1.5 arcsec at the penumbra's outer edge
SPOT_FRACTION, PORE_FRACTION = 0.35, 0.05
PLAGE_CELL_MM, PLAGE_LANE_MM = 8.0, 1.0
PLAGE_ELEMENT_MX = 3e18
PORE_GAUSS = 1700.0
_MM_CM = 1e8


def _profile(x, g=None):
    """Radial field over B0 at x = r / R_u; ``g`` the filament modulation at each point (or 0)."""
    umbra = 1.0 - 0.3 * x**2
    s = (x - 1.0) / (PENUMBRA_RATIO - 1.0)
    penumbra = 0.7 - 0.5 * s
    if g is not None:
        ramp = np.clip((x - 1.0) / 0.3, 0.0, 1.0)  # filaments start just outside the umbra
        penumbra = penumbra * (1.0 + _FILAMENT_AMPLITUDE * ramp * g)
    edge = 0.2 * np.exp(-0.5 * ((x - PENUMBRA_RATIO) / _EDGE) ** 2)
    return np.where(x < 1.0, umbra, np.where(x < PENUMBRA_RATIO, penumbra, edge))


@functools.lru_cache(maxsize=1)
def _flux_integral():
    """K with flux = B0 R_u^2 K (the filaments integrate to zero over azimuth)."""
    x = np.linspace(0.0, PENUMBRA_RATIO + 8 * _EDGE, 200_001)
    return float(np.trapezoid(2 * np.pi * x * _profile(x), x))


def spot_b0(flux):
    """Central field (G) of a spot of flux ``flux`` (Mx): bigger spots are stronger."""
    return float(np.clip(1800.0 + 500.0 * np.log10(max(flux, 1e19) / 1e20), 1800.0, 3300.0))


def spot_radius_mm(flux):
    """Umbral radius (Mm) of a spot of flux ``flux`` (Mx)."""
    return float(np.sqrt(flux / (spot_b0(flux) * _flux_integral())) / _MM_CM)


def _filament_pattern(rng, n_filaments):
    k = np.arange(max(n_filaments // 2, 2), 2 * n_filaments + 1)
    amp = rng.random(len(k)) * np.exp(-0.5 * ((k - n_filaments) / (0.4 * n_filaments)) ** 2)
    phase = rng.uniform(0.0, 2 * np.pi, len(k))
    norm = np.sqrt(0.5 * np.sum(amp**2))
    return k, amp / norm, phase


def spot_field(flux, rng, dist_mm, theta):
    """Radial field (G) of one spot at distances ``dist_mm`` (Mm) and azimuths ``theta`` (rad).

    Parameters
    ----------
    flux : float
        The spot's unsigned flux (Mx).
    rng : numpy.random.Generator
        Draws the filament pattern (seed it per spot so the pattern lasts).
    """
    r_u = spot_radius_mm(flux)
    n_fil = int(round(2 * np.pi * PENUMBRA_RATIO * r_u / _FILAMENT_SPACING_MM))
    k, amp, phase = _filament_pattern(rng, max(n_fil, 8))
    # tabulate g on 16 samples per period of the highest harmonic, then interpolate
    table = np.linspace(-np.pi, np.pi, 32 * int(k[-1]) + 1)
    g_table = np.cos(np.outer(table, k) + phase) @ amp
    g = np.interp(theta, table, g_table, period=2 * np.pi)
    return spot_b0(flux) * _profile(dist_mm / r_u, g)


def _tangent_basis(c):
    east = np.array([-c[1], c[0], 0.0])
    east /= np.linalg.norm(east)
    return east, np.cross(c, east)


def _mesogranular_offsets(rng, n, radius_mm):
    """``n`` points (Mm, local plane) of a Gaussian cloud of ``radius_mm``, on ~8 Mm cell lanes."""
    half = 4.0 * radius_mm
    n_cells = max(int((2 * half) ** 2 / (0.87 * PLAGE_CELL_MM**2)), 4)
    cells = rng.uniform(-half, half, (n_cells, 2))
    return boundary_points(rng, cells, n, PLAGE_LANE_MM, draw=lambda g, k: g.normal(0.0, radius_mm, (k, 2)))


def polarity_elements(rng, centre, sign, flux, peak_flux, plage_radius_mm, spot_radius):
    """Pores and plage elements of one polarity.

    Parameters
    ----------
    rng : numpy.random.Generator
        Seeded per region and polarity: positions last the region's life; fluxes scale with
        ``flux / peak_flux`` as the region grows and decays.
    centre : numpy.ndarray
        Unit vector of the polarity's centre.
    sign : float
    flux, peak_flux : float
        The polarity's current and peak unsigned flux (Mx).
    plage_radius_mm, spot_radius : float
        Gaussian radius of the plage cloud and the spot's penumbral radius (Mm).

    Returns
    -------
    vectors, signed_flux, sigma_cm : numpy.ndarray
    """
    east, north = _tangent_basis(centre)
    scale = flux / peak_flux
    # pores: a few, between the penumbra and the plage radius
    n_pores = int(rng.integers(3, 9))
    pore_flux = rng.lognormal(0.0, 0.4, n_pores)
    pore_flux *= PORE_FRACTION * peak_flux / pore_flux.sum()
    r = spot_radius + rng.uniform(0.5, 1.5, n_pores) * plage_radius_mm * 0.5
    a = rng.uniform(0.0, 2 * np.pi, n_pores)
    pores = np.stack([r * np.cos(a), r * np.sin(a)], axis=1)
    # plage: kG elements of a few 1e18 Mx
    plage_total = (1.0 - SPOT_FRACTION - PORE_FRACTION) * peak_flux
    n_plage = int(np.clip(plage_total / PLAGE_ELEMENT_MX, 50, 4000))
    plage = _mesogranular_offsets(rng, n_plage, plage_radius_mm)
    plage_flux = rng.lognormal(0.0, 0.7, n_plage)
    plage_flux *= plage_total / plage_flux.sum()
    offsets = np.concatenate([pores, plage]) / RSUN_MM
    vec = centre[None, :] + offsets[:, :1] * east[None, :] + offsets[:, 1:] * north[None, :]
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    unsigned = np.concatenate([pore_flux, plage_flux]) * scale
    sigma = np.concatenate([np.sqrt(pore_flux * scale / (2 * np.pi * PORE_GAUSS)), element_sigma_cm(plage_flux * scale)])
    return vec, sign * unsigned, sigma
