"""The synthetic Sun's small scales: exact pixel averages, spots that hold their flux, network
on cell boundaries, power beyond 2" over HMI's noise, and MDI as the same Sun through MDI."""

import warnings

import numpy as np
import pytest
import sunpy.map
from scipy import integrate, ndimage
from scipy.spatial import cKDTree

from heliogen.data.magnetogram import strongest_region_pixel
from heliogen.data.synth import synth_magnetogram
from heliogen.data.synth.elements import render_elements
from heliogen.data.synth.geometry import observer_at, project, sphere_vectors
from heliogen.data.synth.magnetogram import INSTRUMENTS, _add_elements, _add_spot, _Frame
from heliogen.data.synth.timeutil import to_seconds
from heliogen.evaluate.metrics.physics import unsigned_flux
from heliogen.data.synth.network_elements import boundary_points, network_elements
from heliogen.data.synth.sunspots import PENUMBRA_RATIO, spot_b0, spot_field, spot_radius_mm
from heliogen.evaluate.metrics.fourier import small_scale_power

DATE = "2011-01-09T12:00:00"
HMI = INSTRUMENTS["hmi"]


def test_elements_render_as_exact_pixel_averages():
    rng = np.random.default_rng(0)
    n, cdelt, area = 40, 0.5, 5.2e15
    u, v = rng.uniform(7.5, 12.5, n), rng.uniform(7.5, 12.5, n)  # 6 sigma from every edge
    sigma, phi = rng.uniform(0.05, 1.2, n), rng.normal(0, 1e18, n)
    coarse, fine = np.zeros((40, 40)), np.zeros((160, 160))
    render_elements(coarse, u, v, sigma, phi, 0.0, 0.0, cdelt, area)
    render_elements(fine, u, v, sigma, phi, 0.0, 0.0, cdelt / 4, area)
    # a 4x4 block mean of a finer render is the coarse render: the same flux in the same pixels
    np.testing.assert_allclose(fine.reshape(40, 4, 40, 4).mean(axis=(1, 3)), coarse, rtol=0, atol=1e-7 * np.abs(coarse).max())
    assert coarse.sum() * cdelt**2 * area == pytest.approx(phi.sum(), rel=1e-7)  # every element lies well inside
    # one pixel against direct integration of the Gaussian over its square
    one = np.zeros((40, 40))
    render_elements(one, [5.3], [6.1], [0.4], [1e18], 0.0, 0.0, cdelt, area)
    g = lambda y, x: np.exp(-((x - 5.3) ** 2 + (y - 6.1) ** 2) / (2 * 0.4**2)) / (2 * np.pi * 0.4**2)  # noqa: E731
    want = integrate.dblquad(g, 5.0, 5.5, 6.0, 6.5)[0] * 1e18 / (cdelt**2 * area)
    assert one[12, 10] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("flux", [3e20, 3.5e21, 2e22])
def test_spot_holds_its_flux_with_an_umbra_and_a_filamentary_penumbra(flux):
    r_u = spot_radius_mm(flux)
    r = np.linspace(0.0, (PENUMBRA_RATIO + 1.5) * r_u, 3001)
    theta = np.linspace(-np.pi, np.pi, 2048, endpoint=False)
    field = spot_field(flux, np.random.default_rng(1), r[:, None], theta[None, :])
    ring = field.mean(axis=1)  # the filaments average out over azimuth
    assert np.trapezoid(2 * np.pi * r * ring, r) * 1e16 == pytest.approx(flux, rel=5e-3)  # Mm^2 -> cm^2
    assert field[0, 0] == pytest.approx(spot_b0(flux)) and 1800 <= spot_b0(flux) <= 3300
    umbra, penumbra = r < 0.9 * r_u, (r > 1.5 * r_u) & (r < 2.0 * r_u)
    assert field[umbra].std(axis=-1).max() < 1e-9 * spot_b0(flux)  # no filaments in the umbra
    contrast = field[penumbra].std(axis=1) / field[penumbra].mean(axis=1)
    assert contrast.mean() == pytest.approx(0.3, abs=0.06)  # the filaments' 30 % modulation
    # filaments every ~1.1 Mm at the outer edge: count sign changes of the modulation around the spot
    edge = field[np.searchsorted(r, 2.2 * r_u)]
    crossings = np.count_nonzero(np.diff(np.sign(edge - edge.mean())))
    assert 0.5 < crossings / 2 / (2 * np.pi * 2.2 * r_u / 1.1) < 2.0


@pytest.mark.parametrize("lon", [0.0, 55.0])
def test_elements_and_spots_seen_off_centre_give_back_their_flux(lon):
    """Rendered at mu ~ 0.55 as well as at disk centre, the mu-corrected flux that the physics
    metrics measure (sum |B_los| A / mu^2) is the radial flux put in: B_r mu on a foreshortened area."""
    obs = observer_at(to_seconds(DATE))
    centre = sphere_vectors(10.0, lon)
    xn, yn, _ = project(centre, obs.b0)
    frame = _Frame(160, 0.5, (xn * obs.rsun_obs, yn * obs.rsun_obs), 0.0)
    header = {"CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "CUNIT1": "arcsec", "CUNIT2": "arcsec", "CDELT1": 0.5,
              "CDELT2": 0.5, "CRPIX1": 80.5, "CRPIX2": 80.5, "CRVAL1": frame.centre[0], "CRVAL2": frame.centre[1],
              "DSUN_OBS": obs.dsun, "RSUN_OBS": obs.rsun_obs}
    element = np.zeros((160, 160))
    _add_elements(element, frame, obs, centre[None, :], np.array([2e19]), np.array([3e7]))
    assert unsigned_flux(element, header, mu_correction=True) == pytest.approx(2e19, rel=0.01)
    spot = np.zeros((160, 160))
    _add_spot(spot, frame, obs, centre, 1e21, np.random.default_rng(0))
    assert unsigned_flux(spot, header, mu_correction=True) == pytest.approx(1e21, rel=0.02)


def test_network_elements_lie_on_cell_boundaries_and_keep_their_flux():
    rng = np.random.default_rng(2)
    cells = rng.normal(size=(3000, 3))
    cells /= np.linalg.norm(cells, axis=1, keepdims=True)
    lane = 0.004

    def boundary_distance(p):
        d, _ = cKDTree(cells).query(p, k=2)
        return 0.5 * (d[:, 1] - d[:, 0])

    on_lanes = boundary_distance(boundary_points(rng, cells, 20000, lane))
    uniform = rng.normal(size=(20000, 3))
    uniform = boundary_distance(uniform / np.linalg.norm(uniform, axis=1, keepdims=True))
    # kept with a Gaussian of the boundary distance: a median under 0.674 lane (a half-normal's),
    # where points that ignore the cells lie ~3x farther out
    assert np.median(on_lanes) < 0.7 * lane and np.median(uniform) > 1.3 * lane
    # the network's unsigned flux is the same through a day's fade into the next
    totals = [np.abs(network_elements(5, 4e8 + h * 3600.0)[1]).sum() for h in (0, 5, 11, 17, 23)]
    np.testing.assert_allclose(totals, totals[0], rtol=0.02)


def _crop(center, noise=0.0, size=128):
    return synth_magnetogram(2, size, date_obs=DATE, cdelt=HMI["pixel"], center=center, noise=noise).data.astype(float)


@pytest.fixture(scope="module")
def active_centre():
    import astropy.units as u

    full = synth_magnetogram(2, 256, date_obs=DATE, noise=0)
    x, y = strongest_region_pixel(full.data, 2)
    c = full.pixel_to_world(x * u.pix, y * u.pix)
    return float(c.Tx.to_value("arcsec")), float(c.Ty.to_value("arcsec"))


@pytest.mark.parametrize("scale", [2.0, 1.0])  # beyond the 2" circle (f > 1/4"), and periods under 2" (f > 1/2")
def test_power_beyond_2_arcsec_stands_above_hmi_noise(active_centre, scale):
    noise = np.random.default_rng(3).normal(0.0, HMI["noise"], (128, 128))
    floor = small_scale_power(noise, HMI["pixel"], scale)
    share = 1 - np.pi * (HMI["pixel"] / (2 * scale)) ** 2  # white noise: the frequency bins beyond the cut
    assert floor == pytest.approx(HMI["noise"] ** 2 * share, rel=0.05)
    active = _crop(active_centre)
    assert np.abs(active).max() > 1500  # the crop is on the spot
    assert small_scale_power(active, HMI["pixel"], scale) / floor >= 5
    for date in ("2011-01-09T00:00:00", DATE):  # between two days' networks, and on one
        quiet = synth_magnetogram(2, 128, date_obs=date, cdelt=HMI["pixel"], center=(-150.0, -300.0), noise=0).data.astype(float)
        assert small_scale_power(quiet, HMI["pixel"], scale) / floor >= 2
        assert 1.0 < np.abs(quiet).mean() < 15.0  # a quiet Sun as weak as HMI sees one, not a plage


def test_noise_is_its_own_at_each_place_and_time():
    a, b = (synth_magnetogram(2, 32, date_obs=DATE, cdelt=0.5, center=c).data - synth_magnetogram(2, 32, date_obs=DATE, cdelt=0.5, center=c, noise=0).data
            for c in ((-150.0, -300.0), (150.0, 300.0)))
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.1
    assert np.std(a) == pytest.approx(HMI["noise"], rel=0.1)


def test_mdi_roll_turns_the_image_the_way_its_header_says(monkeypatch):
    """With an exaggerated roll, MDI reprojected through its header lines up with HMI; the
    opposite sign would not."""
    import heliogen.data.synth.magnetogram as synth_module

    monkeypatch.setattr(synth_module, "pointing_error", lambda seed, t, inst: (1.5, -2.0, 10.0) if inst == "mdi" else (0.0, 0.0, 0.0))
    mdi = synth_magnetogram(2, 64, "mdi", date_obs=DATE, cdelt=4.0, center=(-400.0, 300.0), noise=0)
    assert mdi.meta["crota2"] == 10.0
    hmi = synth_magnetogram(2, 256, "hmi", date_obs=DATE, cdelt=1.0, center=(-400.0, 300.0), noise=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seen = np.nan_to_num(mdi.reproject_to(hmi.wcs, algorithm="interpolation").data)
        flipped = sunpy.map.Map(mdi.data, dict(mdi.meta, crota2=-mdi.meta["crota2"]))
        wrong = np.nan_to_num(flipped.reproject_to(hmi.wcs, algorithm="interpolation").data)
    truth = ndimage.gaussian_filter(hmi.data.astype(float), 3.0)
    inner = (slice(40, -40), slice(40, -40))
    assert np.corrcoef(seen[inner].ravel(), truth[inner].ravel())[0, 1] > 0.9
    assert np.corrcoef(wrong[inner].ravel(), truth[inner].ravel())[0, 1] < 0.7


def test_mdi_is_the_hmi_sun_through_mdi():
    """HMI reprojected onto MDI's frame (its offset, roll, SOHO's vantage) and blurred by MDI's
    PSF is MDI over 1.4: the instrument model, checked through WCS alone."""
    mdi = synth_magnetogram(2, 64, "mdi", date_obs=DATE, cdelt=4.0, center=(-400.0, 300.0), noise=0)
    hmi = synth_magnetogram(2, 320, "hmi", date_obs=DATE, cdelt=1.0, center=(-400.0, 300.0), noise=0)
    assert 0 < abs(mdi.meta["crota2"]) <= INSTRUMENTS["mdi"]["roll"]
    assert (mdi.meta["crval1"], mdi.meta["crval2"]) != (-400.0, 300.0)  # its pointing offset, stated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seen = hmi.reproject_to(mdi.wcs, algorithm="exact").data
    seen = ndimage.gaussian_filter(np.nan_to_num(seen), 3.32 / 2.3548 / 4.0, mode="nearest")  # the published FWHM
    inner = (slice(6, -6), slice(6, -6))
    a, b = seen[inner].ravel(), mdi.data[inner].ravel() / 1.4
    assert np.corrcoef(a, b)[0, 1] > 0.999
    assert np.polyfit(a, b, 1)[0] == pytest.approx(1.0, abs=0.02)
    assert np.abs(a - b).mean() < 0.05 * np.abs(b).mean()
    noisy = synth_magnetogram(2, 64, "mdi", date_obs=DATE, cdelt=4.0, center=(-400.0, 300.0))
    assert np.nanstd(noisy.data - mdi.data) == pytest.approx(INSTRUMENTS["mdi"]["noise"], rel=0.05)
