"""Synthetic line-of-sight magnetograms (HMI- or MDI-like) of the seeded Sun.

The radial field is built from the history's bipolar active regions (Hale's and Joy's laws
come from ``history``) and the quiet Sun, with structure down to sub-arcsecond scales:

* sunspots with umbra, penumbra and radial penumbral filaments, pores and plage flux
  elements around them (``sunspots.py``);
* network flux elements on supergranule boundaries, in unipolar patches mixed at their
  edges (``network_elements.py``);
* a weak smooth internetwork background (``network.py``).

The field is seen along the line of sight (B_r mu) and averaged over each pixel: discrete
elements exactly (``elements.py``), spots on a local grid of <= 0.1 arcsec sub-pixels, the
smooth background on sub-pixels of <= 2.5 arcsec. HMI is that pixel average plus noise. MDI
is an instrument of its own: the same Sun (so MDI/HMI pairs exist at the same times) seen from
SOHO, blurred by its coarser PSF, recorded 1.4x stronger than HMI (the calibration that the
1/1.4 of preprocessing undoes; Liu et al. 2012), noisier, and pointed with a small offset and
roll that its header states. The data are synthetic.
"""

import numpy as np
import sunpy.map
from scipy import ndimage

from .elements import cm2_per_arcsec2, render_elements
from .geometry import SOHO_DISTANCE_FACTOR, disk_coordinates, observer_at, pixel_axis, project, sphere_vectors
from .header import base_header
from .history import STREAMS, SyntheticSun
from .network import network_field
from .network_elements import RSUN_MM, network_elements
from .sunspots import PENUMBRA_RATIO, SPOT_FRACTION, polarity_elements, spot_field, spot_radius_mm
from .timeutil import to_seconds

__all__ = ["synth_magnetogram", "INSTRUMENTS"]

_INTERNETWORK = 0.1           # scale of the smooth 30 G rms network: a ~3 G internetwork
_SPOT_SUBPIXEL = 0.1          # arcsec

#: Per instrument: full-disk pixel (arcsec) at the reference size, noise (G, 1 sigma), PSF
#: FWHM (arcsec) beyond pixel averaging, calibration relative to HMI, clip (G) and pointing
#: scatter (arcsec, deg). HMI: 720 s LOS noise ~6 G (Liu et al. 2012, Sol. Phys. 279, 295).
#: MDI: ~20 G noise (Scherrer et al. 1995, Sol. Phys. 162, 129); HMI smoothed by a 3.32
#: arcsec FWHM Gaussian matches MDI (the HMI-MDI comparison of A&A 688 (2024), aa50102-24,
#: table 2); 1.4x HMI's field (Liu et al. 2012), saturating where 3000 G of HMI would.
INSTRUMENTS = {
    "hmi": dict(pixel=0.504, ref=4096, noise=6.0, psf_fwhm=0.0, gain=1.0, clip=3000.0, pointing=0.0, roll=0.0),
    "mdi": dict(pixel=1.986, ref=1024, noise=20.0, psf_fwhm=3.32, gain=1.4, clip=4200.0, pointing=2.0, roll=0.08),
}


class _Frame:
    """An image's pixel grid on the sky: ``size`` pixels of ``cdelt`` around ``centre``, rolled."""

    def __init__(self, size, cdelt, centre, roll_deg):
        self.size, self.cdelt, self.centre = size, float(cdelt), (float(centre[0]), float(centre[1]))
        self.cos, self.sin = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
        self.corner = -0.5 * size * self.cdelt  # pixel-frame coordinate of the lower-left edge

    def to_sky(self, u, v):
        return (self.centre[0] + u * self.cos - v * self.sin, self.centre[1] + u * self.sin + v * self.cos)

    def from_sky(self, x, y):
        du, dv = x - self.centre[0], y - self.centre[1]
        return du * self.cos + dv * self.sin, -du * self.sin + dv * self.cos

    def grid(self, supersample=1):
        u = pixel_axis(self.size, self.cdelt, 0.0, supersample)
        return self.to_sky(u[None, :], u[:, None])


def _background(sun, t, frame, obs):
    ss = int(np.clip(np.ceil(frame.cdelt / 2.5), 1, 4))
    x, y = frame.grid(ss)
    d = disk_coordinates(x, y, obs)
    blos = _INTERNETWORK * network_field(sun.seed, t, d["lat"], d["lon"]) * d["mu"]
    n = frame.size
    return blos.reshape(n, ss, n, ss).mean(axis=(1, 3))


def _add_spot(image, frame, obs, centre_vec, flux, rng):
    """Add one spot's line-of-sight field, averaged over <= 0.1 arcsec sub-pixels, to ``image``."""
    cx, cy, cz = project(centre_vec, obs.b0)
    if cz < 0.05:  # behind or on the limb
        return
    reach = (PENUMBRA_RATIO + 0.6) * spot_radius_mm(flux) / RSUN_MM * obs.rsun_obs  # arcsec
    u, v = frame.from_sky(cx * obs.rsun_obs, cy * obs.rsun_obs)
    lo = np.floor((np.array([u, v]) - reach - frame.corner) / frame.cdelt).astype(int)
    hi = np.ceil((np.array([u, v]) + reach - frame.corner) / frame.cdelt).astype(int)
    (i0, j0), (i1, j1) = np.clip(lo, 0, frame.size), np.clip(hi, 0, frame.size)
    if i1 <= i0 or j1 <= j0:
        return
    sub = int(np.clip(np.ceil(frame.cdelt / _SPOT_SUBPIXEL), 1, 32))
    fu = frame.corner + (i0 + (np.arange((i1 - i0) * sub) + 0.5) / sub) * frame.cdelt
    fv = frame.corner + (j0 + (np.arange((j1 - j0) * sub) + 0.5) / sub) * frame.cdelt
    d = disk_coordinates(*frame.to_sky(fu[None, :], fv[:, None]), obs)
    offset = sphere_vectors(d["lat"], d["lon"]) - centre_vec
    east = np.array([-centre_vec[1], centre_vec[0], 0.0]) / np.hypot(centre_vec[0], centre_vec[1])
    north = np.cross(centre_vec, east)
    theta = np.arctan2(offset @ north, offset @ east)
    field = spot_field(flux, rng, np.linalg.norm(offset, axis=-1) * RSUN_MM, theta) * d["mu"] * d["on"]
    image[j0:j1, i0:i1] += field.reshape(j1 - j0, sub, i1 - i0, sub).mean(axis=(1, 3))


def _add_elements(image, frame, obs, vec, flux, sigma_cm):
    """Add flux elements (Stonyhurst unit vectors, radial flux in Mx, widths in cm) to ``image``."""
    xn, yn, z = project(vec, obs.b0)
    seen = z > 0.0
    area = cm2_per_arcsec2(obs.dsun)
    u, v = frame.from_sky(xn[seen] * obs.rsun_obs, yn[seen] * obs.rsun_obs)
    # line-of-sight flux in the sky plane: B_r mu over an area foreshortened by mu
    render_elements(image, u, v, sigma_cm[seen] / np.sqrt(area), flux[seen] * z[seen] ** 2,
                    frame.corner, frame.corner, frame.cdelt, area)


def _region_parts(sun, t, regions):
    """Spots (centre, flux, rng) and the elements of pores and plage of every region."""
    spots, elements = [], []
    for state in regions:
        ar = state.region
        for k, (lon, lat, sign) in enumerate(state.poles):
            centre = sphere_vectors(lat, lon)
            spot_flux = SPOT_FRACTION * state.flux
            spots.append((centre, sign, spot_flux, np.random.default_rng([sun.seed, STREAMS["elements"], ar.key, k])))
            rng = np.random.default_rng([sun.seed, STREAMS["elements"], ar.key, k, 1])
            plage_mm = np.radians(ar.plage_sigma) * RSUN_MM
            reach = PENUMBRA_RATIO * spot_radius_mm(SPOT_FRACTION * ar.flux)
            elements.append(polarity_elements(rng, centre, sign, state.flux, ar.flux, plage_mm, reach))
    return spots, elements


def _render(sun, t, frame, obs, inst, noise):
    regions = sun.regions(t)
    image = _background(sun, t, frame, obs)
    spots, region_elements = _region_parts(sun, t, regions)
    for centre, sign, flux, rng in spots:
        part = np.zeros_like(image)
        _add_spot(part, frame, obs, centre, flux, rng)
        image += sign * part
    _add_elements(image, frame, obs, *(np.concatenate(a) for a in zip(network_elements(sun.seed, t), *region_elements)))
    if inst["psf_fwhm"]:
        image = ndimage.gaussian_filter(image, inst["psf_fwhm"] / 2.3548 / frame.cdelt, mode="nearest")
    image *= inst["gain"]
    # the field of view is in the seed: crops of one time at other places get their own noise
    where = [int(round(c * 1000)) % 2**32 for c in frame.centre]
    rng = np.random.default_rng([sun.seed, STREAMS["noise"], int(t), frame.size, int(frame.cdelt * 1000), *where])
    image = np.clip(image + rng.normal(0.0, noise, image.shape), -inst["clip"], inst["clip"])
    # On/off disk is decided by the pixel centre, like the NaN mask of HMI products.
    image[~disk_coordinates(*frame.grid(), obs)["on"]] = np.nan
    visible = sum(2.0 * st.flux for st in regions if st.visible)
    return image.astype(np.float32), visible


def pointing_error(seed, t, instrument):
    """``(dx, dy, roll)``: the instrument's seeded pointing offset (arcsec) and roll (deg) at ``t``.

    Zero for HMI. MDI's scatter by a couple of arcsec and up to 0.08 deg of roll (within the
    tolerance that ``orient.north_up`` turns without interpolating); its header states them,
    so WCS reprojection co-registers MDI onto HMI exactly.
    """
    inst = INSTRUMENTS[instrument]
    if not inst["pointing"] and not inst["roll"]:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng([int(seed), STREAMS["pointing"], int(t)])
    dx, dy = rng.normal(0.0, inst["pointing"], 2)
    return float(dx), float(dy), float(rng.uniform(-inst["roll"], inst["roll"]))


def synth_magnetogram(seed, size=256, instrument="hmi", date_obs=None, cdelt=None, center=(0.0, 0.0), noise=None):
    """Render a synthetic line-of-sight magnetogram.

    The data are synthetic: a seeded Sun (`SyntheticSun`) with bipolar active regions
    (Hale's law with cycle-24 orientation, Joy's tilt, flux balanced; sunspots with
    penumbral filaments, pores, plage), the network on supergranule boundaries and the
    instrument's noise, seen along the line of sight and averaged over pixels (module notes).

    Parameters
    ----------
    seed : int
        Seed of the synthetic history.
    size : int
        Image side in pixels.
    instrument : {"hmi", "mdi"}
        Plate scale, observer (SDO at Earth or SOHO at L1), PSF, calibration, noise, pointing
        and header flavour (:data:`INSTRUMENTS`).
    date_obs : str or time-like, optional
        Observation time; default the history's start (2011-01-01T00:00:00).
    cdelt : float, optional
        Pixel size (arcsec). Default: the full disk (0.504*4096/size for HMI,
        1.986*1024/size for MDI); when given, a ``size x size`` field of view
        centred on ``center``.
    center : tuple of float
        Sky position (arcsec) of the image centre when ``cdelt`` is given (MDI adds its
        pointing offset, :func:`pointing_error`).
    noise : float, optional
        Noise (G, 1 sigma) instead of the instrument's; 0 renders the field alone.

    Returns
    -------
    sunpy.map.GenericMap
        An HMIMap or MDIMap, float32 Gauss, NaN off the solar disk.
    """
    instrument = instrument.lower()
    if instrument not in INSTRUMENTS:
        raise ValueError(f"instrument must be 'hmi' or 'mdi', not {instrument!r}")
    inst = INSTRUMENTS[instrument]
    sun = SyntheticSun(seed)
    t = sun.start if date_obs is None else to_seconds(date_obs)
    if cdelt is None:
        cdelt, center = inst["pixel"] * inst["ref"] / size, (0.0, 0.0)
    dx, dy, roll = pointing_error(seed, t, instrument)
    center = (float(center[0]) + dx, float(center[1]) + dy)
    obs = observer_at(t, 1.0 if instrument == "hmi" else SOHO_DISTANCE_FACTOR)
    frame = _Frame(size, cdelt, center, roll)
    data, flux = _render(sun, t, frame, obs, inst, inst["noise"] if noise is None else float(noise))
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
    h["CROTA2"] = (roll, "[deg] roll of the image (pointing)")
    h["WAVEUNIT"] = "angstrom"
    h["HGFLUX"] = (float(flux), "[Mx] radial AR flux, both poles, centre visible")
    h["HGNOISE"] = (inst["noise"] if noise is None else float(noise), "[G] synthetic noise, 1 sigma")
    return sunpy.map.Map(data, h)
