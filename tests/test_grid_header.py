"""Headers of stored samples and generated images: a crop maps to the sky where its source pixels do."""

import astropy.units as u
import numpy as np
import pytest
import sunpy.map
from astropy.io import fits
from astropy.wcs import WCS

from heliogen.data.build import build_store
from heliogen.data.fitsio import read_map
from heliogen.data.granulation import AUGMENTATIONS, preprocess_granulation
from heliogen.data.grid_header import NO_POINTING_WCSNAME, grid_header_from_store, header_from_fields, sample_header
from heliogen.data.magnetogram import B_CLIP, preprocess_magnetogram
from heliogen.data.store import open_store
from heliogen.data.synth import synth_granulation, synth_magnetogram, write_synth

pytestmark = pytest.mark.filterwarnings("ignore:'datfix' made the change")  # MJD-OBS from DATE-OBS


def _off_centre(smap, dx=3.3, dy=-2.6):
    """The same image with its reference pixel moved off the array centre (a general pointing)."""
    meta = smap.meta.copy()
    meta["crpix1"], meta["crpix2"] = meta["crpix1"] + dx, meta["crpix2"] + dy
    return sunpy.map.Map(smap.data, meta)


def _assert_same_sky(header, source, x0, y0, side_in, side_out):
    """Every stored pixel (a grid of them) maps to the sky position of its source pixels' centre."""
    wcs = WCS(fits.Header({k: v for k, v in header.items()}))
    p = np.array([0, 1, side_out // 2, side_out - 1], dtype=float)
    px, py = (a.ravel() for a in np.meshgrid(p, p))
    f = side_in / side_out
    sx, sy = x0 + (px + 0.5) * f - 0.5, y0 + (py + 0.5) * f - 0.5  # 0-based source pixel centres
    got, want = wcs.pixel_to_world(px, py), source.wcs.pixel_to_world(sx, sy)
    np.testing.assert_allclose(got.Tx.to_value(u.arcsec), want.Tx.to_value(u.arcsec), rtol=0, atol=1e-6)
    np.testing.assert_allclose(got.Ty.to_value(u.arcsec), want.Ty.to_value(u.arcsec), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def magnetogram():
    return _off_centre(synth_magnetogram(3, size=256, instrument="hmi", center=(150.0, -80.0)))


@pytest.mark.parametrize("mode,size", [("random", None), ("ar", None), ("list", None), ("random", 16), ("center", 8)])
def test_magnetogram_crop_header_maps_to_its_source_pixels(magnetogram, mode, size):
    samples = preprocess_magnetogram(magnetogram, size, crop=64, crop_mode=mode, n_random=3, positions=[(400.0, 250.0)],
                                     rng=np.random.default_rng(1))
    for s in samples:
        x0, y0 = s.fields["crop_x"], s.fields["crop_y"]
        header = header_from_fields(s.fields, "magnetogram", s.image.shape[-1])
        assert header["CTYPE1"] == "HPLN-TAN" and header["CDELT1"] == pytest.approx(magnetogram.scale.axis1.value * 64 / s.image.shape[-1])
        _assert_same_sky(header, magnetogram, x0, y0, 64, s.image.shape[-1])
        if size is None:  # and the pixel there holds that source pixel's value
            np.testing.assert_array_equal(s.image[0, 5, 7], np.clip(np.nan_to_num(magnetogram.data[y0 + 5, x0 + 7]), -B_CLIP, B_CLIP).astype(np.float32))
    if mode == "list":  # the listed position is at the crop's centre, not the disk centre
        c = WCS(fits.Header(header)).pixel_to_world(31.5, 31.5)
        assert abs(c.Tx.to_value(u.arcsec) - 400) < magnetogram.scale.axis1.value and abs(c.Ty.to_value(u.arcsec) - 250) < magnetogram.scale.axis1.value


def test_whole_image_and_north_up_hmi_keep_their_pointing(hmi_file, magnetogram):
    (s,) = preprocess_magnetogram(magnetogram, 64)
    _assert_same_sky(header_from_fields(s.fields, "magnetogram", 64), magnetogram, 0, 0, 256, 64)
    raw = read_map(hmi_file)  # written upside down (CROTA2 179.93): crops are cut from it turned exactly
    turned = sunpy.map.Map(np.rot90(raw.data, 2), raw.meta)  # pixels only; the sky check below needs the new WCS
    for s in preprocess_magnetogram(raw, None, crop=32, crop_mode="random", n_random=2, rng=np.random.default_rng(0)):
        x0, y0 = s.fields["crop_x"], s.fields["crop_y"]
        assert s.fields["reorient"] == "exact" and s.fields["roll"] == pytest.approx(179.929779 - 180, abs=1e-6)
        header = header_from_fields(s.fields, "magnetogram", 32)
        # the stored pixels are the raw ones, permuted: pixel (x, y) holds raw (99 - x, 99 - y)
        np.testing.assert_array_equal(s.image[0], np.clip(np.nan_to_num(turned.data[y0:y0 + 32, x0:x0 + 32]), -B_CLIP, B_CLIP))
        # and the stored header (with its residual roll as PCi_j) maps them where the raw WCS does
        wcs = WCS(fits.Header(header))
        p = np.array([0.0, 7.0, 31.0])
        got = wcs.pixel_to_world(p, p[::-1])
        want = raw.wcs.pixel_to_world(99 - (x0 + p), 99 - (y0 + p[::-1]))
        np.testing.assert_allclose(got.Tx.to_value(u.arcsec), want.Tx.to_value(u.arcsec), rtol=0, atol=1e-6)
        np.testing.assert_allclose(got.Ty.to_value(u.arcsec), want.Ty.to_value(u.arcsec), rtol=0, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Missing CTYPE")  # the source without a pointing
def test_granulation_records_the_source_pointing_only_where_it_holds():
    src = synth_granulation(1, size=182)
    meta = src.meta.copy()
    meta["crval1"], meta["crval2"] = 300.0, -200.0  # a pointing away from disk centre
    src = _off_centre(sunpy.map.Map(src.data, meta))
    samples = preprocess_granulation(src, 64)
    side = int(np.floor(182 / np.sqrt(2)))
    for s in samples:
        header = header_from_fields(s.fields, "granulation", 64)
        if s.fields["augment"] == "identity":
            _assert_same_sky(header, src, (182 - side) // 2, (182 - side) // 2, side, 64)
        else:  # a mirrored or rotated tile lies nowhere on the sky as stored: no pointing claimed
            assert header["CTYPE1"] == "XOFFSET" and header["WCSNAME"] == NO_POINTING_WCSNAME
            assert np.isnan(s.fields["crval1"])
    meta = src.meta.copy()
    for key in ("crval1", "crval2", "ctype1", "ctype2"):
        meta.pop(key)
    (s,) = preprocess_granulation(sunpy.map.Map(src.data, meta), 64, augmentations=("identity",))
    assert header_from_fields(s.fields, "granulation", 64)["CTYPE1"] == "XOFFSET"  # no pointing in, none out


def test_store_headers(tmp_path):
    write_synth("magnetogram", 3, 128, 0, tmp_path / "m", center=(150.0, -80.0))
    write_synth("granulation", 1, 96, 0, tmp_path / "g")
    write_synth("euv", 2, 64, 0, tmp_path / "e")
    build_store(tmp_path / "m", tmp_path / "random.zarr", "magnetogram", None, crop=32, crop_mode="random", n_random=2, progress=False)
    build_store(tmp_path / "m", tmp_path / "center.zarr", "magnetogram", 16, crop=32, crop_mode="center", progress=False)
    build_store(tmp_path / "g", tmp_path / "g.zarr", "granulation", 32, progress=False)
    build_store(tmp_path / "e", tmp_path / "e.zarr", "euv", 16, progress=False)
    # a stored crop's own header maps its pixels to its source pixels
    store = open_store(tmp_path / "random.zarr")
    for i in range(store.n):
        source = read_map(store.column("source")[i])
        x0, y0 = int(store.column("crop_x")[i]), int(store.column("crop_y")[i])
        _assert_same_sky(sample_header(store, i), source, x0, y0, 32, 32)
    # generated images: a position only where all training images share one
    random = grid_header_from_store(store)
    assert random["CTYPE1"] == "XOFFSET" and random["WCSNAME"] == NO_POINTING_WCSNAME
    gran = grid_header_from_store(open_store(tmp_path / "g.zarr"))
    assert gran["CTYPE1"] == "XOFFSET"
    centre_store = open_store(tmp_path / "center.zarr")
    centre = grid_header_from_store(centre_store)
    assert centre["CTYPE1"] == "HPLN-TAN" and centre["CRPIX1"] == 8.5
    pixel = centre_store.column("cdelt")[0]
    assert abs(centre["CRVAL1"]) <= pixel and abs(centre["CRVAL2"]) <= pixel  # centre crops: on the disk centre
    euv = grid_header_from_store(open_store(tmp_path / "e.zarr"))
    assert (euv["CTYPE1"], euv["CRPIX1"], euv["CRVAL1"], euv["CRVAL2"]) == ("HPLN-TAN", 8.5, 0.0, 0.0)


def test_a_store_begun_before_the_pointing_columns_gains_them(tmp_path):
    import shutil

    import zarr

    paths = write_synth("magnetogram", 2, 64, 0, tmp_path / "m")
    (tmp_path / "first").mkdir()
    shutil.copy(paths[0], tmp_path / "first")
    build_store(tmp_path / "first", tmp_path / "s.zarr", "magnetogram", 16, progress=False)
    table = zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")["table"]
    for name in ("crpix1", "crpix2", "crval1", "crval2"):
        del table[name]  # as an older heliogen wrote it
    shutil.copy(paths[1], tmp_path / "first")
    build_store(tmp_path / "first", tmp_path / "s.zarr", "magnetogram", 16, progress=False)  # resumed: adds one file
    store = open_store(tmp_path / "s.zarr")
    assert store.n == 2 and np.isnan(store.column("crval1")[0]) and np.isfinite(store.column("crval1")[1])
    assert sample_header(store, 0)["CTYPE1"] == "XOFFSET" and sample_header(store, 1)["CTYPE1"] == "HPLN-TAN"
    assert grid_header_from_store(store)["CTYPE1"] == "XOFFSET"  # the old row's position is unknown
