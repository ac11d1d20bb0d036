import numpy as np
import pytest

from heliogen.data.fitsio import read_map
from heliogen.data.magnetogram import B_CLIP, MDI_TO_HMI, preprocess_magnetogram, strongest_region_pixel
from heliogen.data.resample import block_mean
from heliogen.data.synth import synth_magnetogram
from heliogen.errors import BadInput


@pytest.fixture(scope="module")
def hmi():
    return synth_magnetogram(3, size=256, instrument="hmi")


def test_clip_nan_and_whole_image_resample(hmi):
    (s,) = preprocess_magnetogram(hmi, 64)
    raw = np.nan_to_num(np.clip(np.asarray(hmi.data, dtype=float), -B_CLIP, B_CLIP), nan=0.0)
    np.testing.assert_allclose(s.image[0], block_mean(raw, 4), rtol=1e-5, atol=1e-3)
    assert np.isfinite(s.image).all() and np.abs(s.image).max() <= B_CLIP
    assert s.fields["cdelt"] == pytest.approx(hmi.scale.axis1.value * 4)


def test_mdi_is_scaled_by_one_over_1p4():
    mdi = synth_magnetogram(3, size=128, instrument="mdi")
    assert str(mdi.instrument).upper().startswith("MDI")
    (s,) = preprocess_magnetogram(mdi, None)
    expected = np.nan_to_num(np.clip(np.asarray(mdi.data, dtype=float) * MDI_TO_HMI, -B_CLIP, B_CLIP), nan=0.0)
    np.testing.assert_allclose(s.image[0], expected, rtol=1e-6, atol=1e-4)


def test_pairs_are_block_means(hmi):
    samples = preprocess_magnetogram(hmi, None, crop=64, crop_mode="ar", pairs=4)
    (s,) = samples
    assert s.lowres.shape == (1, 16, 16)
    np.testing.assert_allclose(s.lowres[0], block_mean(s.image[0].astype(np.float64), 4), rtol=1e-5, atol=1e-4)
    # the AR crop holds the strongest field of the disk
    x, y = strongest_region_pixel(hmi.data)
    assert s.fields["crop_x"] <= x < s.fields["crop_x"] + 64 and s.fields["crop_y"] <= y < s.fields["crop_y"] + 64


def test_crop_modes(hmi):
    (c,) = preprocess_magnetogram(hmi, None, crop=64, crop_mode="center")
    assert (c.fields["crop_x"], c.fields["crop_y"]) == (96, 96)
    data = np.nan_to_num(np.asarray(hmi.data, dtype=np.float32))
    np.testing.assert_array_equal(c.image[0], np.clip(data[96:160, 96:160], -3000, 3000))
    a = preprocess_magnetogram(hmi, None, crop=32, crop_mode="random", n_random=3, rng=np.random.default_rng(5))
    b = preprocess_magnetogram(hmi, None, crop=32, crop_mode="random", n_random=3, rng=np.random.default_rng(5))
    assert len(a) == 3 and [s.fields["crop_x"] for s in a] == [s.fields["crop_x"] for s in b]
    (listed,) = preprocess_magnetogram(hmi, None, crop=32, crop_mode="list", positions=[(0.0, 0.0)])
    assert (listed.fields["crop_x"], listed.fields["crop_y"]) == (112, 112)
    with pytest.raises(BadInput, match="larger than the image"):
        preprocess_magnetogram(hmi, None, crop=512)


def test_real_hmi_file_goes_through(hmi_file):
    m = read_map(hmi_file)
    (s,) = preprocess_magnetogram(m, 50)
    assert s.image.shape == (1, 50, 50) and np.isfinite(s.image).all()
    assert s.fields["instrument"].startswith("HMI")


def test_real_hmi_header_is_turned_north_up(hmi_file):
    """HMI writes CROTA2 ~ 180; a feature in the raw top-left must be stored bottom-right."""
    m = read_map(hmi_file)
    assert abs(abs(m.meta["crota2"]) - 180) < 1
    data = np.zeros(m.data.shape)
    data[75:85, 10:20] = 1000.0  # raw array: near the top-left corner (row index = y)
    (s,) = preprocess_magnetogram(m._new_instance(data, m.meta), None)
    img = s.image[0]
    y, x = np.unravel_index(np.argmax(img), img.shape)
    ny, nx = img.shape
    assert y < ny / 3 and x > 2 * nx / 3, (y, x, img.shape)
