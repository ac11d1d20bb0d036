import numpy as np
import pytest
import sunpy.map
from astropy.io import fits

from heliogen.data.fitsio import read_map, write_map
from heliogen.errors import BadInput

from conftest import sunpy_test_file


@pytest.mark.parametrize(
    "name, cls, instrument",
    [
        ("aia_171_level1.fits", sunpy.map.sources.AIAMap, "AIA"),
        ("resampled_hmi.fits", sunpy.map.sources.HMIMap, "HMI"),
        ("EIT/efz20040301.000010_s.fits", sunpy.map.sources.EITMap, "EIT"),
        ("EIT/efz20040301.010016_s.fits", sunpy.map.sources.EITMap, "EIT"),
    ],
)
def test_reads_real_sunpy_files(name, cls, instrument):
    path = sunpy_test_file(name)
    m = read_map(path)
    assert isinstance(m, cls)
    assert instrument in str(m.instrument).upper()
    ref = sunpy.map.Map(path)
    np.testing.assert_array_equal(np.asarray(m.data), np.asarray(ref.data))
    assert m.scale == ref.scale


def test_bad_inputs_have_one_reason_each(aia_file, tmp_path):
    from conftest import make_bad_inputs

    expected = make_bad_inputs(aia_file, tmp_path)
    for name in ("notes.fits", "truncated.fits", "allnan.fits", "cube.fits"):
        with pytest.raises(BadInput) as err:
            read_map(tmp_path / name)
        assert expected[name] in err.value.reason
        assert "\n" not in str(err.value)
    with pytest.raises(BadInput, match="no such file"):
        read_map(tmp_path / "absent.fits")
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    with pytest.raises(BadInput, match="not a FITS file"):
        read_map(empty)


def test_length_one_third_axis_is_an_image(aia_file, tmp_path):
    with fits.open(aia_file) as hdul:
        data, header = hdul[0].data.astype(np.float32), hdul[0].header.copy()
    fits.PrimaryHDU(data[None], header).writeto(tmp_path / "one.fits")
    m = read_map(tmp_path / "one.fits")
    assert m.data.shape == data.shape


def test_compressed_hdu_is_read(aia_file, tmp_path):
    with fits.open(aia_file) as hdul:
        data, header = hdul[0].data.astype(np.int16), hdul[0].header.copy()
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, header, compression_type="RICE_1")]).writeto(tmp_path / "c.fits")
    m = read_map(tmp_path / "c.fits")
    np.testing.assert_array_equal(m.data, data)
    assert m.wavelength.value == 171


def test_write_map_round_trip_keeps_wcs_and_adds_provenance(aia_file, tmp_path):
    m = read_map(aia_file)
    out = write_map(m, tmp_path / "sub" / "out.fits", model="unit-test", seed=7)
    back = sunpy.map.Map(out)
    np.testing.assert_allclose(back.data, m.data)
    assert back.meta["hgver"]
    assert back.meta["model"] == "unit-test" and back.meta["seed"] == 7
    import astropy.units as u

    c = m.pixel_to_world(10 * u.pix, 20 * u.pix)
    c2 = back.pixel_to_world(10 * u.pix, 20 * u.pix)
    assert abs((c.Tx - c2.Tx).to_value("arcsec")) < 1e-6 and abs((c.Ty - c2.Ty).to_value("arcsec")) < 1e-6
    assert not list(tmp_path.glob("sub/.tmp-*"))


@pytest.mark.parametrize("keep", [0.5, 0.93, 2 * 2880])
def test_truncated_compressed_file(aia_file, tmp_path, keep):
    with fits.open(aia_file) as hdul:
        data, header = hdul[0].data.astype(np.int16), hdul[0].header.copy()
    whole = tmp_path / "c.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, header, compression_type="RICE_1")]).writeto(whole)
    raw = whole.read_bytes()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(raw[: int(keep if keep > 1 else len(raw) * keep)])
    with pytest.raises(BadInput, match="truncated FITS file"):
        read_map(cut)
