import numpy as np
import pytest

from heliogen.data.resample import area_resample, block_mean, overlap_matrix


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
