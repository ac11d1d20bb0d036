"""Kernel Inception Distance: the unbiased polynomial-kernel MMD^2 over random subsets.

Bińkowski et al. (2018), "Demystifying MMD GANs", eq. (3) with the cubic kernel
k(x, y) = (x.y / d + 1)^3, estimated on ``n_subsets`` pairs of random subsets of
``subset_size`` samples (without replacement) and reported as mean and standard deviation
over subsets, as in their code, clean-fid and torch-fidelity. The full-disk EUV study
uses it as the bias-free alternative to FID (sec. 2). Values are raw (not x 10^3).
"""

from __future__ import annotations

import numpy as np

from ...errors import HeliogenError
from .fd import check_features

__all__ = ["kid", "mmd2_unbiased", "polynomial_kernel"]


def polynomial_kernel(x, y, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """k(x, y) = (x.y / d + coef0)^degree for all row pairs, float64."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x, y, degree: int = 3, coef0: float = 1.0) -> float:
    """Unbiased MMD^2 of two equal-size samples (Bińkowski et al. 2018, eq. 3)."""
    m = x.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x, degree, coef0), polynomial_kernel(y, y, degree, coef0), polynomial_kernel(x, y, degree, coef0)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.sum() / (m * m))


def kid(real, fake, n_subsets: int = 100, subset_size: int = 1000, degree: int = 3, coef0: float = 1.0, seed: int = 0) -> dict:
    """KID mean and standard deviation over subsets.

    Parameters
    ----------
    real, fake : array_like, (N, D) and (M, D)
    n_subsets : int
    subset_size : int
        Capped at min(N, M); at least 2 samples are needed.
    seed : int
        Seed of the subset draws (numpy default_rng).

    Returns
    -------
    dict
        ``{"mean", "std", "n_subsets", "subset_size"}``.
    """
    x, y = check_features(real, "real features"), check_features(fake, "fake features")
    if x.shape[1] != y.shape[1]:
        raise HeliogenError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    if n_subsets < 1:
        raise HeliogenError("KID needs at least one subset")
    m = min(int(subset_size), len(x), len(y))
    rng = np.random.default_rng(seed)
    vals = np.empty(n_subsets)
    for i in range(n_subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        vals[i] = mmd2_unbiased(a, b, degree, coef0)
    return {"mean": float(vals.mean()), "std": float(vals.std()), "n_subsets": int(n_subsets), "subset_size": int(m)}
