"""Precision, recall, density, coverage and the flare poster's cluster metrics, recomputed independently.

Expected values come from brute-force scipy distances with Python loops (Kynkäänniemi et al. 2019,
Naeem et al. 2020), hand-counted tie cases, scikit-learn's KMeans with the documented settings, and
plain loops over the cluster formulas in the module docstring (CE, CD, CS).
"""

import json
import re

import numpy as np
import pytest
import scipy.spatial.distance
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans

from heliogen.errors import HeliogenError
from heliogen.evaluate.metrics import prdc as prdc_module
from heliogen.evaluate.metrics.cluster import ClusterModel, cluster_metrics, fit_clusters, halves_benchmark
from heliogen.evaluate.metrics.prdc import knn_radii, prdc


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
