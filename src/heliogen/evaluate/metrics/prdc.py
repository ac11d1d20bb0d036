"""Precision, recall, density and coverage on k-nearest-neighbour manifolds.

Precision and recall: Kynkäänniemi et al. (2019), "Improved precision and recall metric
for assessing generative models", eqs. (1)-(3); density and coverage: Naeem et al.
(2020), "Reliable fidelity and diversity metrics for generative models", eqs. (3)-(4).
The full-disk EUV study reports precision and recall (appendix D, tables 4 and 6) with
k = 3. Each sample's radius is the Euclidean distance to its k-th nearest neighbour in
its own set (itself excluded); "inside" is strictly closer than the radius, as in the
reference ``prdc`` code. Distances are computed in float64 and in row blocks, so memory
stays O(block x N).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from ...errors import HeliogenError
from .fd import check_features

__all__ = ["prdc", "knn_radii"]

_BLOCK = 2048


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    out = np.empty(len(x))
    for i in range(0, len(x), _BLOCK):
        d = cdist(x[i : i + _BLOCK], x)
        # Column 0 of the sorted row is the sample itself (distance 0).
        out[i : i + _BLOCK] = np.partition(d, k, axis=1)[:, k]
    return out


def prdc(real, fake, k: int = 3) -> dict:
    """Precision, recall, density and coverage of ``fake`` against ``real``.

    Parameters
    ----------
    real, fake : array_like, (N, D) and (M, D)
    k : int
        Neighbourhood size; both sets need more than k samples.

    Returns
    -------
    dict
        ``{"precision", "recall", "density", "coverage", "k"}``.
    """
    x, y = check_features(real, "real features"), check_features(fake, "fake features")
    if x.shape[1] != y.shape[1]:
        raise HeliogenError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    if k < 1 or len(x) <= k or len(y) <= k:
        raise HeliogenError(f"precision/recall with k={k} needs more than {k} samples in each set (have {len(x)} and {len(y)})")
    rx, ry = knn_radii(x, k), knn_radii(y, k)
    in_real = np.zeros(len(y), dtype=bool)     # fake j inside some real ball
    density_count = np.zeros(len(y))           # how many real balls hold fake j
    real_in_fake = np.zeros(len(x), dtype=bool)  # real i inside some fake ball
    covered = np.zeros(len(x), dtype=bool)     # nearest fake of real i inside real i's ball
    for i in range(0, len(x), _BLOCK):
        d = cdist(x[i : i + _BLOCK], y)        # (block, M)
        inside = d < rx[i : i + _BLOCK, None]
        in_real |= inside.any(axis=0)
        density_count += inside.sum(axis=0)
        real_in_fake[i : i + _BLOCK] = (d < ry[None, :]).any(axis=1)
        covered[i : i + _BLOCK] = d.min(axis=1) < rx[i : i + _BLOCK]
    return {"precision": float(in_real.mean()), "recall": float(real_in_fake.mean()),
            "density": float(density_count.sum() / (k * len(y))), "coverage": float(covered.mean()), "k": int(k)}
