"""The quiet-Sun magnetic network as discrete flux elements on supergranule boundaries.

Supergranular flows sweep magnetic flux to the edges of cells 20-30 Mm across, where it
gathers into sub-arcsecond kilogauss elements (the network seen in HMI magnetograms). Here
each day has its own cells: Poisson-Voronoi cells of mean spacing :data:`CELL_MM`, and
elements drawn near their boundaries (a Gaussian lane of half-width :data:`LANE_MM`).
Polarity comes in unipolar patches a few cells wide, mixed where two patches meet. Element
fluxes are log-normal around a few 1e17 Mx, the range reported for network elements; each is
a Gaussian as wide as a 1.3 kG tube of that flux. Day ``d``'s network peaks at noon and fades
linearly into the next day's (weights summing to one, so the network's flux is constant): the
cells renew daily, about a supergranule's lifetime, and at noon one clean cell pattern shows.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.spatial import cKDTree

from .history import STREAMS
from .timeutil import DAY

__all__ = ["network_elements", "boundary_points", "CELL_MM", "RSUN_MM"]

RSUN_MM = 695.7
CELL_MM = 25.0            # supergranule spacing
LANE_MM = 1.5             # half-width of the network lanes
PATCH_MM = 120.0          # spacing of unipolar patches
MIX_MM = 15.0             # within this of a patch edge, polarities mix
ELEMENTS = 240_000        # on the whole sphere: ~5 G mean |B| at disk centre
FLUX_MEDIAN_MX, FLUX_LOG_SIGMA = 5e17, 0.9
TUBE_GAUSS = 1300.0       # peak field of an element; sets its width from its flux
_ROTATION = 13.2 - 0.9856  # synodic rate (deg/day), as the smooth network


def _sphere_points(rng, n):
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def boundary_points(rng, centres, n, lane, draw=None):
    """``n`` points near the Voronoi boundaries of ``centres`` (``lane`` in their units).

    Candidates from ``draw(rng, k)`` (default: uniform unit vectors, for ``centres`` on the
    sphere) are kept with probability exp(-d^2 / (2 lane^2)), d the distance to the boundary,
    estimated as half the difference of the distances to the two nearest centres.
    """
    draw = draw or _sphere_points
    tree = cKDTree(centres)
    kept = []
    total = 0
    while total < n:
        cand = draw(rng, 4 * (n - total) + 16)
        dist, _ = tree.query(cand, k=2, workers=-1)  # every core: the same answer, sooner
        d = 0.5 * (dist[:, 1] - dist[:, 0])
        cand = cand[rng.random(len(cand)) < np.exp(-0.5 * (d / lane) ** 2)]
        kept.append(cand)
        total += len(cand)
    return np.concatenate(kept)[:n]


def element_sigma_cm(flux):
    """Gaussian width (cm) of an element of unsigned flux ``flux`` (Mx): 2 pi sigma^2 B = flux."""
    return np.sqrt(np.abs(flux) / (2.0 * np.pi * TUBE_GAUSS))


@functools.lru_cache(maxsize=4)
def _day_elements(seed, day):
    """Unit vectors (co-rotating frame), signed fluxes (Mx) and widths (cm) of one day's network."""
    rng = np.random.default_rng([seed, STREAMS["elements"], day + 100000])
    n_cells = int(4 * np.pi * RSUN_MM**2 / (0.87 * CELL_MM**2))  # hexagon-equivalent area per cell
    cells = _sphere_points(rng, n_cells)
    pos = boundary_points(rng, cells, ELEMENTS, LANE_MM / RSUN_MM)
    n_patches = int(4 * np.pi * RSUN_MM**2 / PATCH_MM**2)
    patches = _sphere_points(rng, n_patches)
    patch_sign = rng.choice([-1.0, 1.0], n_patches)
    dist, idx = cKDTree(patches).query(pos, k=2)
    edge = 0.5 * (dist[:, 1] - dist[:, 0]) * RSUN_MM
    sign = patch_sign[idx[:, 0]]
    flip = rng.random(len(pos)) < 0.5 * np.exp(-edge / MIX_MM)  # a coin toss at the edge itself
    sign = np.where(flip, -sign, sign)
    flux = rng.lognormal(np.log(FLUX_MEDIAN_MX), FLUX_LOG_SIGMA, len(pos))
    return pos.astype(np.float64), sign * flux, element_sigma_cm(flux)


def _rotate_z(vectors, deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    x, y, z = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    return np.stack([c * x - s * y, s * x + c * y, z], axis=1)


def network_elements(seed, t):
    """The network's elements at time ``t`` (s since 2000).

    Returns
    -------
    vectors : numpy.ndarray
        ``(n, 3)`` Stonyhurst unit vectors.
    flux : numpy.ndarray
        Signed radial flux (Mx), cross-fade weight included.
    sigma_cm : numpy.ndarray
        Gaussian widths on the Sun (cm).
    """
    days = t / DAY
    day = int(np.floor(days))
    parts = []
    for d in (day - 1, day, day + 1):
        weight = 1.0 - abs(days - (d + 0.5))
        if weight > 1e-9:
            vec, flux, sigma = _day_elements(int(seed), d)
            parts.append((_rotate_z(vec, _ROTATION * days), flux * weight, sigma))
    return tuple(np.concatenate(a) for a in zip(*parts))
