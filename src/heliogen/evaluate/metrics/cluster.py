"""Cluster metrics of the flare poster: Cluster Error, Cluster Distance and Cluster Std.

Hackstein et al. (2023), as used by the flare-class diffusion poster (its eqs. 5-7, and
the benchmark values CE = 0.002, CD = 1.001, CS = 0.998 from two halves of one real set).
KMeans (scikit-learn, K = 10 by default) is fitted on the reference features only;
generated samples are assigned to their nearest reference centre.

* CE = (1/K) sum_c (n^_c - n_c)^2 / n_c^2, with the generated counts rescaled to the
  reference total (n^_c * N_ref / N_gen) so that only the shape of the occupancy counts.
* CD = RMS(d^_i) / RMS(d_i): the RMS distance of generated samples to their centre over
  that of the reference samples (eq. 6, with d the reference RMS).
* CS = sqrt(mean((d^_i - d CD)^2)) / sqrt(mean((d_i - d)^2)): the spread of distances
  around their RMS, generated over reference (eq. 7).
"""

from __future__ import annotations

import numpy as np

from ...errors import HeliogenError
from .fd import check_features

__all__ = ["cluster_metrics", "ClusterModel", "fit_clusters", "halves_benchmark"]


class ClusterModel:
    """KMeans centres of a reference set and the reference distance statistics."""

    def __init__(self, centres: np.ndarray, ref_counts: np.ndarray, ref_rms: float, ref_std: float, n_ref: int):
        self.centres, self.ref_counts, self.ref_rms, self.ref_std, self.n_ref = centres, ref_counts, ref_rms, ref_std, n_ref

    def assign(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest-centre labels and distances."""
        from scipy.spatial.distance import cdist

        d = cdist(features, self.centres)
        labels = d.argmin(axis=1)
        return labels, d[np.arange(len(d)), labels]


def fit_clusters(reference, k: int = 10, seed: int = 0) -> ClusterModel:
    """Fit KMeans (k-means++, 10 restarts, ``random_state=seed``) on the reference features."""
    from sklearn.cluster import KMeans

    x = check_features(reference, "reference features", min_n=2)
    if k < 1 or len(x) < 2 * k:
        raise HeliogenError(f"cluster metrics with K={k} need at least {2 * k} reference samples (have {len(x)})")
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    model = ClusterModel(km.cluster_centers_.astype(np.float64), np.zeros(k), 0.0, 0.0, len(x))
    labels, dist = model.assign(x)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    if (counts == 0).any():
        raise HeliogenError(f"KMeans left {int((counts == 0).sum())} of K={k} clusters empty; lower K")
    rms = float(np.sqrt(np.mean(dist**2)))
    std = float(np.sqrt(np.mean((dist - rms) ** 2)))
    # rms = 0 means every distance is 0, hence std = 0 too: the spread alone decides.
    if std <= 0:
        raise HeliogenError("the reference features have no spread around their cluster centres (identical samples?)")
    model.ref_counts, model.ref_rms, model.ref_std = counts, rms, std
    return model


def cluster_metrics(reference, generated, k: int = 10, seed: int = 0, model: ClusterModel | None = None) -> dict:
    """CE, CD and CS of ``generated`` against ``reference`` (flare poster, eqs. 5-7).

    Returns
    -------
    dict
        ``{"ce", "cd", "cs", "k", "counts_ref", "counts_gen"}`` (counts before rescaling).
    """
    g = check_features(generated, "generated features", min_n=1)
    model = model or fit_clusters(reference, k, seed)
    if g.shape[1] != model.centres.shape[1]:
        raise HeliogenError(f"feature dimensions differ: {model.centres.shape[1]} vs {g.shape[1]}")
    labels, dist = model.assign(g)
    counts = np.bincount(labels, minlength=len(model.centres)).astype(np.float64)
    scaled = counts * model.n_ref / len(g)
    ce = float(np.mean((scaled - model.ref_counts) ** 2 / model.ref_counts**2))
    rms = float(np.sqrt(np.mean(dist**2)))
    cd = rms / model.ref_rms
    cs = float(np.sqrt(np.mean((dist - rms) ** 2))) / model.ref_std
    return {"ce": ce, "cd": cd, "cs": cs, "k": len(model.centres),
            "counts_ref": model.ref_counts.astype(int).tolist(), "counts_gen": counts.astype(int).tolist()}


def halves_benchmark(reference, k: int = 10, seed: int = 0) -> dict:
    """Cluster metrics of one random half of the reference against the other half.

    The poster's benchmark (CE = 0.002, CD = 1.001, CS = 0.998): what a perfect generator
    scores with this many samples.
    """
    x = check_features(reference, "reference features", min_n=4)
    idx = np.random.default_rng(seed).permutation(len(x))
    half = len(x) // 2
    out = cluster_metrics(x[idx[:half]], x[idx[half : 2 * half]], k=k, seed=seed)
    return {key: out[key] for key in ("ce", "cd", "cs", "k")} | {"n_per_half": half}
