"""Uncertainty maps of a stochastic super-resolver: per-pixel standard deviation over N
samples of one input, split into small and large scales by a Butterworth high-pass.

The super-resolution paper (sec. 7, fig. 11) super-resolves one MDI map ten times,
takes the per-pixel standard deviation, high-pass filters that map with a Butterworth
filter (Butterworth 1930) at the 2" scale to isolate the uncertainty of structure finer
than 2", and overlays a mask of the filtered map. Here the filter is scikit-image's
``filters.butterworth`` with the classic (not squared) amplitude response
|H(f)| = 1 / sqrt(1 + (f_c / f)^(2 order)), f_c = CDELT / (2 scale) cycles/pixel (the
Fourier module's 2" circle). The standard deviation uses ddof = 0 (numpy's default).
The mask marks pixels whose small-scale uncertainty exceeds the ``quantile`` of its
absolute values (0.9 by default).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import HeliogenError
from ...viz.figures import save_figure
from .fourier import SCALE_ARCSEC

__all__ = ["pixel_std", "butterworth_highpass", "split_uncertainty", "plot_uncertainty"]


def pixel_std(samples) -> np.ndarray:
    """Per-pixel standard deviation over N >= 2 samples (N, H, W) or (N, 1, H, W)."""
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim == 4 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 3:
        raise HeliogenError(f"uncertainty needs samples shaped (N, H, W), not {s.shape}")
    if len(s) < 2:
        raise HeliogenError(f"uncertainty needs at least 2 samples of one input, not {len(s)}")
    if not np.isfinite(s).all():
        raise HeliogenError("the samples contain NaN or infinite values")
    return s.std(axis=0)


def butterworth_highpass(img, cdelt: float, scale: float = SCALE_ARCSEC, order: float = 2.0) -> np.ndarray:
    """Butterworth high-pass at the Nyquist frequency of ``scale``-arcsec pixels."""
    from skimage.filters import butterworth

    if not (cdelt and cdelt > 0):
        raise HeliogenError(f"CDELT must be positive, not {cdelt!r}")
    ratio = cdelt / (2.0 * scale)
    if not 0 < ratio < 0.5:
        raise HeliogenError(f'a {scale:g}" cutoff is not resolvable at CDELT {cdelt:g}" (needs pixels smaller than {scale:g}")')
    return butterworth(np.asarray(img, dtype=np.float64), cutoff_frequency_ratio=ratio, high_pass=True, order=order,
                       squared_butterworth=False)


def split_uncertainty(samples, cdelt: float, scale: float = SCALE_ARCSEC, order: float = 2.0, quantile: float = 0.9) -> dict:
    """Standard-deviation map, its small-scale (high-pass) and large-scale parts, and the mask.

    Returns
    -------
    dict
        ``std``, ``small``, ``large`` (= std - small) maps, ``mask`` (bool), and scalars
        ``mean_std`` and ``small_scale_fraction`` (share of the std map's fluctuation
        energy in the small-scale part).
    """
    std = pixel_std(samples)
    small = butterworth_highpass(std, cdelt, scale, order)
    large = std - small
    thr = np.quantile(np.abs(small), quantile)
    fluct = np.sum((std - std.mean()) ** 2)
    return {"std": std, "small": small, "large": large, "mask": np.abs(small) > thr,
            "mean_std": float(std.mean()), "small_scale_fraction": float(np.sum(small**2) / fluct) if fluct > 0 else 0.0}


def plot_uncertainty(split: dict, path, unit: str = "G", title: str = "") -> Path:
    """Three panels: std map, small-scale std, and the std map with the mask overlaid."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.4), dpi=100)
    axes = fig.subplots(1, 3)
    im = axes[0].imshow(split["std"], origin="lower", cmap="viridis")
    fig.colorbar(im, ax=axes[0], fraction=0.046, label=f"std ({unit})")
    axes[0].set_title("per-pixel std")
    im = axes[1].imshow(split["small"], origin="lower", cmap="RdBu_r")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    axes[1].set_title("high-pass (small scales)")
    axes[2].imshow(split["std"], origin="lower", cmap="gray")
    overlay = np.ma.masked_where(~split["mask"], split["mask"].astype(float))
    axes[2].imshow(overlay, origin="lower", cmap="autumn", alpha=0.6)
    axes[2].set_title("mask over std")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
