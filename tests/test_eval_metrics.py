"""Distribution metrics against closed forms and small independent implementations."""

import math

import numpy as np
import pytest
import scipy.linalg

from heliogen.errors import HeliogenError
from heliogen.evaluate.metrics.cluster import cluster_metrics, halves_benchmark
from heliogen.evaluate.metrics.fd import fd_from_features, frechet_distance, gaussian_stats
from heliogen.evaluate.metrics.kid import kid
from heliogen.evaluate.metrics.prdc import prdc


def _random_psd(rng, d):
    a = rng.normal(size=(d, 2 * d))
    return a @ a.T / (2 * d)


def test_fd_of_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(200, 16))
    s = gaussian_stats(x)
    assert abs(frechet_distance(s.mu, s.sigma, s.mu, s.sigma)) < 1e-10 * np.trace(s.sigma)
    assert fd_from_features(x, x) < 1e-9


def test_fd_equals_closed_form_for_gaussians():
    # Diagonal covariances: FD = |mu1 - mu2|^2 + sum (s1 - s2)^2 with s the standard deviations.
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = rng.uniform(0.5, 2, 8), rng.uniform(0.5, 2, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    got = frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2))
    assert got == pytest.approx(expected, rel=1e-12)
    # Same eigenbasis (commuting covariances), rotated: the closed form still holds.
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    got = frechet_distance(q @ mu1, q @ np.diag(s1**2) @ q.T, q @ mu2, q @ np.diag(s2**2) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)


def test_fd_agrees_with_scipy_sqrtm_route():
    rng = np.random.default_rng(2)
    d = 64
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _random_psd(rng, d), _random_psd(rng, d)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)


def test_fd_errors_are_clear():
    with pytest.raises(HeliogenError, match="at least 2"):
        fd_from_features(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(HeliogenError, match="empty"):
        fd_from_features(np.zeros((0, 4)), np.zeros((5, 4)))
    with pytest.raises(HeliogenError, match="NaN"):
        fd_from_features(np.full((5, 4), np.nan), np.zeros((5, 4)))
    with pytest.raises(HeliogenError, match="dimensions differ"):
        fd_from_features(np.ones((5, 4)) + np.eye(5, 4), np.ones((5, 3)) + np.eye(5, 3))
    with pytest.raises(HeliogenError, match="2-D"):
        fd_from_features(np.zeros(5), np.zeros(5))


def _kid_reference(x, y, n_subsets, m, seed):
    # Independent loop implementation of Binkowski et al. (2018) eq. 3, cubic kernel.
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    k = lambda a, b: (np.dot(a, b) / d + 1.0) ** 3  # noqa: E731
    vals = []
    for _ in range(n_subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        sxx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        syy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        sxy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
        vals.append(sxx + syy - 2 * sxy)
    return np.mean(vals), np.std(vals)


def test_kid_matches_independent_implementation():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 5)), rng.normal(0.3, 1.2, size=(25, 5))
    got = kid(x, y, n_subsets=4, subset_size=12, seed=7)
    mean, std = _kid_reference(x, y, 4, 12, 7)
    assert got["mean"] == pytest.approx(mean, rel=1e-10)
    assert got["std"] == pytest.approx(std, rel=1e-10)
    assert got["subset_size"] == 12


def test_kid_is_unbiased_near_zero_for_one_distribution():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(400, 4)), rng.normal(size=(400, 4))
    got = kid(x, y, n_subsets=20, subset_size=200)
    assert abs(got["mean"]) < 3 * got["std"] + 1e-3


def _prdc_reference(x, y, k):
    # Brute force, straight from the definitions (Naeem et al. 2020, eqs. 1-4).
    dxx = np.linalg.norm(x[:, None] - x[None], axis=-1)
    dyy = np.linalg.norm(y[:, None] - y[None], axis=-1)
    dxy = np.linalg.norm(x[:, None] - y[None], axis=-1)
    rx = np.sort(dxx, axis=1)[:, k]
    ry = np.sort(dyy, axis=1)[:, k]
    precision = np.mean([any(dxy[i, j] < rx[i] for i in range(len(x))) for j in range(len(y))])
    recall = np.mean([any(dxy[i, j] < ry[j] for j in range(len(y))) for i in range(len(x))])
    density = sum(dxy[i, j] < rx[i] for i in range(len(x)) for j in range(len(y))) / (k * len(y))
    coverage = np.mean([dxy[i].min() < rx[i] for i in range(len(x))])
    return precision, recall, density, coverage


def test_prdc_matches_brute_force():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 3)), rng.normal(0.5, 0.8, size=(35, 3))
    got = prdc(x, y, k=3)
    p, r, d, c = _prdc_reference(x, y, 3)
    assert (got["precision"], got["recall"], got["density"], got["coverage"]) == pytest.approx((p, r, d, c), rel=1e-12)


def test_prdc_of_a_set_with_itself_is_perfect():
    x = np.random.default_rng(6).normal(size=(50, 4))
    got = prdc(x, x, k=3)
    assert got["precision"] == 1.0 and got["recall"] == 1.0 and got["coverage"] == 1.0


def test_prdc_needs_more_than_k_samples():
    with pytest.raises(HeliogenError, match="more than 3"):
        prdc(np.random.rand(3, 2), np.random.rand(10, 2), k=3)


def _clusters(rng, k=4, n=50, d=3, spread=0.1):
    centres = np.eye(k, d) * 10 if d >= k else rng.normal(size=(k, d)) * 10
    return centres, np.concatenate([c + spread * rng.normal(size=(n, d)) for c in centres])


def test_cluster_metrics_of_the_reference_itself():
    rng = np.random.default_rng(7)
    _, x = _clusters(rng, k=4, d=4)
    got = cluster_metrics(x, x, k=4)
    assert got["ce"] == pytest.approx(0.0, abs=1e-12)
    assert got["cd"] == pytest.approx(1.0, rel=1e-12)
    assert got["cs"] == pytest.approx(1.0, rel=1e-12)


def test_cluster_metrics_on_constructed_clusters():
    rng = np.random.default_rng(8)
    k, n = 4, 50
    centres, x = _clusters(rng, k=k, n=n, d=4)
    # Every generated sample in cluster 0, same total: CE = ((K n - n)^2/n^2 + (K-1)) / K = K - 1.
    gen = centres[0] + 0.1 * rng.normal(size=(k * n, 4))
    assert cluster_metrics(x, gen, k=k)["ce"] == pytest.approx(k - 1, rel=1e-12)
    # Spreading every sample twice as far from its (fitted) centre doubles CD and CS.
    from heliogen.evaluate.metrics.cluster import fit_clusters

    model = fit_clusters(x, k)
    labels, _ = model.assign(x)
    wide = model.centres[labels] + 2.0 * (x - model.centres[labels])
    got = cluster_metrics(x, wide, model=model)
    assert got["cd"] == pytest.approx(2.0, rel=1e-9)
    assert got["cs"] == pytest.approx(2.0, rel=1e-9)
    assert got["ce"] == pytest.approx(0.0, abs=1e-12)


def test_cluster_halves_land_near_the_poster_benchmark():
    # Two independent halves of one real set: the poster's CE 0.002, CD 1.001, CS 0.998.
    rng = np.random.default_rng(9)
    centres = rng.normal(size=(10, 8)) * 3
    x = centres[rng.integers(0, 10, 4000)] + rng.normal(size=(4000, 8))
    got = halves_benchmark(x, k=10)
    assert got["ce"] < 0.02
    assert abs(got["cd"] - 1) < 0.03
    assert abs(got["cs"] - 1) < 0.05


def test_cluster_metrics_need_enough_reference_samples():
    with pytest.raises(HeliogenError, match="at least 20"):
        cluster_metrics(np.random.rand(10, 3), np.random.rand(10, 3), k=10)
