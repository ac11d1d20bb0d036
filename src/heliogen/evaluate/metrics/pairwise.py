"""Pairwise metrics for super-resolution: PSNR, SSIM, MSE, MAE (and LPIPS in ``lpips``).

The super-resolution paper (sec. 5, eqs. 3-5) scores each predicted high-resolution map
against its target. Conventions:

* PSNR = 10 log10(R^2 / MSE) with a **declared** data range R (the paper's images are in
  [-1, 1], so R = 2 in model space; R = 6000 for Gauss clipped to +-3000). Identical
  images give +inf.
* SSIM (Wang et al. 2004, eq. 5 of the paper) with an 11-tap Gaussian window,
  sigma = 1.5, K1 = 0.01, K2 = 0.03, population covariances, averaged over the pixels
  whose window lies inside the image: the same conventions as
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=R)``, which it matches to 1e-6. Written with
  separable float64 torch convolutions so that a batch runs at once, on any device.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import HeliogenError

__all__ = ["mse", "mae", "psnr", "ssim", "check_pair"]


def check_pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 with equal shapes and finite values, or a clear error."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise HeliogenError(f"prediction and target shapes differ: {p.shape} vs {t.shape}")
    if p.size == 0:
        raise HeliogenError("prediction and target are empty")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise HeliogenError("prediction or target contains NaN or infinite values")
    return p, t


def mse(pred, target) -> float:
    """Mean squared error."""
    p, t = check_pair(pred, target)
    return float(np.mean((p - t) ** 2))


def mae(pred, target) -> float:
    """Mean absolute error."""
    p, t = check_pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def psnr(pred, target, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(R^2 / MSE) (super-resolution paper, eqs. 3-4).

    Parameters
    ----------
    data_range : float
        R, the declared range of the data (max - min possible value); must be > 0.
    """
    if not (data_range and data_range > 0 and math.isfinite(data_range)):
        raise HeliogenError(f"PSNR needs a positive, finite data range, not {data_range!r}")
    err = mse(pred, target)
    return math.inf if err == 0 else float(10.0 * np.log10(data_range**2 / err))


def _gaussian_window(sigma: float, truncate: float = 3.5):
    radius = int(truncate * sigma + 0.5)  # scipy.ndimage's radius, so the window is 11 taps at sigma 1.5
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim(pred, target, data_range: float, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03, per_image: bool = False):
    """Mean SSIM with a Gaussian window (Wang et al. 2004), matching scikit-image.

    Parameters
    ----------
    pred, target : array_like
        (H, W), (N, H, W) or (N, C, H, W); channels are averaged like images.
    data_range : float
        Declared data range R (C1 = (k1 R)^2, C2 = (k2 R)^2).
    per_image : bool
        Return one value per image (N,) instead of the mean.
    """
    import torch
    import torch.nn.functional as F

    p, t = check_pair(pred, target)
    if not (data_range and data_range > 0):
        raise HeliogenError(f"SSIM needs a positive data range, not {data_range!r}")
    if p.ndim == 2:
        p, t = p[None, None], t[None, None]
    elif p.ndim == 3:
        p, t = p[:, None], t[:, None]
    elif p.ndim != 4:
        raise HeliogenError(f"SSIM takes (H, W), (N, H, W) or (N, C, H, W) arrays, not shape {p.shape}")
    n, c, h, w = p.shape
    win = _gaussian_window(sigma)
    if h < len(win) or w < len(win):
        raise HeliogenError(f"SSIM needs images of at least {len(win)} px, not {h}x{w}")
    x = torch.from_numpy(p.reshape(n * c, 1, h, w))
    y = torch.from_numpy(t.reshape(n * c, 1, h, w))
    g = torch.from_numpy(win)
    gy, gx = g.view(1, 1, -1, 1), g.view(1, 1, 1, -1)

    def blur(a):  # separable, 'valid': exactly skimage's cropped interior
        return F.conv2d(F.conv2d(a, gy), gx)

    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    vals = s.reshape(n, c, -1).mean(dim=(1, 2)).numpy()
    return vals.astype(np.float64) if per_image else float(vals.mean())
