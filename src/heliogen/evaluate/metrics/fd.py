"""The Fréchet distance between Gaussian fits of two feature sets (FID and its variants).

Heusel et al. (2017), "GANs trained by a two time-scale update rule converge to a local
Nash equilibrium", eq. (6); the flare poster's "FID" formula; the full-disk EUV study's
FID, rFID, CLIP-FID and domain FDs (appendix D):

    FD = |mu_1 - mu_2|^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^(1/2)).

The trace of the matrix square root is taken through eigenvalues, in float64:
Tr((S_1 S_2)^(1/2)) = sum_i sqrt(l_i), with l_i the eigenvalues of the symmetric
positive semi-definite matrix L^T S_2 L (S_1 = L L^T, Cholesky), which has the same
spectrum as S_1 S_2. One Cholesky factorisation and one eigenvalues-only symmetric
solve replace the Schur-based ``scipy.linalg.sqrtm`` (see benchmarks/bench_features.py
for the speed and the agreement). Every step runs in scipy's LAPACK and BLAS (one thread
pool): mixing in torch's MKL for the eigenvalues was slower on AMD machines, where two pools
of spinning threads shared two cores. A singular S_1 (fewer samples than dimensions) has no
Cholesky factor; then S_1^(1/2) from ``eigh`` takes L's place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ...errors import HeliogenError

__all__ = ["GaussianStats", "gaussian_stats", "frechet_distance", "fd_from_features", "check_features"]

log = logging.getLogger("heliogen")


def check_features(features, name: str = "features", min_n: int = 2) -> np.ndarray:
    """Return ``features`` as a finite float64 (N, D) array with N >= ``min_n``, or a clear error."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise HeliogenError(f"{name} must be a 2-D array (N, D), not shape {f.shape}")
    if f.shape[0] == 0:
        raise HeliogenError(f"{name} is empty")
    if f.shape[0] < min_n:
        raise HeliogenError(f"{name} has {f.shape[0]} sample(s); at least {min_n} are needed")
    if not np.isfinite(f).all():
        raise HeliogenError(f"{name} contains NaN or infinite values")
    return f


@dataclass
class GaussianStats:
    """Mean and covariance (float64) of a feature set, with its sample count."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


def gaussian_stats(features) -> GaussianStats:
    """Mean and unbiased covariance (ddof = 1), accumulated in float64.

    Raises
    ------
    HeliogenError
        Fewer than two samples (no covariance), or non-finite features.
    """
    f = check_features(features, min_n=2)
    if f.shape[0] <= f.shape[1]:
        log.warning("FD from %d samples of %d-d features: the covariance is singular and the FD biased upward",
                    f.shape[0], f.shape[1])
    return GaussianStats(mu=f.mean(axis=0), sigma=np.cov(f, rowvar=False, ddof=1).reshape(f.shape[1], f.shape[1]), n=f.shape[0])


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _eigvalsh(m: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric matrix, in float64 (LAPACK's divide and conquer, values only)."""
    import scipy.linalg

    return scipy.linalg.eigh(np.asarray(m, dtype=np.float64), eigvals_only=True, driver="evd", check_finite=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017, eq. 6).

    Parameters
    ----------
    mu1, mu2 : array_like, shape (D,)
    sigma1, sigma2 : array_like, shape (D, D)
        Symmetric positive semi-definite covariances.

    Returns
    -------
    float
        The distance, >= 0 (round-off below zero is clipped to 0).

    Raises
    ------
    HeliogenError
        Mismatched shapes, non-finite statistics (also after symmetrising), or a distance
        that overflows float64.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise HeliogenError(f"Gaussian statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    # Symmetrise against round-off so eigh sees exactly symmetric input; checked for finiteness
    # afterwards, so an overflow of huge entries is reported rather than turned into NaN.
    s1, s2 = (s1 + s1.T) / 2.0, (s2 + s2.T) / 2.0
    for a in (mu1, mu2, s1, s2):
        if not np.isfinite(a).all():
            raise HeliogenError("Gaussian statistics contain NaN or infinite values")
    import scipy.linalg

    try:
        r1 = scipy.linalg.cholesky(s1, lower=True, check_finite=False)
        # Triangular products (BLAS trmm) at half the cost of dense ones: M = L^T (S_2 L).
        trmm = scipy.linalg.blas.dtrmm
        m = trmm(1.0, r1, trmm(1.0, r1, s2, side=1, lower=1), side=0, lower=1, trans_a=1)
    except scipy.linalg.LinAlgError:
        r1 = _psd_sqrt(s1)
        m = r1 @ s2 @ r1
    lam = _eigvalsh(m)  # LAPACK reads the lower triangle only: no need to symmetrise M
    tr_covmean = float(np.sqrt(np.clip(lam, 0.0, None)).sum())
    diff = mu1 - mu2
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    if not np.isfinite(fd):
        raise HeliogenError(f"the Fréchet distance overflows float64 ({fd}); rescale the features")
    return max(fd, 0.0)


def fd_from_features(real, fake) -> float:
    """FD between two feature sets (N, D) and (M, D)."""
    a, b = gaussian_stats(real), gaussian_stats(fake)
    if a.mu.shape != b.mu.shape:
        raise HeliogenError(f"feature dimensions differ: {a.mu.shape[0]} vs {b.mu.shape[0]}")
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
