"""Physical metrics of magnetograms against known answers: pixel areas, mu, fluxes, AR areas, crops.

Every expected value is derived here from geometry or a formula written independently of
``heliogen.evaluate.metrics.physics`` (small rectangles of known field, spherical caps,
the FITS pixel convention worked by hand).
"""

import math
import types

import numpy as np
import pytest

from heliogen.errors import HeliogenError
from heliogen.evaluate.metrics import physics

AU_M = 1.495978707e11


def _side_cm(cdelt_arcsec, dsun_m=AU_M):
    """Plane-of-sky side (cm) of a pixel of ``cdelt_arcsec`` seen from ``dsun_m``."""
    return dsun_m * 100.0 * math.tan(math.radians(cdelt_arcsec / 3600.0))


def _header(ny, nx, cdelt=1.0, rsun=None, dsun=AU_M, **extra):
    h = {"CDELT1": cdelt, "CDELT2": cdelt, "DSUN_OBS": dsun, "CRVAL1": 0.0, "CRVAL2": 0.0,
         "CRPIX1": (nx + 1) / 2, "CRPIX2": (ny + 1) / 2}
    if rsun is not None:
        h["RSUN_OBS"] = rsun
    h.update(extra)
    return h


# --- pixel area and header parsing -------------------------------------------------------


def test_pixel_area_is_the_product_of_the_two_projected_sides():
    # One arcsec at 1 AU is about 725 km; a 2" x 0.5" pixel is that squared times 1.
    assert _side_cm(1.0) == pytest.approx(7.2527e7, rel=1e-4)
    assert physics.pixel_area_cm2(2.0, 0.5, AU_M) == pytest.approx(_side_cm(2.0) * _side_cm(0.5), rel=1e-12)
    assert physics.pixel_area_cm2(1.0, 1.0, 2 * AU_M) == pytest.approx(4 * _side_cm(1.0) ** 2, rel=1e-12)
    # Any positive distance is accepted, even below a metre: 0.5 m away, 1" is 2.42 um.
    assert physics.pixel_area_cm2(1.0, 1.0, 0.5) == pytest.approx(_side_cm(1.0, 0.5) ** 2, rel=1e-12)


@pytest.mark.parametrize("args", [(0.0, 1.0, AU_M), (1.0, 0.0, AU_M), (1.0, 1.0, 0.0), (-1.0, 1.0, AU_M)])
def test_pixel_area_rejects_non_positive_sizes(args):
    with pytest.raises(HeliogenError, match=r"pixel size and distance must be positive \(CDELT"):
        physics.pixel_area_cm2(*args)


@pytest.mark.parametrize("unit, factor", [("arcsec", 1.0), ("deg", 3600.0), ("arcmin", 60.0), (" ARCMIN ", 60.0),
                                          ("rad", 180 * 3600 / math.pi)])
def test_header_pixel_area_converts_cunit_per_axis(unit, factor):
    # CDELT1 given in ``unit`` (0.5" worth of it), CDELT2 in arcsec: the area is 0.5" x 2".
    h = {"CDELT1": -0.5 / factor, "CUNIT1": unit, "CDELT2": 2.0, "CUNIT2": "arcsec", "DSUN_OBS": AU_M}
    assert physics.header_pixel_area(h) == pytest.approx(_side_cm(0.5) * _side_cm(2.0), rel=1e-9)


def test_header_keys_are_case_insensitive_and_default_to_arcsec():
    h = {"cdelt1": 0.5, "cdelt2": 0.5, "dsun_obs": AU_M}
    assert physics.header_pixel_area(h) == pytest.approx(_side_cm(0.5) ** 2, rel=1e-12)
    # A sunpy map carries its header in ``.meta``.
    smap = types.SimpleNamespace(meta=h)
    assert physics.header_pixel_area(smap) == pytest.approx(_side_cm(0.5) ** 2, rel=1e-12)


@pytest.mark.parametrize("header, message", [
    (None, "a FITS header (CDELT1/2, DSUN_OBS) is needed for physical units"),
    ({"CDELT1": 1.0, "CDELT2": 1.0}, "the header has no DSUN_OBS (needed for the pixel area)"),
    ({"CDELT2": 1.0, "DSUN_OBS": AU_M}, "the header has no CDELT1 (needed for the pixel area)"),
    ({"CDELT1": 1.0, "DSUN_OBS": AU_M}, "the header has no CDELT2 (needed for the pixel area)"),
    ({"CDELT1": 1.0, "CDELT2": 1.0, "CUNIT2": "furlong", "DSUN_OBS": AU_M}, "unsupported CUNIT2 'furlong'"),
])
def test_header_pixel_area_errors_name_the_missing_piece(header, message):
    with pytest.raises(HeliogenError) as err:
        physics.header_pixel_area(header)
    assert str(err.value) == message


# --- mu ----------------------------------------------------------------------------------


def test_mu_map_follows_the_fits_pixel_convention_on_a_non_square_map():
    # 5 rows x 7 columns of 1" pixels, disk radius 5", CRPIX at the 1-based centre (4, 3):
    # pixel (row j, column i) sits at x = i - 3, y = j - 2 arcsec.
    h = _header(5, 7, rsun=5.0)
    mu = physics.mu_map((5, 7), h)
    assert mu.shape == (5, 7)
    j, i = np.mgrid[:5, :7]
    r2 = ((i - 3.0) ** 2 + (j - 2.0) ** 2) / 25.0
    np.testing.assert_allclose(mu, np.sqrt(np.maximum(1 - r2, 0)), atol=1e-15)
    assert mu[2, 3] == 1.0 and mu[2, 0] == pytest.approx(0.8) and mu[0, 0] == pytest.approx(math.sqrt(1 - 13 / 25))
    # Default CRPIX is the same centre; a leading axis in the shape is ignored.
    no_crpix = {k: v for k, v in h.items() if not k.startswith("CRPIX")}
    np.testing.assert_array_equal(physics.mu_map((3, 5, 7), no_crpix), mu)


def test_mu_map_honours_crval_crpix_and_cdelt_per_axis():
    # 9 rows x 11 columns, 2" pixels along x and 0.5" along y, reference pixel (3, 4) (1-based)
    # pointing at (2", -2"). Column i: x = 2 + (i + 1 - 3) 2 = 0 at i = 1;
    # row j: y = -2 + (j + 1 - 4) 0.5 = 0 at j = 7.
    h = _header(9, 11, rsun=4.0, CRVAL1=2.0, CRVAL2=-2.0, CDELT1=2.0, CDELT2=0.5, CRPIX1=3.0, CRPIX2=4.0)
    mu = physics.mu_map((9, 11), h)
    assert mu[7, 1] == 1.0
    assert mu[7, 2] == pytest.approx(math.sqrt(1 - 4 / 16))   # x = 2"
    assert mu[3, 1] == pytest.approx(math.sqrt(1 - 4 / 16))   # y = -2"
    assert mu[7, 4] == 0.0                                      # x = 6": off the disk
    # Without CRVAL the reference pixel points at disk centre.
    h = {"CDELT1": 2.0, "CDELT2": 0.5, "CRPIX1": 3.0, "CRPIX2": 4.0, "RSUN_OBS": 4.0}
    mu = physics.mu_map((9, 11), h)
    assert mu[3, 2] == 1.0 and mu[3, 3] == pytest.approx(math.sqrt(1 - 4 / 16)) and mu[7, 2] == pytest.approx(math.sqrt(1 - 4 / 16))


def test_mu_map_radius_from_dsun_when_rsun_obs_is_missing():
    # Seen from 100 solar radii the disk radius is asin(1/100) rad = 2062.68" (not 2062.65",
    # the small-angle value).
    h = _header(1, 3, cdelt=1000.0, dsun=100 * physics.RSUN_M)
    rsun = math.degrees(math.asin(0.01)) * 3600
    mu = physics.mu_map((1, 3), h)
    assert mu[0, 0] == pytest.approx(math.sqrt(1 - (1000.0 / rsun) ** 2), rel=1e-12)


@pytest.mark.parametrize("extra, message", [
    ({"CTYPE1": "XOFFSET", "WCSNAME": "crop"},
     "mu needs a helioprojective pointing, but the header's axes are 'XOFFSET' (crop); turn the mu correction off"),
    ({"CTYPE1": "pixel"},
     "mu needs a helioprojective pointing, but the header's axes are 'PIXEL' (no WCSNAME); turn the mu correction off"),
])
def test_mu_map_refuses_non_solar_axes(extra, message):
    with pytest.raises(HeliogenError) as err:
        physics.mu_map((4, 4), _header(4, 4, rsun=900.0, **extra))
    assert str(err.value) == message


def test_mu_map_accepts_solar_x_axes_and_needs_a_radius():
    h = _header(3, 3, rsun=10.0, CTYPE1="solar-x")
    assert physics.mu_map((3, 3), h)[1, 1] == 1.0
    h = {"CDELT1": 1.0, "CDELT2": 1.0}
    with pytest.raises(HeliogenError, match=r"^the header has neither RSUN_OBS nor DSUN_OBS \(needed for mu\)$"):
        physics.mu_map((3, 3), h)


# --- fluxes ------------------------------------------------------------------------------


def test_flux_of_rectangles_of_known_field():
    # 3 x 4 px at +500 G and 2 x 5 px at -200 G, NaN and inf pixels count as 0 G.
    b = np.zeros((10, 12))
    b[1:4, 1:5] = 500.0
    b[6:8, 2:7] = -200.0
    b[9, 11], b[0, 11] = np.nan, np.inf
    a = 3.5e15
    assert physics.unsigned_flux(b, pixel_area=a) == pytest.approx((12 * 500 + 10 * 200) * a, rel=1e-12)
    assert physics.net_flux(b, pixel_area=a) == pytest.approx((12 * 500 - 10 * 200) * a, rel=1e-12)
    b[0, 10] = -np.inf
    h = {"CDELT1": 0.5, "CDELT2": 0.5, "DSUN_OBS": AU_M}
    assert physics.net_flux(b, h) == pytest.approx(4000 * _side_cm(0.5) ** 2, rel=1e-12)


def test_flux_of_integer_maps_and_single_pixels():
    # An int16 map holding -32768 G: |B| is 32768 G, not the wrapped int16 value.
    b = np.array([[-32768, 100]], dtype=np.int16)
    assert physics.unsigned_flux(b, pixel_area=2.0) == pytest.approx(2.0 * 32868)
    assert physics.ar_area(b)["pixels"] == 1
    assert physics.unsigned_flux(np.array([[-7.0]]), pixel_area=3.0) == pytest.approx(21.0)


@pytest.mark.parametrize("data, message", [
    (np.zeros((2, 3, 3)), "a magnetogram must be 2-D, not shape (2, 3, 3)"),
    (np.full((3, 3), np.nan), "the magnetogram has no finite pixel"),
    (np.zeros((0, 3)), "the magnetogram has no finite pixel"),
])
def test_flux_rejects_unusable_maps(data, message):
    with pytest.raises(HeliogenError) as err:
        physics.unsigned_flux(data, pixel_area=1.0)
    assert str(err.value) == message


def _radial_disk():
    # 11 x 11 map of 1" pixels, disk radius 5": every on-disk pixel has a known mu.
    h = _header(11, 11, rsun=5.0, dsun=AU_M)
    j, i = np.mgrid[:11, :11]
    mu = np.sqrt(np.maximum(1 - ((i - 5.0) ** 2 + (j - 5.0) ** 2) / 25.0, 0))
    return h, mu


def test_mu_corrected_flux_is_radial_field_times_true_area():
    # B_los = mu B_r with B_r = 10 G: corrected flux per pixel is 10 A / mu over mu >= mu_min.
    h, mu = _radial_disk()
    a = 2.0
    field = -10.0 * mu
    for mu_min in (0.1, 0.5, 0.9):
        keep = mu >= mu_min
        expected = np.sum(10.0 * a / mu[keep])
        assert physics.unsigned_flux(field, h, pixel_area=a, mu_correction=True, mu_min=mu_min) == pytest.approx(expected)
        assert physics.net_flux(field, h, pixel_area=a, mu_correction=True, mu_min=mu_min) == pytest.approx(-expected)
    # The default mu_min is 0.1 (about 84 deg from disk centre).
    keep = mu >= 0.1
    assert physics.unsigned_flux(field, h, pixel_area=a, mu_correction=True) == pytest.approx(np.sum(10 * a / mu[keep]))
    assert physics.net_flux(field, h, pixel_area=a, mu_correction=True) == pytest.approx(-np.sum(10 * a / mu[keep]))


def test_mu_correction_keeps_a_pixel_exactly_at_mu_min():
    # A uniform 1 G map: each kept pixel weighs A / mu^2; the pixel whose mu equals mu_min is kept.
    h, _ = _radial_disk()
    mu = physics.mu_map((11, 11), h)
    mu_min = mu[5, 9]                      # 4" from centre: mu = 0.6
    keep = mu >= mu_min
    field = np.ones((11, 11))
    expected = np.sum(1.0 / mu[keep] ** 2)
    assert physics.unsigned_flux(field, h, pixel_area=1.0, mu_correction=True, mu_min=mu_min) == pytest.approx(expected)
    # Without a pixel area the header's CDELT and DSUN_OBS give it.
    got = physics.unsigned_flux(field, h, mu_correction=True, mu_min=mu_min)
    assert got == pytest.approx(expected * _side_cm(1.0) ** 2, rel=1e-12)


# --- active regions ----------------------------------------------------------------------


def test_ar_mask_thresholds_strictly_and_fills_holes():
    b = np.zeros((12, 12))
    b[1:6, 1:6] = 350.0          # a 5 x 5 ring of strong field around a weak centre ...
    b[2:5, 2:5] = 10.0           # ... whose 3 x 3 hole is inside the contour
    b[8, 8] = 300.0              # exactly at the default threshold: not above it
    b[10, 1] = -301.0            # just above it, negative polarity
    mask = physics.ar_mask(b)
    expected = np.zeros((12, 12), bool)
    expected[1:6, 1:6] = True
    expected[10, 1] = True
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(physics.ar_mask(b, threshold=5.0), np.abs(b) > 0)
    np.testing.assert_array_equal(physics.ar_mask(b * 0.1, threshold=0.5), np.abs(b) > 0)   # any positive threshold


@pytest.mark.parametrize("threshold", [0.0, -300.0, float("nan")])
def test_ar_mask_needs_a_positive_threshold(threshold):
    with pytest.raises(HeliogenError, match=r"^the active-region threshold must be positive, not "):
        physics.ar_mask(np.ones((3, 3)), threshold)


def test_ar_area_counts_pixels_regions_and_area():
    b = np.zeros((10, 10))
    b[0:2, 0:2] = 400.0
    b[2:4, 2:4] = -400.0         # touches the first block at one corner: one region (8-connectivity)
    b[7:9, 5:9] = 900.0          # 8 px, separate
    got = physics.ar_area(b, pixel_area=2.5)
    assert got == {"pixels": 16, "regions": 2, "threshold_G": 300.0, "cm2": 40.0}
    assert physics.ar_area(b, threshold=500.0) == {"pixels": 8, "regions": 1, "threshold_G": 500.0}


def test_percent_error_known_values_and_errors():
    assert physics.percent_error(110.0, 100.0) == pytest.approx(10.0)
    assert physics.percent_error(-90.0, -100.0) == pytest.approx(10.0)   # relative to |target|
    assert physics.percent_error(-110.0, -100.0) == pytest.approx(-10.0)
    with pytest.raises(HeliogenError, match=r"^percent error relative to a zero target is undefined$"):
        physics.percent_error(1.0, 0.0)
    for pred, target in ((math.nan, 1.0), (1.0, math.inf)):
        with pytest.raises(HeliogenError, match=r"^percent error of non-finite values$"):
            physics.percent_error(pred, target)


def test_locate_active_region_is_the_peak_of_the_smoothed_field():
    # Two point sources 16 px apart: the peak of the sum of two Gaussians moves with the
    # smoothing width (closed form below); default width 8 px.
    b = np.zeros((96, 96))
    b[48, 30], b[48, 46] = 1000.0, -900.0
    x = np.arange(96.0)

    def peak(s):
        return int(np.argmax(1000 * np.exp(-((x - 30) ** 2) / (2 * s**2)) + 900 * np.exp(-((x - 46) ** 2) / (2 * s**2))))

    assert physics.locate_active_region(b) == (peak(8.0), 48)
    assert physics.locate_active_region(b, smooth_px=7.0) == (peak(7.0), 48)
    assert peak(7.0) != peak(8.0)


# --- crops and the combined metrics ------------------------------------------------------


def test_crop_around_centres_and_clamps_on_a_non_square_image():
    a = np.arange(6 * 10).reshape(6, 10)
    crop, corner = physics.crop_around(a, (5, 3), 4)
    assert corner == (3, 1)
    np.testing.assert_array_equal(crop, a[1:5, 3:7])
    assert physics.crop_around(a, (0, 0), 4)[1] == (0, 0)
    assert physics.crop_around(a, (99, 99), 4)[1] == (6, 2)
    assert physics.crop_around(a, (9, 5), 6)[1] == (4, 0)      # size equal to the height fits
    np.testing.assert_array_equal(physics.crop_around(a.T, (2, 5), 6)[0], a.T[2:8, 0:6])   # ... and to the width
    one, corner = physics.crop_around(a, (7, 2), 1)
    assert corner == (7, 2) and one.tolist() == [[a[2, 7]]]
    stack = np.stack([a, -a])
    np.testing.assert_array_equal(physics.crop_around(stack, (5, 3), 4)[0], stack[:, 1:5, 3:7])


@pytest.mark.parametrize("size", [7, 11, 0])
def test_crop_around_rejects_sizes_that_do_not_fit(size):
    with pytest.raises(HeliogenError) as err:
        physics.crop_around(np.zeros((6, 10)), (5, 3), size)
    assert str(err.value) == f"crop size {size} does not fit a 6x10 image"


def test_physics_metrics_combine_flux_and_area_errors():
    target = np.zeros((20, 20))
    target[2:7, 2:7] = 400.0                 # 25 px AR, flux 10000 G px
    target[12:14, 12:17] = -200.0            # 10 px below threshold, flux -2000 G px
    pred = target * 1.2
    pred[12:14, 12:17] = -350.0              # now above threshold: AR grows to 35 px
    h = {"CDELT1": 0.5, "CDELT2": 0.5, "DSUN_OBS": AU_M}
    a = _side_cm(0.5) ** 2
    got = physics.physics_metrics(pred, target, h)
    u, n, ar = got["unsigned_flux"], got["net_flux"], got["ar_area"]
    assert u["target_Mx"] == pytest.approx(12000 * a) and u["pred_Mx"] == pytest.approx(15500 * a)
    assert u["percent_error"] == pytest.approx(100 * 3500 / 12000)
    assert n["target_Mx"] == pytest.approx(8000 * a) and n["pred_Mx"] == pytest.approx((12000 - 3500) * a)
    assert n["percent_error"] == pytest.approx(100 * 500 / 8000)
    assert ar == {"pred_px": 35, "target_px": 25, "percent_error": pytest.approx(40.0), "threshold_G": 300.0}
    # Lower threshold passed through to both maps: the -200 G patch of the target now counts too.
    low = physics.physics_metrics(pred, target, pixel_area=1.0, threshold=150.0)["ar_area"]
    assert (low["pred_px"], low["target_px"], low["threshold_G"]) == (35, 35, 150.0)
    # A target with no AR and zero net flux gives None, not NaN.
    flat = np.zeros((20, 20))
    flat[0, 0], flat[0, 1] = 100.0, -100.0
    got = physics.physics_metrics(pred, flat, pixel_area=1.0)
    assert got["net_flux"]["percent_error"] is None and got["ar_area"]["percent_error"] is None
    assert got["ar_area"]["target_px"] == 0 and got["unsigned_flux"]["percent_error"] == pytest.approx(100 * (15500 - 200) / 200)


def test_physics_metrics_pass_the_mu_correction_through():
    h, mu = _radial_disk()
    target = 10.0 * mu
    got = physics.physics_metrics(target * 1.5, target, h, pixel_area=1.0, mu_correction=True)
    keep = mu >= 0.1
    assert got["unsigned_flux"]["target_Mx"] == pytest.approx(np.sum(10.0 / mu[keep]))
    assert got["net_flux"]["pred_Mx"] == pytest.approx(np.sum(15.0 / mu[keep]))
