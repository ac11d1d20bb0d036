import numpy as np
import pytest
from scipy import ndimage

from heliogen.data.euv import DEFAULT_FOV, _already_registered, preprocess_euv
from heliogen.data.fitsio import read_map
from heliogen.errors import BadInput, HeliogenError


def _disk_centroid(img):
    # centroid of the brightest half of the image = the disk (off-limb is fainter)
    mask = img > np.median(img)
    lab, n = ndimage.label(mask)
    largest = np.argmax(ndimage.sum(mask, lab, range(1, n + 1))) + 1
    y, x = ndimage.center_of_mass(lab == largest)
    return x, y


def test_real_aia_is_registered_centred_and_logged(aia_file):
    m = read_map(aia_file)
    assert not _already_registered(m)  # a real level-1 frame has a small roll
    (s,) = preprocess_euv(m, 64, "aia", wavelength=171)
    img = s.image[0]
    assert s.image.shape == (1, 64, 64) and s.image.dtype == np.float32
    assert np.isfinite(img).all() and img.min() >= 0.0  # ln of values clipped to >= 1
    # the brightest pixel of an area average cannot exceed the brightest input pixel in DN/s
    assert img.max() <= np.log(np.nanmax(m.data) / m.exposure_time.to_value("s")) + 1e-6
    x, y = _disk_centroid(img)
    assert abs(x - 31.5) < 1.0 and abs(y - 31.5) < 1.0
    assert s.fields["cdelt"] == pytest.approx(DEFAULT_FOV / 64)
    assert s.fields["wavelength"] == 171 and s.fields["quality"] == 0


def test_eit_lands_on_the_common_grid_like_an_independent_resampling(eit_files):
    """EIT (not centred, 2.6"/px) on the AIA grid, checked against sunpy WCS + map_coordinates."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    for path in eit_files:
        m = read_map(path)
        (s,) = preprocess_euv(m, 64, "eit")
        img = np.exp(s.image[0].astype(np.float64))  # DN/s, clipped at 1
        step = DEFAULT_FOV / 64
        axis = (np.arange(64) - 31.5) * step
        tx, ty = np.meshgrid(axis, axis)
        px, py = m.wcs.world_to_pixel(SkyCoord(tx * u.arcsec, ty * u.arcsec, frame=m.coordinate_frame))
        smooth = ndimage.uniform_filter(np.nan_to_num(m.data.astype(float)), size=int(round(step / m.scale.axis1.value)))
        ref = ndimage.map_coordinates(smooth, [py, px], order=1, cval=0.0) / m.exposure_time.to_value("s")
        ref = np.clip(ref, 1, None)
        inside = (px > 5) & (px < m.data.shape[1] - 5) & (py > 5) & (py < m.data.shape[0] - 5)
        r = np.corrcoef(np.log(img[inside]), np.log(ref[inside]))[0, 1]
        assert r > 0.97, r
        x, y = _disk_centroid(s.image[0])
        assert abs(x - 31.5) < 1.0 and abs(y - 31.5) < 1.0


def test_bad_quality_wavelength_keywords_and_exposure(aia_file):
    m = read_map(aia_file)
    bad = m._new_instance(m.data, dict(m.meta, quality=1024))
    with pytest.raises(BadInput, match="QUALITY=1024"):
        preprocess_euv(bad, 32)
    with pytest.raises(BadInput, match="wavelength 171 A, expected 193 A"):
        preprocess_euv(m, 32, wavelength=193)
    meta = dict(m.meta)
    meta.pop("exptime")
    with pytest.raises(BadInput, match="missing keyword EXPTIME"):
        preprocess_euv(m._new_instance(m.data, meta), 32)
    with pytest.raises(BadInput, match="exposure time 0"):
        preprocess_euv(m._new_instance(m.data, dict(m.meta, exptime=0.0)), 32)


def test_degradation_without_table_is_one_clear_error(aia_file, tmp_path):
    m = read_map(aia_file)
    with pytest.raises(HeliogenError, match="degradation correction needs"):
        preprocess_euv(m, 32, degradation=True, degradation_table=str(tmp_path / "absent_table.txt"))
