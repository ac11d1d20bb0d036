"""Synthetic line-of-sight magnetograms (HMI- or MDI-like) of the seeded Sun.

The radial field is a continuous function of heliographic position: Gaussian spot and
plage components for each bipolar active region (Hale's and Joy's laws come from
`history`) plus the quiet network (`network`). Pixels are area averages over
sub-pixels, so renders of the same seed and time at different plate scales are
consistent (4x4 block means of an HMI-scale render match an MDI-scale render).
The data are synthetic.
"""

import numpy as np
import sunpy.map

from .geometry import SOHO_DISTANCE_FACTOR, disk_coordinates, observer_at, pixel_axis, project, sphere_vectors
from .header import base_header
from .history import STREAMS, SyntheticSun
from .network import network_field
from .timeutil import to_seconds

__all__ = ["synth_magnetogram", "radial_field", "pole_parameters"]

_RSUN_CM = 6.957e10
_SPOT_FRACTION = 0.35         # share of each polarity's flux in the compact spot
_B_SPOT_MAX = 3500.0          # G: umbral fields saturate around 3-4 kG
_B_CLIP = 3000.0
_INSTRUMENTS = {
    # name: (full-disk pixel at 4096 / 1024 px scale, reference size, noise G)
    "hmi": (0.504, 4096, 6.0),
    "mdi": (1.986, 1024, 9.0),
}


def pole_parameters(state):
    """Gaussian spot/plage parameters of both polarities of one region.

    Parameters
    ----------
    state : RegionState

    Returns
    -------
    list of tuple
        ``(lon, lat, sign, b_spot, sigma_spot, b_plage, sigma_plage, flux)`` per
        polarity; widths in radians, fields in G, ``flux`` the unsigned flux (Mx)
        actually rendered (after spot-field saturation).
    """
    ar = state.region
    out = []
    for lon, lat, sign in state.poles:
        ss, sp = np.radians(ar.spot_sigma), np.radians(ar.plage_sigma)
        area_s, area_p = 2 * np.pi * (ss * _RSUN_CM) ** 2, 2 * np.pi * (sp * _RSUN_CM) ** 2
        b_spot = min(_SPOT_FRACTION * state.flux / area_s, _B_SPOT_MAX)
        b_plage = (1 - _SPOT_FRACTION) * state.flux / area_p
        out.append((lon, lat, sign, b_spot, ss, b_plage, sp, b_spot * area_s + b_plage * area_p))
    return out


def radial_field(regions, vec, xn, yn, b0, out):
    """Add the active-region radial field (G) to ``out`` in place.

    Parameters
    ----------
    regions : list of RegionState
    vec : numpy.ndarray
        ``(ny, nx, 3)`` unit vectors of the (sub-)pixels (Stonyhurst frame).
    xn, yn : numpy.ndarray
        1-D sky axes in solar radii (for bounding boxes).
    b0 : float
        Observer latitude (deg).
    out : numpy.ndarray
        ``(ny, nx)`` array to add to.
    """
    for state in regions:
        for lon, lat, sign, bs, ss, bp, sp, _ in pole_parameters(state):
            c = sphere_vectors(lat, lon)
            cx, cy, cz = project(c, b0)
            if cz < -0.3:                   # far side: cannot reach the visible disk
                continue
            # Orthographic projection never stretches distances, so a sky box of the
            # chord radius holds every pixel the Gaussian reaches.
            reach = 4.5 * sp
            i0, i1 = np.searchsorted(xn, [cx - reach, cx + reach])
            j0, j1 = np.searchsorted(yn, [cy - reach, cy + reach])
            if i1 <= i0 or j1 <= j0:
                continue
            d2 = np.sum(np.square(vec[j0:j1, i0:i1] - c), axis=-1)
            out[j0:j1, i0:i1] += sign * (bs * np.exp(-d2 / (2 * ss * ss))
                                         + bp * np.exp(-d2 / (2 * sp * sp)))


def _render(sun, t, size, cdelt, centre, obs, noise, supersample):
    x = pixel_axis(size, cdelt, centre[0], supersample)
    y = pixel_axis(size, cdelt, centre[1], supersample)
    d = disk_coordinates(x, y, obs)
    vec = sphere_vectors(d["lat"], d["lon"])
    regions = sun.regions(t)
    br = network_field(sun.seed, t, d["lat"], d["lon"])
    radial_field(regions, vec, x / obs.rsun_obs, y / obs.rsun_obs, obs.b0, br)
    blos = br * d["mu"]            # radial field seen along the line of sight
    s = supersample
    blos = blos.reshape(size, s, size, s).mean(axis=(1, 3))
    # On/off disk is decided by the pixel centre, like the NaN mask of HMI products.
    centre_disk = disk_coordinates(pixel_axis(size, cdelt, centre[0]),
                                   pixel_axis(size, cdelt, centre[1]), obs)["on"]
    rng = np.random.default_rng([sun.seed, STREAMS["noise"], int(t), size, int(cdelt * 1000)])
    blos = np.clip(blos + rng.normal(0.0, noise, blos.shape), -_B_CLIP, _B_CLIP)
    blos[~centre_disk] = np.nan
    visible = sum(p[-1] for st in regions if st.visible for p in pole_parameters(st))
    return blos.astype(np.float32), visible


def synth_magnetogram(seed, size=256, instrument="hmi", date_obs=None, cdelt=None, center=(0.0, 0.0)):
    """Render a synthetic line-of-sight magnetogram.

    The data are synthetic: a seeded Sun (`SyntheticSun`) with bipolar active regions
    (Hale's law with cycle-24 orientation, Joy's tilt, flux balanced), a mixed-polarity
    network and ~10 G noise, projected along the line of sight (x mu) and area-averaged.

    Parameters
    ----------
    seed : int
        Seed of the synthetic history.
    size : int
        Image side in pixels.
    instrument : {"hmi", "mdi"}
        Header flavour, plate scale and observer (SDO at Earth or SOHO at L1).
    date_obs : str or time-like, optional
        Observation time; default the history's start (2011-01-01T00:00:00).
    cdelt : float, optional
        Pixel size (arcsec). Default: the full disk (0.504*4096/size for HMI,
        1.986*1024/size for MDI); when given, a ``size x size`` field of view
        centred on ``center``.
    center : tuple of float
        Sky position (arcsec) of the image centre when ``cdelt`` is given.

    Returns
    -------
    sunpy.map.GenericMap
        An HMIMap or MDIMap, float32 Gauss, NaN off the solar disk.
    """
    instrument = instrument.lower()
    if instrument not in _INSTRUMENTS:
        raise ValueError(f"instrument must be 'hmi' or 'mdi', not {instrument!r}")
    sun = SyntheticSun(seed)
    t = sun.start if date_obs is None else to_seconds(date_obs)
    base, ref, noise = _INSTRUMENTS[instrument]
    if cdelt is None:
        cdelt, center = base * ref / size, (0.0, 0.0)
    obs = observer_at(t, 1.0 if instrument == "hmi" else SOHO_DISTANCE_FACTOR)
    # Sub-pixels of <= 2.5 arcsec resolve the smallest spots (~5 arcsec).
    ss = int(np.clip(np.ceil(cdelt / 2.5), 1, 4))
    data, flux = _render(sun, t, size, float(cdelt), tuple(center), obs, noise, ss)
    if instrument == "hmi":
        h = base_header(seed=seed, obs=obs, size=size, cdelt=cdelt, centre=center,
                        telescope="SDO/HMI", instrument="HMI_FRONT2", bunit="Gauss")
        h["CONTENT"] = "MAGNETOGRAM"
        h["WAVELNTH"] = (6173.0, "[angstrom] synthetic Fe I line")
    else:
        h = base_header(seed=seed, obs=obs, size=size, cdelt=cdelt, centre=center,
                        telescope="SOHO", instrument="MDI", bunit="Gauss")
        h["DPC_OBSR"] = "FD_Magnetogram_Sum"
        h["CONTENT"] = "MAGNETOGRAM"
        h["WAVELNTH"] = (6768.0, "[angstrom] synthetic Ni I line")
    h["WAVEUNIT"] = "angstrom"
    h["HGFLUX"] = (float(flux), "[Mx] analytic unsigned AR flux, visible side")
    return sunpy.map.Map(data, h)
