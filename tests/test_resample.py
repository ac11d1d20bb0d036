"""Area-averaging resampling: hand-worked overlap weights, block means, flux and bad grids."""

import re

import numpy as np
import pytest

from heliogen.data.resample import area_resample, block_mean, overlap_matrix
from heliogen.errors import HeliogenError


def _exactly(message):
    """A pytest ``match`` pattern for the whole message, not just a part of it."""
    return f"^{re.escape(message)}$"


def test_integer_factor_is_block_mean():
    a = np.random.default_rng(0).random((64, 64))
    np.testing.assert_array_equal(area_resample(a, 16), block_mean(a, 4))
    # the sparse path (non-aligned centre) agrees too
    b = area_resample(a, 16, centre=(31.5 + 1e-9, 31.5), step=4.0)
    np.testing.assert_allclose(b, block_mean(a, 4), atol=1e-8)


def test_known_answer_three_to_two():
    w = overlap_matrix(3, 2, start=-0.5, step=1.5).toarray()
    np.testing.assert_allclose(w, [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])


def test_flux_conserved_for_any_factor():
    a = np.random.default_rng(1).random((50, 50))
    for size in (7, 13, 24, 50, 80):
        r = area_resample(a, size)
        assert r.shape == (size, size)
        assert np.isclose(r.mean(), a.mean(), rtol=1e-12)


def test_outside_counts_as_zero_and_centre_shifts():
    a = np.ones((10, 10))
    r = area_resample(a, 10, centre=(4.5 + 5, 4.5), step=1.0)  # grid shifted right by 5 px
    np.testing.assert_allclose(r[:, :5], 1.0)
    np.testing.assert_allclose(r[:, 5:], 0.0)


def test_block_mean_rejects_indivisible():
    with pytest.raises(ValueError):
        block_mean(np.zeros((10, 10)), 4)


def _reshape_mean(a, f):
    """Block means by reshaping, independent of block_mean's strided sums."""
    *lead, ny, nx = a.shape
    return a.reshape(*lead, ny // f, f, nx // f, f).mean(axis=(-3, -1))


def test_block_mean_hand_values_in_float64():
    a = np.array([[1, 2, 0, 0], [3, 5, 0, 4]], dtype=np.int16)
    out = block_mean(a, 2)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[11 / 4, 1.0]])


def test_block_mean_matches_reshape_mean_with_leading_axes():
    a = np.random.default_rng(2).random((2, 3, 6, 9))
    out = block_mean(a, 3)
    assert out.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(out, _reshape_mean(a, 3), rtol=1e-14)


def test_block_mean_error_names_the_image_shape():
    with pytest.raises(ValueError, match=_exactly("image shape (10, 12) is not divisible by 4")):
        block_mean(np.zeros((10, 12)), 4)
    # only one axis indivisible, behind a leading axis: still refused, with the image's own shape
    with pytest.raises(ValueError, match=_exactly("image shape (8, 10) is not divisible by 4")):
        block_mean(np.zeros((3, 8, 10)), 4)


def test_downsampling_by_integer_factor_is_block_means():
    a = np.random.default_rng(3).random((24, 24))
    for f in (2, 3, 4, 6):
        np.testing.assert_allclose(area_resample(a, 24 // f), _reshape_mean(a, f), rtol=1e-13)
    # one output pixel: the mean of the whole image
    np.testing.assert_allclose(area_resample(a, 1), [[a.mean()]], rtol=1e-13)


def test_constant_image_stays_constant():
    a = np.full((30, 30), 7.25)
    for size in (1, 4, 7, 11, 30, 45, 64):
        np.testing.assert_allclose(area_resample(a, size), 7.25, rtol=1e-12)


def test_total_flux_conserved_for_non_integer_factors():
    # sum over output pixels times the output pixel area equals the input's sum
    a = np.random.default_rng(4).random((21, 21))
    for size in (4, 8, 9, 16, 33):
        step = 21 / size
        assert np.isclose(area_resample(a, size).sum() * step**2, a.sum(), rtol=1e-12)


def test_result_is_float64_for_any_input_dtype():
    for dtype in (np.int16, np.float32, np.longdouble):
        a = np.arange(64, dtype=dtype).reshape(8, 8)
        fast = area_resample(a, 4)  # aligned factor 2
        sparse = area_resample(a, 3)  # factor 8/3
        assert fast.dtype == np.float64 and sparse.dtype == np.float64
        np.testing.assert_allclose(fast, _reshape_mean(a.astype(np.float64), 2), rtol=1e-14)


def test_aligned_grid_running_off_the_image_counts_outside_as_zero():
    a = np.ones((8, 8))
    # factor 2, grid shifted by 2 px: its last column/row (input [7.5, 9.5]) is wholly outside
    np.testing.assert_array_equal(area_resample(a, 4, centre=(5.5, 3.5), step=2.0), [[1, 1, 1, 0]] * 4)
    np.testing.assert_array_equal(area_resample(a, 4, centre=(3.5, 5.5), step=2.0), [[1] * 4] * 3 + [[0] * 4])
    # shifted the other way: the first column (input [-2.5, -0.5]) is outside
    np.testing.assert_array_equal(area_resample(a, 4, centre=(1.5, 3.5), step=2.0), [[0, 1, 1, 1]] * 4)
    np.testing.assert_array_equal(area_resample(a, 4, centre=(3.5, 1.5), step=2.0), [[0] * 4] + [[1] * 4] * 3)


def test_default_grid_of_a_wide_image():
    # 6 x 12 onto 3 x 3: step 12 / 3 = 4 centred on pixel (5.5, 2.5), so rows cover
    # y in [-3.5, 0.5], [0.5, 4.5], [4.5, 8.5]: the outer rows hold one input row of four
    r = area_resample(np.ones((6, 12)), 3)
    np.testing.assert_allclose(r, np.outer([0.25, 1.0, 0.25], [1.0, 1.0, 1.0]), rtol=1e-14)


def test_overlap_known_answer_left_of_the_input():
    # output pixels [-2.5, -1], [-1, 0.5], [0.5, 2] over input pixels [i - 0.5, i + 0.5]
    w = overlap_matrix(4, 3, start=-2.5, step=1.5)
    assert w.shape == (3, 4)
    np.testing.assert_allclose(w.toarray(), [[0, 0, 0, 0], [2 / 3, 0, 0, 0], [0, 2 / 3, 1 / 3, 0]])


def test_overlap_known_answer_right_of_the_input():
    # output pixels [1.5, 3.5] (input pixels 2 and 3) and [3.5, 5.5] (beyond the last pixel)
    w = overlap_matrix(4, 2, start=1.5, step=2.0)
    assert w.shape == (2, 4)
    np.testing.assert_array_equal(w.toarray(), [[0, 0, 0.5, 0.5], [0, 0, 0, 0]])


def test_overlap_grid_wholly_outside_is_zero():
    for start in (10.0, -10.0):
        w = overlap_matrix(4, 2, start=start, step=1.0)
        assert w.shape == (2, 4) and w.nnz == 0


def test_overlap_stores_only_overlapping_pairs():
    # a unit grid shifted by 5 px: pixels 5..9 feed outputs 0..4; outputs 5..9 only touch
    # the input's edge at 9.5, which is no area and so no stored weight
    w = overlap_matrix(10, 10, start=4.5, step=1.0)
    assert w.nnz == 5
    np.testing.assert_array_equal(w.toarray(), np.eye(10, k=5))


def test_overlap_columns_spread_each_pixel_once():
    # every input pixel inside the grid gives all its area away: column sums are 1 / step
    w = overlap_matrix(20, 7, start=-0.5, step=20 / 7)
    np.testing.assert_allclose(np.asarray(w.sum(axis=0)).ravel(), 7 / 20, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(w.sum(axis=1)).ravel(), 1.0, rtol=1e-13)


def test_overlap_empty_grid_or_input_is_an_empty_operator():
    w = overlap_matrix(5, 0, start=0.0, step=1.0)
    assert w.shape == (0, 5) and w.nnz == 0 and w.dtype == np.float64
    assert (w @ np.arange(5.0)).shape == (0,)
    w = overlap_matrix(0, 3, start=-2.0, step=1.0)
    assert w.shape == (3, 0) and w.nnz == 0
    np.testing.assert_array_equal(w @ np.zeros(0), np.zeros(3))


@pytest.mark.parametrize("n_in, n_out", [(-1, 2), (2, -1)])
def test_overlap_rejects_negative_counts(n_in, n_out):
    with pytest.raises(HeliogenError, match=_exactly(f"pixel counts must be >= 0, not n_in={n_in}, n_out={n_out}")):
        overlap_matrix(n_in, n_out, start=0.0, step=1.0)


@pytest.mark.parametrize("start, step", [(0.0, 0.0), (0.0, -1.0), (0.0, np.nan), (0.0, np.inf), (np.nan, 1.0), (-np.inf, 1.0)])
def test_overlap_rejects_a_bad_grid(start, step):
    msg = f"the output grid needs a finite start and step > 0, not start={start}, step={step}"
    with pytest.raises(HeliogenError, match=_exactly(msg)):
        overlap_matrix(4, 2, start=start, step=step)


def test_area_resample_rejects_an_empty_output():
    with pytest.raises(HeliogenError, match=_exactly("the output size must be at least 1 pixel, not 0")):
        area_resample(np.ones((4, 4)), 0)


@pytest.mark.parametrize("centre, step", [((1.5, 1.5), 0.0), ((1.5, 1.5), -2.0), ((1.5, 1.5), np.inf),
                                          ((np.nan, 1.5), 1.0), ((1.5, np.inf), 1.0), ((np.nan, 1.5), 1.5)])
def test_area_resample_rejects_a_bad_grid(centre, step):
    msg = f"the output grid needs a finite centre and step > 0, not centre={centre}, step={step}"
    with pytest.raises(HeliogenError, match=_exactly(msg)):
        area_resample(np.ones((4, 4)), 2, centre=centre, step=step)


def test_overlap_single_input_pixel():
    # output pixels [-1, 0] and [0, 1] each cover half of the only input pixel [-0.5, 0.5]
    w = overlap_matrix(1, 2, start=-1.0, step=1.0)
    np.testing.assert_array_equal(w.toarray(), [[0.5], [0.5]])
    # upsampling a one-pixel image keeps its value everywhere on the pixel
    np.testing.assert_array_equal(area_resample(np.array([[3.0]]), 2), [[3.0, 3.0], [3.0, 3.0]])
