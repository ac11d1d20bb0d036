"""Distribution metrics (FD, KID, PRDC, cluster metrics) against independent re-computations.

Every expected value here comes from a formula written differently from the code under test:
scipy's Schur ``sqrtm`` for the Fréchet distance, explicit double loops for the unbiased
polynomial-kernel MMD^2 (Bińkowski et al. 2018), brute-force distances for precision, recall,
density and coverage (Kynkäänniemi et al. 2019, Naeem et al. 2020), hand-counted tie cases, and
plain loops over the flare poster's cluster formulas.
"""

import json
import logging
import re

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans

from heliogen.errors import HeliogenError
from heliogen.evaluate.metrics import prdc as prdc_module
from heliogen.evaluate.metrics.cluster import ClusterModel, cluster_metrics, fit_clusters, halves_benchmark
from heliogen.evaluate.metrics.fd import _eigvalsh, check_features, fd_from_features, frechet_distance, gaussian_stats
from heliogen.evaluate.metrics.kid import kid, mmd2_unbiased, polynomial_kernel
from heliogen.evaluate.metrics.prdc import knn_radii, prdc


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


# ----------------------------------------------------------------------------- PRDC


def _prdc_brute(x, y, k):
    """Naeem et al. (2020) eqs. 1-4 with scipy's pairwise distances and Python loops."""
    dxx = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(x))
    dyy = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(y))
    dxy = cdist(x, y)
    rx = np.array([sorted(row)[k] for row in dxx])  # sorted()[0] is the sample itself
    ry = np.array([sorted(row)[k] for row in dyy])
    n, m = len(x), len(y)
    precision = sum(any(dxy[i, j] < rx[i] for i in range(n)) for j in range(m)) / m
    recall = sum(any(dxy[i, j] < ry[j] for j in range(m)) for i in range(n)) / n
    density = sum(int(dxy[i, j] < rx[i]) for i in range(n) for j in range(m)) / (k * m)
    coverage = sum(min(dxy[i]) < rx[i] for i in range(n)) / n
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage, "k": k}


def test_knn_radii_are_kth_neighbour_distances():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_array_equal(knn_radii(x, 1), [1.0, 1.0, 2.0, 4.0])
    np.testing.assert_array_equal(knn_radii(x, 2), [3.0, 2.0, 3.0, 6.0])
    np.testing.assert_array_equal(knn_radii(x, 3), [7.0, 6.0, 4.0, 7.0])


def test_prdc_matches_brute_force_for_several_k_including_the_default():
    rng = np.random.default_rng(19)
    x, y = rng.normal(size=(25, 3)), rng.normal(0.4, 0.7, size=(20, 3))
    assert prdc(x, y) == pytest.approx(_prdc_brute(x, y, 3), rel=1e-12)
    for k in (1, 2, 5):
        assert prdc(x, y, k=k) == pytest.approx(_prdc_brute(x, y, k), rel=1e-12)


def test_prdc_is_independent_of_the_row_block(monkeypatch):
    # Memory blocking must not change the answer: blocks of 7 rows over 25 and 20 samples.
    rng = np.random.default_rng(20)
    x, y = rng.normal(size=(25, 2)), rng.normal(0.3, 1.2, size=(20, 2))
    expected = _prdc_brute(x, y, 3)
    monkeypatch.setattr(prdc_module, "_BLOCK", 7)
    assert prdc(x, y, k=3) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(knn_radii(x, 2), [sorted(r)[2] for r in cdist(x, x)])


def test_prdc_counts_ties_as_outside():
    # Real points 0, 1, 2, 3 on a line, k = 1: every real radius is 1 exactly.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    # Fake points 4, 5, 6.5, 7.5 (k = 1 radii 1, 1, 1, 1). Fake 4 lies at distance 1 from real 3: on the
    # sphere, so outside. Real 3 is at distance 1 from fake 4, also on the fake ball's sphere.
    fake = np.array([[4.0], [5.0], [6.5], [7.5]])
    got = prdc(real, fake, k=1)
    assert got == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0, "k": 1}
    # Move fake 4 to 3.5: inside real 3's ball (precision 1/4, density 1/4), real 3 inside its ball
    # (radius 1.5 now), and real 3's nearest fake is inside real 3's ball (coverage 1/4).
    fake[0, 0] = 3.5
    got = prdc(real, fake, k=1)
    assert got == {"precision": 0.25, "recall": 0.25, "density": 0.25, "coverage": 0.25, "k": 1}


def test_prdc_density_counts_every_real_ball():
    # Fake 1.5 lies in real balls 1 and 2 (radius 1 each): density = 2 / (k M) = 2 / 2.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[1.5], [10.0]])
    got = prdc(real, fake, k=1)
    assert got["precision"] == 0.5 and got["density"] == 1.0 and got["coverage"] == 0.5


def test_prdc_sample_count_errors_name_k_and_both_sizes():
    x, y = np.arange(8.0).reshape(4, 2), np.arange(10.0).reshape(5, 2)
    assert prdc(x, y, k=3)["k"] == 3  # 4 and 5 samples: more than k = 3 in each
    text = "precision/recall with k={k} needs more than {k} samples in each set (have {n} and {m})"
    with pytest.raises(HeliogenError, match="^" + re.escape(text.format(k=4, n=4, m=5)) + "$"):
        prdc(x, y, k=4)
    with pytest.raises(HeliogenError, match="^" + re.escape(text.format(k=4, n=5, m=4)) + "$"):
        prdc(y, x, k=4)
    with pytest.raises(HeliogenError, match="^" + re.escape(text.format(k=0, n=4, m=5)) + "$"):
        prdc(x, y, k=0)
    with pytest.raises(HeliogenError, match="^feature dimensions differ: 2 vs 1$"):
        prdc(x, np.arange(5.0)[:, None])
    with pytest.raises(HeliogenError, match=r"^fake features has 1 sample\(s\)"):
        prdc(x, y[:1])
    with pytest.raises(HeliogenError, match=r"^real features has 1 sample\(s\)"):
        prdc(x[:1], y)


# ----------------------------------------------------------------------------- cluster metrics


def _cluster_loops(centres, ref, gen):
    """The flare poster's CE, CD and CS (module docstring) with Python loops over samples."""
    def nearest(p):
        dists = [float(np.sqrt(np.sum((p - c) ** 2))) for c in centres]
        best = min(range(len(centres)), key=lambda c: dists[c])
        return best, dists[best]

    k = len(centres)
    r = [nearest(p) for p in ref]
    g = [nearest(p) for p in gen]
    n_c = [sum(1 for lab, _ in r if lab == c) for c in range(k)]
    g_c = [sum(1 for lab, _ in g if lab == c) for c in range(k)]
    scale = len(ref) / len(gen)
    ce = sum((g_c[c] * scale - n_c[c]) ** 2 / n_c[c] ** 2 for c in range(k)) / k
    d_ref = np.array([d for _, d in r])
    d_gen = np.array([d for _, d in g])
    rms_ref, rms_gen = np.sqrt(np.mean(d_ref**2)), np.sqrt(np.mean(d_gen**2))
    cd = rms_gen / rms_ref
    # Eq. 7: spread of generated distances around d CD, over that of the reference around d.
    cs = np.sqrt(np.mean((d_gen - rms_ref * cd) ** 2)) / np.sqrt(np.mean((d_ref - rms_ref) ** 2))
    return {"ce": ce, "cd": cd, "cs": cs, "k": k, "counts_ref": n_c, "counts_gen": g_c}


def _blobs(rng, k, n, d=2, spread=0.3):
    centres = rng.normal(size=(k, d)) * 8
    return np.concatenate([c + spread * rng.normal(size=(n, d)) for c in centres])


def _kmeans_centres(x, k, seed):
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x).cluster_centers_


def test_fit_clusters_is_documented_kmeans_with_reference_statistics():
    # Uniform points have no clear clusters, so the restart count and the seed change the fit
    # (here the eleventh k-means++ restart would find a lower inertia than the first ten).
    x = np.random.default_rng(4).uniform(size=(40, 2))
    model = fit_clusters(x, k=5)  # seed 0 by default
    np.testing.assert_allclose(model.centres, _kmeans_centres(x, 5, 0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit_clusters(x, k=7, seed=4).centres, _kmeans_centres(x, 7, 4), rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit_clusters(x).centres, _kmeans_centres(x, 10, 0), rtol=0, atol=1e-12)
    dist = cdist(x, model.centres).min(axis=1)
    rms = np.sqrt(np.sum(dist**2) / len(x))
    assert model.n_ref == 40
    assert model.ref_rms == pytest.approx(rms, rel=1e-12)
    assert model.ref_std == pytest.approx(np.sqrt(np.sum((dist - rms) ** 2) / len(x)), rel=1e-12)
    np.testing.assert_array_equal(model.ref_counts, np.bincount(cdist(x, model.centres).argmin(axis=1), minlength=5))


def test_cluster_metrics_and_halves_default_to_ten_clusters_seed_zero():
    rng = np.random.default_rng(25)
    ref, gen = rng.uniform(size=(40, 2)), rng.uniform(size=(30, 2)) ** 2
    expected = _cluster_loops(_kmeans_centres(ref, 10, 0), ref, gen)
    got = cluster_metrics(ref, gen)
    assert got["k"] == 10 and got["counts_gen"] == expected["counts_gen"]
    assert (got["ce"], got["cd"], got["cs"]) == pytest.approx((expected["ce"], expected["cd"], expected["cs"]), rel=1e-12)
    expected = _cluster_loops(_kmeans_centres(ref, 6, 3), ref, gen)
    got = cluster_metrics(ref, gen, k=6, seed=3)
    assert got["k"] == 6 and got["counts_gen"] == expected["counts_gen"]
    assert (got["ce"], got["cd"], got["cs"]) == pytest.approx((expected["ce"], expected["cd"], expected["cs"]), rel=1e-12)
    x = rng.uniform(size=(41, 2))
    perm = np.random.default_rng(0).permutation(41)
    first, second = x[perm[:20]], x[perm[20:40]]
    expected = _cluster_loops(_kmeans_centres(first, 10, 0), first, second)
    got = halves_benchmark(x)
    assert got == {"ce": pytest.approx(expected["ce"], rel=1e-12), "cd": pytest.approx(expected["cd"], rel=1e-12),
                   "cs": pytest.approx(expected["cs"], rel=1e-12), "k": 10, "n_per_half": 20}


def test_cluster_model_assign_gives_nearest_centre_and_its_distance():
    model = ClusterModel(np.array([[0.0, 0.0], [10.0, 0.0]]), np.array([1.0, 1.0]), 1.0, 1.0, 2)
    labels, dist = model.assign(np.array([[3.0, 4.0], [9.0, 0.0], [6.0, 8.0]]))
    np.testing.assert_array_equal(labels, [0, 1, 1])
    np.testing.assert_allclose(dist, [5.0, 1.0, np.sqrt(16.0 + 64.0)], rtol=1e-15)


def test_cluster_metrics_match_loops_with_unequal_set_sizes():
    rng = np.random.default_rng(22)
    ref = _blobs(rng, 3, 20)
    gen = np.concatenate([_blobs(np.random.default_rng(22), 3, 20)[:45], rng.normal(size=(5, 2))]) * 1.3
    model = fit_clusters(ref, k=3)
    got = cluster_metrics(ref, gen, k=3)
    expected = _cluster_loops(model.centres, ref, gen)
    assert got == {"ce": pytest.approx(expected["ce"], rel=1e-12), "cd": pytest.approx(expected["cd"], rel=1e-12),
                   "cs": pytest.approx(expected["cs"], rel=1e-12), "k": 3,
                   "counts_ref": expected["counts_ref"], "counts_gen": expected["counts_gen"]}
    assert sum(got["counts_gen"]) == 50 and sum(got["counts_ref"]) == 60


def test_cluster_metrics_by_hand_on_a_fixed_model():
    # Two centres on a line; reference: 2 samples per centre at distances 1 and 3.
    centres = np.array([[0.0], [100.0]])
    ref_d = np.array([1.0, 3.0, 1.0, 3.0])
    rms = np.sqrt(np.mean(ref_d**2))  # sqrt(5)
    std = np.sqrt(np.mean((ref_d - rms) ** 2))
    model = ClusterModel(centres, np.array([2.0, 2.0]), float(rms), float(std), 4)
    # One generated sample, distance 2 from centre 0: counts (1, 0) -> scaled (4, 0).
    got = cluster_metrics(None, [[2.0]], model=model)
    assert got["ce"] == pytest.approx(((4 - 2) ** 2 / 4 + (0 - 2) ** 2 / 4) / 2, rel=1e-14)
    assert got["cd"] == pytest.approx(2.0 / np.sqrt(5.0), rel=1e-14)
    assert got["cs"] == 0.0  # one distance has no spread around its own RMS
    # Counts are reported as integers (they go into JSON reports as such).
    assert json.dumps(got["counts_gen"]) == "[1, 0]" and json.dumps(got["counts_ref"]) == "[2, 2]" and got["k"] == 2
    # Generated: distances 1, 3 around centre 0 and 2, 6 around centre 1 (3 : 1 occupancy rescaled).
    gen = np.array([[1.0], [-3.0], [4.0], [102.0], [94.0]])
    got = cluster_metrics(None, gen, model=model)
    scaled = np.array([3.0, 2.0]) * 4 / 5
    g = np.array([1.0, 3.0, 4.0, 2.0, 6.0])
    g_rms = np.sqrt(np.mean(g**2))
    assert got["ce"] == pytest.approx(np.mean((scaled - 2.0) ** 2 / 4.0), rel=1e-14)
    assert got["cd"] == pytest.approx(g_rms / rms, rel=1e-14)
    assert got["cs"] == pytest.approx(np.sqrt(np.mean((g - g_rms) ** 2)) / std, rel=1e-14)


def test_cluster_metrics_errors_are_clear():
    rng = np.random.default_rng(23)
    x = _blobs(rng, 2, 10)
    with pytest.raises(HeliogenError, match="^feature dimensions differ: 2 vs 3$"):
        cluster_metrics(x, rng.normal(size=(4, 3)), k=2)
    with pytest.raises(HeliogenError, match="^generated features is empty$"):
        cluster_metrics(x, np.zeros((0, 2)), k=2)
    with pytest.raises(HeliogenError, match=re.escape("cluster metrics with K=10 need at least 20 reference samples (have 19)")):
        fit_clusters(rng.normal(size=(19, 2)))
    with pytest.raises(HeliogenError, match=re.escape("cluster metrics with K=0 need at least 0 reference samples (have 20)")):
        fit_clusters(x, k=0)
    with pytest.raises(HeliogenError, match=r"^reference features has 1 sample\(s\)"):
        fit_clusters(x[:1], k=1)
    # Exactly 2 K samples are enough.
    assert fit_clusters(_blobs(rng, 2, 2), k=2).n_ref == 4


def test_fit_clusters_rejects_empty_clusters_and_zero_spread():
    # Three distinct points repeated: KMeans with K = 5 duplicates centres, two stay empty.
    x = np.repeat(np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]), 4, axis=0)
    with pytest.warns(Warning):
        with pytest.raises(HeliogenError, match=r"^KMeans left 2 of K=5 clusters empty; lower K$"):
            fit_clusters(x, k=5)
    text = "^the reference features have no spread around their cluster centres \\(identical samples\\?\\)$"
    with pytest.raises(HeliogenError, match=text):  # every sample on its centre: RMS 0
        fit_clusters(np.repeat(np.array([[0.0], [3.0]]), 2, axis=0), k=2)
    with pytest.raises(HeliogenError, match=text):  # all distances equal: RMS 1, spread 0
        fit_clusters(np.array([[-1.0], [1.0]]), k=1)


def test_halves_benchmark_compares_two_disjoint_random_halves():
    rng = np.random.default_rng(24)
    x = _blobs(rng, 2, 12)[:23]  # odd: one sample is left out
    perm = np.random.default_rng(0).permutation(23)
    first, second = x[perm[:11]], x[perm[11:22]]
    expected = _cluster_loops(fit_clusters(first, k=2).centres, first, second)
    got = halves_benchmark(x, k=2)
    assert got == {"ce": pytest.approx(expected["ce"], rel=1e-12), "cd": pytest.approx(expected["cd"], rel=1e-12),
                   "cs": pytest.approx(expected["cs"], rel=1e-12), "k": 2, "n_per_half": 11}
    # The seed drives both the split and the KMeans fit (uniform points: the fit depends on it).
    u = np.random.default_rng(131).uniform(size=(31, 2))
    perm = np.random.default_rng(5).permutation(31)
    first, second = u[perm[:15]], u[perm[15:30]]
    expected = _cluster_loops(_kmeans_centres(first, 5, 5), first, second)
    got = halves_benchmark(u, k=5, seed=5)
    assert (got["ce"], got["cd"], got["cs"]) == pytest.approx((expected["ce"], expected["cd"], expected["cs"]), rel=1e-12)


def test_halves_benchmark_needs_four_samples():
    with pytest.raises(HeliogenError, match=r"^reference features has 3 sample\(s\); at least 4 are needed$"):
        halves_benchmark(np.arange(3.0)[:, None], k=1)
    # Four samples pass the count check (two per half) and reach the clustering.
    with pytest.raises(HeliogenError, match="no spread"):
        halves_benchmark(np.arange(4.0)[:, None], k=1)
