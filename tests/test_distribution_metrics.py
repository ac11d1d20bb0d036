"""FD and KID against independent re-computations.

Every expected value here comes from a formula written differently from the code under test:
scipy's Schur ``sqrtm`` or hand-worked cases for the Fréchet distance, and explicit double loops
for the unbiased polynomial-kernel MMD^2 (Bińkowski et al. 2018). PRDC and the cluster metrics
are in test_prdc_cluster_metrics.py.
"""

import logging
import re

import numpy as np
import pytest
import scipy.linalg

from heliogen.errors import HeliogenError
from heliogen.evaluate.metrics.fd import _eigvalsh, check_features, fd_from_features, frechet_distance, gaussian_stats
from heliogen.evaluate.metrics.kid import kid, mmd2_unbiased, polynomial_kernel


# ----------------------------------------------------------------------------- FD


def _fd_sqrtm(mu1, s1, mu2, s2):
    """Heusel et al. (2017) eq. 6 through scipy's Schur-based matrix square root."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def test_check_features_accepts_exactly_min_n_and_names_the_input():
    f = check_features([[1, 2, 3], [4, 5, 6]])  # default min_n = 2: two samples are enough
    assert f.dtype == np.float64 and f.shape == (2, 3)
    assert check_features([[7.0]], min_n=1).shape == (1, 1)
    msg = re.escape("features has 1 sample(s); at least 2 are needed")
    with pytest.raises(HeliogenError, match=f"^{msg}$"):
        check_features([[1.0, 2.0]])
    with pytest.raises(HeliogenError, match=r"^features must be a 2-D array \(N, D\), not shape \(3,\)$"):
        check_features([1.0, 2.0, 3.0])
    with pytest.raises(HeliogenError, match="^features is empty$"):
        check_features(np.zeros((0, 2)), min_n=0)
    with pytest.raises(HeliogenError, match="^features contains NaN or infinite values$"):
        check_features([[1.0, np.inf], [0.0, 0.0]])
    with pytest.raises(HeliogenError, match=r"^real has 2 sample\(s\); at least 3 are needed$"):
        check_features(np.zeros((2, 2)), name="real", min_n=3)


def test_gaussian_stats_are_the_sample_mean_and_unbiased_covariance():
    x = np.array([[1.0, 2.0], [3.0, 1.0], [2.0, 6.0], [6.0, 3.0]])
    s = gaussian_stats(x)
    mu = x.sum(axis=0) / 4
    centred = x - mu
    cov = sum(np.outer(r, r) for r in centred) / 3  # ddof = 1 by hand
    assert s.n == 4
    np.testing.assert_allclose(s.mu, [3.0, 3.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(s.sigma, cov, rtol=1e-14)
    # One feature: the covariance is still a (1, 1) matrix.
    one = gaussian_stats([[1.0], [2.0], [4.0]])
    assert one.sigma.shape == (1, 1)
    assert one.sigma[0, 0] == pytest.approx(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2, rel=1e-14)


def test_gaussian_stats_warn_exactly_when_the_covariance_is_singular(caplog):
    rng = np.random.default_rng(10)
    with caplog.at_level(logging.WARNING, logger="heliogen"):
        gaussian_stats(rng.normal(size=(4, 3)))  # N > D: no warning
    assert caplog.records == []
    with caplog.at_level(logging.WARNING, logger="heliogen"):
        gaussian_stats(rng.normal(size=(3, 3)))  # N == D: rank at most D - 1
    assert [r.getMessage() for r in caplog.records] == [
        "FD from 3 samples of 3-d features: the covariance is singular and the FD biased upward"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="heliogen"):
        gaussian_stats(rng.normal(size=(2, 5)))
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "FD from 2 samples of 5-d features: the covariance is singular and the FD biased upward")]


def test_fd_matches_sqrtm_on_small_full_covariances():
    rng = np.random.default_rng(11)
    for d in (1, 2, 5):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        a, b = rng.normal(size=(d, 3 * d)), rng.normal(size=(d, 3 * d))
        s1, s2 = a @ a.T / d + 0.1 * np.eye(d), b @ b.T / d
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_fd_sqrtm(mu1, s1, mu2, s2), rel=1e-9)
        # The distance is symmetric in its two Gaussians.
        assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(_fd_sqrtm(mu1, s1, mu2, s2), rel=1e-9)


def test_fd_by_hand_in_two_dimensions():
    # S_1 = I, S_2 = diag(4, 9): Tr sqrt(S1 S2) = 2 + 3; FD = |mu|^2 + 2 + 13 - 10.
    got = frechet_distance([0.0, 0.0], np.eye(2), [3.0, 4.0], np.diag([4.0, 9.0]))
    assert got == pytest.approx(25.0 + 2.0 + 13.0 - 10.0, rel=1e-13)
    # Off-diagonal S_1 (Cholesky factor not diagonal) against a scaled copy: FD = (sqrt(c) - 1)^2 Tr S.
    s = np.array([[2.0, 1.0], [1.0, 3.0]])
    assert frechet_distance([1.0, 1.0], s, [1.0, 1.0], 4.0 * s) == pytest.approx(5.0, rel=1e-12)


def test_fd_with_singular_first_covariance_uses_the_psd_root():
    # Fewer samples than dimensions: S_1 has no Cholesky factor.
    rng = np.random.default_rng(12)
    d = 5
    a = rng.normal(size=(d, 2))
    s1 = a @ a.T  # rank 2
    b = rng.normal(size=(d, 2 * d))
    s2 = b @ b.T / d
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    with pytest.raises(np.linalg.LinAlgError):
        scipy.linalg.cholesky(s1, lower=True)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_fd_sqrtm(mu1, s1, mu2, s2), rel=1e-7)
    # Rank-one S_1 = v v^T against S_2 = I: Tr sqrt(S_1 S_2) = |v|. The zero eigenvalues come out
    # as round-off of order 1e-16, whose square roots (1e-8) bound the accuracy.
    v = np.array([1.0, 2.0, 2.0])
    assert frechet_distance(np.zeros(3), np.outer(v, v), np.zeros(3), np.eye(3)) == pytest.approx(9.0 + 3.0 - 6.0, abs=1e-6)
    # An all-zero S_1: FD = |mu1 - mu2|^2 + Tr S_2.
    assert frechet_distance([1.0, 0.0], np.zeros((2, 2)), [0.0, 0.0], np.diag([0.5, 0.25])) == pytest.approx(1.75, rel=1e-14)


def test_fd_symmetrises_slightly_asymmetric_covariances():
    # Round-off asymmetry: the distance is that of the symmetric parts.
    s1 = np.array([[2.0, 0.5], [0.5, 1.0]])
    s2 = np.array([[1.0, -0.3], [-0.3, 2.0]])
    skew = np.array([[0.0, 1e-3], [-1e-3, 0.0]])
    expected = _fd_sqrtm(np.zeros(2), s1, np.ones(2), s2)
    assert frechet_distance(np.zeros(2), s1 + skew, np.ones(2), s2 - skew) == pytest.approx(expected, rel=1e-12)


def test_fd_of_identical_gaussians_is_exactly_zero_not_negative():
    rng = np.random.default_rng(13)
    a = rng.normal(size=(6, 12))
    s = a @ a.T / 12
    mu = rng.normal(size=6)
    got = frechet_distance(mu, s, mu, s)
    assert 0.0 <= got < 1e-12
    # Equal means and nearly equal covariances would round to a tiny negative number; it is clipped to 0.
    assert frechet_distance([0.0], [[1.0]], [0.0], [[1.0]]) == 0.0


def test_fd_rejects_mismatched_or_non_finite_statistics():
    mu, s = np.zeros(2), np.eye(2)
    text = "Gaussian statistics do not match: mu (2,) vs (3,), sigma (2, 2) vs (2, 2)"
    with pytest.raises(HeliogenError, match="^" + re.escape(text) + "$"):
        frechet_distance(mu, s, np.zeros(3), s)
    with pytest.raises(HeliogenError, match=re.escape("mu (2, 1) vs (2,)")):
        frechet_distance(np.zeros((2, 1)), s, mu, s)
    with pytest.raises(HeliogenError, match=re.escape("sigma (3, 3) vs (2, 2)")):
        frechet_distance(mu, np.eye(3), mu, s)
    with pytest.raises(HeliogenError, match=re.escape("sigma (2, 2) vs (2, 3)")):
        frechet_distance(mu, s, mu, np.eye(2, 3))
    for bad in range(4):
        args = [mu.copy(), s.copy(), mu.copy(), s.copy()]
        args[bad] = args[bad].astype(float)
        args[bad].flat[0] = np.nan
        with pytest.raises(HeliogenError, match="^Gaussian statistics contain NaN or infinite values$"):
            frechet_distance(*args)


def test_fd_converts_integer_means_of_any_size_to_float64():
    # Python integers beyond int64 are valid array_like means; as float64 they differ by (0, 3).
    got = frechet_distance([2**64, 3], np.eye(2), [2**64, 0], np.eye(2))
    assert got == pytest.approx(9.0, rel=1e-15)
    got = frechet_distance([0, 0], np.eye(2), [2**64, 0], np.eye(2))
    assert got == pytest.approx(float(2**64) ** 2, rel=1e-15)


def test_fd_takes_float32_and_big_integer_covariances_as_float64():
    # float32 statistics (typical network features) give the FD of the same values in float64.
    mu1, mu2 = np.array([0.1, 0.7], np.float32), np.array([0.3, -0.2], np.float32)
    s1 = np.array([[1.1, 0.3], [0.3, 2.3]], np.float32)
    s2 = np.array([[0.7, -0.1], [-0.1, 1.9]], np.float32)
    expected = _fd_sqrtm(*(a.astype(np.float64) for a in (mu1, s1, mu2, s2)))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-12)
    # Python integers beyond int64 in either covariance: identical Gaussians, FD 0.
    big = [[2**64, 0], [0, 1]]
    assert frechet_distance([0, 0], big, [0, 0], np.array(big, dtype=np.float64)) == pytest.approx(0.0, abs=1e-3)
    assert frechet_distance([0, 0], np.array(big, dtype=np.float64), [0, 0], big) == pytest.approx(0.0, abs=1e-3)


def test_fd_reports_overflow_instead_of_returning_nan():
    # Finite but huge entries: symmetrising 1.5e308 overflows to inf, products of 1e200 overflow.
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(HeliogenError, match="^Gaussian statistics contain NaN or infinite values$"):
            frechet_distance([0.0, 0.0], np.diag([1.5e308, 1.0]), [0.0, 0.0], np.eye(2))
        with pytest.raises(HeliogenError, match=r"^the Fréchet distance overflows float64 \(nan\); rescale the features$"):
            frechet_distance([0.0, 0.0], 1e200 * np.eye(2), [0.0, 0.0], 1e200 * np.eye(2))
        with pytest.raises(HeliogenError, match=r"^the Fréchet distance overflows float64 \(inf\)"):
            frechet_distance([1e200, 0.0], np.eye(2), [-1e200, 0.0], np.eye(2))


def test_eigvalsh_returns_float64_eigenvalues_for_any_real_input():
    # [[2, 1], [1, 2]] has eigenvalues 1 and 3; integer and float32 input are computed in float64.
    for m in (np.array([[2, 1], [1, 2]]), np.array([[2, 1], [1, 2]], dtype=np.float32)):
        lam = _eigvalsh(m)
        assert lam.dtype == np.float64
        np.testing.assert_allclose(lam, [1.0, 3.0], rtol=1e-15)
    # float64 resolves eigenvalues 1e-12 apart, which float32 (eps 1.2e-7) would merge.
    lam = _eigvalsh(np.diag([1.0, 1.0 + 1e-12]))
    assert lam[1] - lam[0] == pytest.approx(1e-12, rel=1e-3)


def test_fd_from_features_matches_sqrtm_and_names_the_dimensions():
    rng = np.random.default_rng(14)
    x, y = rng.normal(size=(20, 3)), rng.normal(0.5, 2.0, size=(15, 3))
    expected = _fd_sqrtm(x.mean(0), np.cov(x.T), y.mean(0), np.cov(y.T))
    assert fd_from_features(x, y) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(HeliogenError, match="^feature dimensions differ: 3 vs 2$"):
        fd_from_features(x, y[:, :2])


# ----------------------------------------------------------------------------- KID


def _cubic(a, b, d, coef0=1.0, degree=3):
    return (sum(a[t] * b[t] for t in range(d)) / d + coef0) ** degree


def _mmd2_loops(a, b, degree=3, coef0=1.0):
    """Bińkowski et al. (2018) eq. 3 with explicit loops."""
    m, d = len(a), a.shape[1]
    sxx = sum(_cubic(a[i], a[j], d, coef0, degree) for i in range(m) for j in range(m) if i != j)
    syy = sum(_cubic(b[i], b[j], d, coef0, degree) for i in range(m) for j in range(m) if i != j)
    sxy = sum(_cubic(a[i], b[j], d, coef0, degree) for i in range(m) for j in range(m))
    return sxx / (m * (m - 1)) + syy / (m * (m - 1)) - 2.0 * sxy / (m * m)


def test_polynomial_kernel_defaults_are_the_kid_cubic():
    x = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    y = np.array([[2.0, 2.0], [-1.0, 4.0]])
    got = polynomial_kernel(x, y)
    assert got.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            assert got[i, j] == pytest.approx(_cubic(x[i], y[j], 2), rel=1e-14)
    # By hand: x0 . y0 = 6, d = 2: (6/2 + 1)^3 = 64.
    assert got[0, 0] == pytest.approx(64.0, rel=1e-15)
    assert polynomial_kernel(x, y, degree=2, coef0=0.5)[0, 0] == pytest.approx(12.25, rel=1e-15)


def test_mmd2_unbiased_matches_loops_with_defaults_and_other_kernels():
    rng = np.random.default_rng(15)
    a, b = rng.normal(size=(6, 3)), rng.normal(0.4, 1.5, size=(6, 3))
    assert mmd2_unbiased(a, b) == pytest.approx(_mmd2_loops(a, b), rel=1e-12)
    assert mmd2_unbiased(a, b, 2, 0.5) == pytest.approx(_mmd2_loops(a, b, 2, 0.5), rel=1e-12)
    # Two samples each, by hand: 1-d, k(x, y) = (xy + 1)^3.
    x, y = np.array([[1.0], [0.0]]), np.array([[2.0], [-1.0]])
    kxx = 2 * (1.0 * 0.0 + 1) ** 3 / 2
    kyy = 2 * (2.0 * -1.0 + 1) ** 3 / 2
    kxy = ((1 * 2 + 1) ** 3 + (1 * -1 + 1) ** 3 + (0 + 1) ** 3 + (0 + 1) ** 3) / 4
    assert mmd2_unbiased(x, y) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-14)


def _kid_loops(x, y, n_subsets, m, seed, degree=3, coef0=1.0):
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        vals.append(_mmd2_loops(a, b, degree, coef0))
    vals = np.array(vals)
    return vals.mean(), np.sqrt(np.mean((vals - vals.mean()) ** 2))


def test_kid_defaults_seed_zero_and_cubic_kernel():
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(9, 2)), rng.normal(0.5, 1.0, size=(8, 2))
    got = kid(x, y, n_subsets=3, subset_size=5)
    mean, std = _kid_loops(x, y, 3, 5, seed=0)
    assert got == {"mean": pytest.approx(mean, rel=1e-12), "std": pytest.approx(std, rel=1e-12),
                   "n_subsets": 3, "subset_size": 5}
    other = kid(x, y, n_subsets=2, subset_size=4, degree=2, coef0=0.25, seed=3)
    mean, std = _kid_loops(x, y, 2, 4, seed=3, degree=2, coef0=0.25)
    assert (other["mean"], other["std"]) == pytest.approx((mean, std), rel=1e-12)


def test_kid_default_subset_count_and_size_cap():
    rng = np.random.default_rng(17)
    # Fewer samples than the default 1000: the subset is the whole smaller set, 100 subsets.
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(4, 2))
    got = kid(x, y)
    assert got["n_subsets"] == 100 and got["subset_size"] == 4
    mean, std = _kid_loops(x, y, 100, 4, seed=0)
    assert (got["mean"], got["std"]) == pytest.approx((mean, std), rel=1e-11)
    # More than 1000 samples: the default subset size is 1000 exactly.
    big = rng.normal(size=(1001, 1))
    assert kid(big, big, n_subsets=1)["subset_size"] == 1000


def test_kid_single_subset_has_zero_std_and_errors_are_clear():
    rng = np.random.default_rng(18)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    one = kid(x, y, n_subsets=1, subset_size=6)
    assert one["std"] == 0.0 and one["n_subsets"] == 1
    # With the whole sets as the one subset the estimate is the full-sample unbiased MMD^2.
    assert one["mean"] == pytest.approx(_mmd2_loops(x, y), rel=1e-12)
    # The subset size is capped by the smaller set, whichever it is.
    small = kid(x[:3], y, n_subsets=2)
    assert small["subset_size"] == 3
    assert (small["mean"], small["std"]) == pytest.approx(_kid_loops(x[:3], y, 2, 3, seed=0), rel=1e-12)
    with pytest.raises(HeliogenError, match="^KID needs at least one subset$"):
        kid(x, y, n_subsets=0)
    with pytest.raises(HeliogenError, match="^feature dimensions differ: 2 vs 3$"):
        kid(x, rng.normal(size=(6, 3)))
    with pytest.raises(HeliogenError, match=r"^real features has 1 sample\(s\)"):
        kid(x[:1], y)
    with pytest.raises(HeliogenError, match=r"^fake features has 1 sample\(s\)"):
        kid(x, y[:1])
