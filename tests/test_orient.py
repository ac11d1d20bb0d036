"""North-up re-orientation: quarter turns are exact pixel permutations with the residual roll in the WCS."""

import astropy.units as u
import numpy as np
import pytest
import sunpy.map

from heliogen.data.magnetogram import preprocess_magnetogram
from heliogen.data.orient import EXACT, INTERPOLATED, ROLL_TOLERANCE_DEG, north_up, roll_deg
from heliogen.data.synth import synth_magnetogram
from heliogen.evaluate.metrics.fourier import small_scale_power

HMI_CDELT = 0.504


def _rolled(data, crota2, cdelt=HMI_CDELT):
    """An HMI-like map of ``data`` at disk centre with roll CROTA2 (deg)."""
    ny, nx = data.shape
    header = {"CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "CUNIT1": "arcsec", "CUNIT2": "arcsec",
              "CDELT1": cdelt, "CDELT2": cdelt, "CRPIX1": (nx + 1) / 2 + 3.25, "CRPIX2": (ny + 1) / 2 - 1.5,
              "CRVAL1": 12.0, "CRVAL2": -7.0, "CROTA2": crota2, "DATE-OBS": "2011-01-01T00:00:00",
              "TELESCOP": "SDO/HMI", "INSTRUME": "HMI_FRONT2", "CONTENT": "MAGNETOGRAM", "BUNIT": "Gauss",
              "DSUN_OBS": 1.47e11, "HGLN_OBS": 0.0, "HGLT_OBS": -3.0, "RSUN_OBS": 975.0}
    return sunpy.map.Map(data.astype(np.float64), header)


@pytest.fixture(scope="module")
def fine_field():
    """White noise: a known share of its power lies beyond the 2" circle (scales MDI cannot carry)."""
    return np.random.default_rng(0).normal(0.0, 100.0, (128, 128))


@pytest.mark.parametrize("crota2", [180.0, 179.93, 180.0 + ROLL_TOLERANCE_DEG * 0.99, 90.03, -90.0, 270.0, 0.05])
def test_turns_within_tolerance_are_exact_and_keep_every_pixel_on_its_sky_position(crota2, fine_field):
    src = _rolled(fine_field[:, :96], crota2)  # not square: quarter turns swap the axes
    out, how, residual = north_up(src)
    assert how == (EXACT if abs(crota2) > 1e-3 else "")
    want = crota2 - 90 * round(crota2 / 90)
    assert residual == pytest.approx(want, abs=1e-9) and roll_deg(out) == pytest.approx(want, abs=1e-9)
    k = round(crota2 / 90) % 4
    assert out.data.shape == (src.data.shape if k % 2 == 0 else src.data.shape[::-1])
    # the same values, permuted: each output pixel is the source pixel at the same sky position
    ys, xs = np.mgrid[0:out.data.shape[0]:7, 0:out.data.shape[1]:5]
    sky = out.pixel_to_world(xs.ravel() * u.pix, ys.ravel() * u.pix)
    sx, sy = (np.asarray(v) for v in src.world_to_pixel(sky))
    np.testing.assert_allclose(sx, np.rint(sx), atol=1e-6)
    np.testing.assert_allclose(sy, np.rint(sy), atol=1e-6)
    np.testing.assert_array_equal(out.data[ys.ravel(), xs.ravel()], src.data[np.rint(sy).astype(int), np.rint(sx).astype(int)])


def test_exact_turn_keeps_the_power_beyond_2_arcsec_an_order_1_rotation_loses(fine_field):
    src = _rolled(fine_field, 180.0)
    out, how, _ = north_up(src)
    inner = slice(16, -16)  # away from the NaN border of the interpolated rotation
    truth = small_scale_power(fine_field[inner, inner], HMI_CDELT)
    # white noise: the share of frequency bins outside the circle of radius 0.25 cycles/arcsec
    assert truth == pytest.approx(100.0**2 * (1 - np.pi * (0.25 * HMI_CDELT) ** 2), rel=0.03)
    assert small_scale_power(out.data[inner, inner], HMI_CDELT) / truth == pytest.approx(1.0, abs=1e-12)
    # the former path, for scale: bilinear rotation by 180 deg +- a hair
    old = _rolled(fine_field, 179.93).rotate(order=1, missing=0.0)
    kept = small_scale_power(np.asarray(old.data)[inner, inner], HMI_CDELT) / truth
    assert kept < 0.95  # 0.89 here; about half where the pixel grid lands half a pixel off


def test_beyond_tolerance_rotates_by_interpolation_and_says_so(fine_field):
    smap = synth_magnetogram(2, size=128)
    meta = smap.meta.copy()
    meta["crota2"] = 30.0
    out, how, residual = north_up(sunpy.map.Map(smap.data, meta))
    assert how == INTERPOLATED and residual == 0.0 and roll_deg(out) == pytest.approx(0.0, abs=1e-9)
    (rec,) = preprocess_magnetogram(sunpy.map.Map(smap.data, meta), 32)
    assert rec.fields["reorient"] == INTERPOLATED and rec.fields["roll"] == pytest.approx(0.0, abs=1e-9)


def test_a_north_up_map_is_left_alone(fine_field):
    src = _rolled(fine_field, 0.0)
    out, how, residual = north_up(src)
    assert out is src and how == "" and residual == 0.0
    (rec,) = preprocess_magnetogram(src, 16)
    assert rec.fields["reorient"] == "" and rec.fields["roll"] == 0.0


def test_a_cd_matrix_header_keeps_its_pixel_size(fine_field):
    src = _rolled(fine_field, 180.0)
    meta = src.meta.copy()
    for key in ("cdelt1", "cdelt2", "crota2"):
        meta.pop(key)
    meta.update({"cd1_1": -HMI_CDELT, "cd1_2": 0.0, "cd2_1": 0.0, "cd2_2": -HMI_CDELT})  # the same 180 deg roll as a CD matrix
    cd = sunpy.map.Map(src.data, meta)
    out, how, residual = north_up(cd)
    assert how == EXACT and abs(residual) < 1e-9
    assert out.scale.axis1.to_value("arcsec/pix") == pytest.approx(HMI_CDELT)
    sky = out.pixel_to_world([3, 90] * u.pix, [7, 40] * u.pix)
    want = cd.pixel_to_world([124, 37] * u.pix, [120, 87] * u.pix)
    np.testing.assert_allclose(sky.Tx.to_value(u.arcsec), want.Tx.to_value(u.arcsec), atol=1e-6)
