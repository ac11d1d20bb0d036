"""Synthetic AIA-like level-1 EUV images of the seeded Sun.

Ingredients (all synthetic): an optically thin coronal shell (limb brightening,
off-limb exponential fall-off), network-modulated quiet-Sun texture, coronal holes,
active-region cores and 3-D loop arcades joining the two polarities of each region
(so near-limb regions show off-limb loops), flare kernels with post-flare loops for
flares that the synthetic GOES curve of the same seed shows, and Poisson noise.
"""

import numpy as np
import sunpy.map
from scipy import ndimage

from .corona import hole_mask, shell_profile
from .flares import flare_state
from .geometry import disk_coordinates, observer_at, pixel_axis, project, sphere_vectors
from .header import base_header
from .history import STREAMS, SyntheticSun
from .network import network_field
from .timeutil import to_seconds

__all__ = ["synth_euv", "WAVELENGTHS"]

#: Per channel: INSTRUME, EXPTIME (s), quiet-Sun DN/s at disk centre, shell scale
#: height (Rsun), AR core DN/s, loop DN/s, flare kernel DN/s per decade of GOES flux.
WAVELENGTHS = {
    94: ("AIA_4", 2.9, 1.5, 0.10, 40.0, 20.0, 600.0),
    131: ("AIA_1", 2.9, 4.0, 0.07, 60.0, 40.0, 1500.0),
    171: ("AIA_3", 2.0, 250.0, 0.06, 1500.0, 4000.0, 2500.0),
    193: ("AIA_2", 2.0, 200.0, 0.08, 2000.0, 2500.0, 4000.0),
    211: ("AIA_2", 2.9, 40.0, 0.09, 800.0, 800.0, 2000.0),
    304: ("AIA_3", 2.9, 60.0, 0.03, 400.0, 300.0, 2000.0),
    335: ("AIA_1", 2.9, 2.0, 0.10, 60.0, 30.0, 300.0),
    1600: ("AIA_4", 1.0, 100.0, 0.005, 300.0, 0.0, 2000.0),
}
_SATURATION = 16383.0
_LOOP_WIDTH = 1.5          # arcsec: loops are unresolved at most synthetic sizes
_KERNEL_SIGMA = 5.0        # arcsec
_REF_FLUX = 1e22           # Mx: region flux giving the tabulated core/loop brightness


def _splat(img, col, row, weight):
    """Bilinear deposit of point weights into ``img`` (in place)."""
    ny, nx = img.shape
    c0, r0 = np.floor(col).astype(int), np.floor(row).astype(int)
    fc, fr = col - c0, row - r0
    for dc, dr, w in ((0, 0, (1 - fc) * (1 - fr)), (1, 0, fc * (1 - fr)),
                      (0, 1, (1 - fc) * fr), (1, 1, fc * fr)):
        c, r = c0 + dc, r0 + dr
        ok = (c >= 0) & (c < nx) & (r >= 0) & (r < ny)
        img += np.bincount(r[ok] * nx + c[ok], (weight * w)[ok], minlength=nx * ny).reshape(ny, nx)


def _loop_points(foot_a, foot_b, height, n=60):
    """Points (Rsun) of a loop rising radially between two footpoint unit vectors."""
    s = np.linspace(0.0, 1.0, n)[:, None]
    omega = np.arccos(np.clip(foot_a @ foot_b, -1.0, 1.0))
    if omega < 1e-6:
        return foot_a[None, :].repeat(n, 0)
    # Great-circle interpolation of the foot, lifted by a semicircle-like height profile.
    base = (np.sin((1 - s) * omega) * foot_a + np.sin(s * omega) * foot_b) / np.sin(omega)
    return base * (1.0 + height * np.sin(np.pi * s))


def _deposit_loops(img, loops, obs, x0, y0, cdelt, brightness):
    """Project loops, drop the parts hidden behind the disk, splat into ``img``."""
    for pts in loops:
        xn, yn, z = project(pts, obs.b0)
        seen = (z > 0) | (xn * xn + yn * yn > 1.0)
        col = (xn * obs.rsun_obs - x0) / cdelt
        row = (yn * obs.rsun_obs - y0) / cdelt
        ds = np.hypot(np.gradient(col), np.gradient(row))   # path length per point, px
        # Area average of a thin loop: brightness x width fraction of a pixel.
        w = brightness * ds * min(1.0, _LOOP_WIDTH / cdelt)
        _splat(img, col[seen], row[seen], w[seen])


def _region_loops(seed, state, n_loops):
    rng = np.random.default_rng([seed, STREAMS["loops"], state.region.key])
    (llon, llat, _), (flon, flat, _) = state.poles
    spread = 0.5 * state.region.plage_sigma
    loops = []
    for _ in range(n_loops):
        a = sphere_vectors(llat + rng.normal(0, spread), llon + rng.normal(0, spread))
        b = sphere_vectors(flat + rng.normal(0, spread), flon + rng.normal(0, spread))
        half_chord = 0.5 * np.linalg.norm(a - b)
        loops.append(_loop_points(a, b, half_chord * rng.uniform(0.5, 1.1)))
    return loops


def _flare_loops(state, n=6):
    """Short, low post-flare loops straddling the polarity inversion line."""
    (llon, llat, _), (flon, flat, _) = state.poles
    loops = []
    for f in np.linspace(-0.3, 0.3, n):
        # Arcade along the inversion line: shift perpendicular offsets along it.
        dlon, dlat = (flat - llat) * f, (llon - flon) * f
        a = sphere_vectors(state.lat + 0.25 * (llat - state.lat) + dlat, state.lon + 0.25 * (llon - state.lon) + dlon)
        b = sphere_vectors(state.lat + 0.25 * (flat - state.lat) + dlat, state.lon + 0.25 * (flon - state.lon) + dlon)
        loops.append(_loop_points(a, b, 0.6 * np.linalg.norm(a - b), n=30))
    return loops


def _gaussian_blob(img, d, centre, sigma, amplitude, cdelt_r):
    """Add a line-of-sight-integrated 3-D Gaussian (sigma in Rsun), pixel-area averaged."""
    cx, cy, cz = project(centre, d["b0"])
    s2 = sigma * sigma + (cdelt_r / 2.355) ** 2    # convolve with the pixel footprint
    d2 = (d["xn"] - cx) ** 2 + (d["yn"] - cy) ** 2
    blob = amplitude * (sigma * sigma / s2) * np.exp(-d2 / (2 * s2))
    if cz < 0:                                       # behind the disk: only off-limb part shows
        blob = np.where(d["on"], 0.0, blob)
    img += blob


def _flaring(sun, t, regions, flare_flux):
    """Map ``noaa -> GOES excess`` of the regions flaring at ``t`` (override applied)."""
    state = flare_state(sun, t)
    if flare_flux is None:
        return state
    known = {s.region.noaa for s in regions}
    live = [k for k in sorted(state, key=state.get, reverse=True) if k in known]
    if live:
        target = live[0]
    else:
        visible = [s for s in regions if s.visible] or regions
        if not visible:
            return {}
        target = visible[0].region.noaa
    return {target: float(flare_flux)}


def synth_euv(seed, size=256, wavelength=193, date_obs=None, activity=None, flare_flux=None):
    """Render a synthetic AIA-like level-1 EUV image.

    The data are synthetic; they come from the seeded history `SyntheticSun`, so the
    active regions match `synth_magnetogram` and flares match `synth_goes` for the
    same seed and time.

    Parameters
    ----------
    seed : int
        Seed of the synthetic history.
    size : int
        Image side; the plate scale is ``0.6 * 4096 / size`` arcsec (AIA field of view).
    wavelength : int
        AIA channel in Angstrom (94, 131, 171, 193, 211, 304, 335, 1600).
    date_obs : str or time-like, optional
        Observation time; default the history's start (2011-01-01T00:00:00).
    activity : float, optional
        Override of the activity level (0..1): more and stronger regions when higher.
    flare_flux : float, optional
        Override of the flare state (GOES XRS-B W/m^2) of the flaring (or else the
        largest visible) region; ``1e-8`` removes the flare.

    Returns
    -------
    sunpy.map.sources.AIAMap
        float32 DN (integer-valued Poisson counts, saturating at 16383).
    """
    if wavelength not in WAVELENGTHS:
        raise ValueError(f"wavelength must be one of {sorted(WAVELENGTHS)}")
    instrume, exptime, quiet, height, core, loop, kernel = WAVELENGTHS[wavelength]
    sun = SyntheticSun(seed)
    t = sun.start if date_obs is None else to_seconds(date_obs)
    obs = observer_at(t)
    cdelt = 0.6 * 4096 / size
    x, y = pixel_axis(size, cdelt), pixel_axis(size, cdelt)
    d = disk_coordinates(x, y, obs)
    d["b0"] = obs.b0
    cdelt_r = cdelt / obs.rsun_obs
    act = sun.activity(t) if activity is None else float(np.clip(activity, 0.0, 1.0))

    rate = _quiet_corona(seed, t, d, act, quiet, height)

    regions = [s for s in sun.regions(t, activity=activity)
               if project(sphere_vectors(s.lat, s.lon), obs.b0)[2] > -0.5]
    loops_img = np.zeros_like(rate)
    for s in regions:
        strength = s.flux / _REF_FLUX
        centre = sphere_vectors(s.lat, s.lon) * 1.015
        _gaussian_blob(rate, d, centre, np.radians(0.35 * s.region.separation),
                       core * strength ** 0.7, cdelt_r)
        n_loops = int(np.clip(10 + 8 * strength, 10, 40))
        _deposit_loops(loops_img, _region_loops(seed, s, n_loops), obs, x[0], y[0], cdelt,
                       loop * strength ** 0.5)

    _add_flares(rate, loops_img, _flaring(sun, t, regions, flare_flux), regions, d, obs, x[0], y[0], cdelt, kernel)

    rate += ndimage.gaussian_filter(loops_img, 0.7)
    rng = np.random.default_rng([seed, STREAMS["noise"], int(t), size, wavelength])
    dn = np.minimum(rng.poisson(np.clip(rate * exptime, 0.0, 1e7)), _SATURATION).astype(np.float32)

    h = base_header(seed=seed, obs=obs, size=size, cdelt=cdelt, telescope="SDO/AIA",
                    instrument=instrume, bunit="DN", exptime=exptime)
    h["DETECTOR"] = "AIA"
    h["WAVELNTH"] = (int(wavelength), "[angstrom]")
    h["WAVEUNIT"] = "angstrom"
    h["QUALITY"] = 0
    h["LVL_NUM"] = 1.0
    h["HGACTIV"] = (float(act), "synthetic activity level 0..1")
    return sunpy.map.Map(dn, h)


def _quiet_corona(seed, t, d, act, quiet, height):
    """Quiet corona rate: disk floor plus the optically thin shell, brighter when active,
    textured by the network and dimmed in coronal holes."""
    shell = shell_profile(d["r"], height)
    rate = quiet * (0.7 + 0.6 * act) * np.where(d["on"], 0.55 + 0.45 * shell, 0.45 * shell)
    texture = 0.75 + 0.4 * np.abs(network_field(seed, t, d["lat"], d["lon"])) / 30.0
    rate *= np.clip(texture, 0.3, 3.0) * (1.0 - 0.85 * hole_mask(seed, t, d["lat"], d["lon"]))
    return rate


def _add_flares(rate, loops_img, flaring, regions, d, obs, x0, y0, cdelt, kernel):
    """Add each flaring region's kernel and post-flare loops to ``rate`` and ``loops_img`` in place."""
    by_noaa = {s.region.noaa: s for s in regions}
    cdelt_r = cdelt / obs.rsun_obs
    for noaa, flux in flaring.items():
        if noaa not in by_noaa or flux <= 0:
            continue
        # Kernel brightness grows with the logarithm of the GOES flux (B3 -> ~0).
        decades = max(0.0, np.log10(flux) + 7.5)
        if decades == 0.0:
            continue
        s = by_noaa[noaa]
        _gaussian_blob(rate, d, sphere_vectors(s.lat, s.lon) * 1.01,
                       _KERNEL_SIGMA / obs.rsun_obs, kernel * decades, cdelt_r)
        _deposit_loops(loops_img, _flare_loops(s), obs, x0, y0, cdelt, 0.5 * kernel * decades)
