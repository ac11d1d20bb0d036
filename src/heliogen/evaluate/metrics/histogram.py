"""Pixel-value statistics of real against generated images, and their histogram plot.

The full-disk EUV study compares pixel histograms of real and generated disks (its
figures of intensity distributions). heliogen adds two scalar distances between the
pixel distributions, from scipy: the Wasserstein-1 distance
(``scipy.stats.wasserstein_distance``) and the two-sample Kolmogorov-Smirnov statistic
(``scipy.stats.ks_2samp``), plus means and standard deviations. Values are in the space
the caller passes (heliogen passes model space, see ``io``). For large sets the distances
use a seeded uniform subsample of ``max_pixels`` pixels per set; moments use all pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import HeliogenError
from ...viz.figures import save_figure

__all__ = ["pixel_stats", "plot_histograms", "MAX_PIXELS"]

MAX_PIXELS = 2_000_000


def _flat(images, name):
    a = np.asarray(images, dtype=np.float64).ravel()
    if a.size == 0:
        raise HeliogenError(f"the {name} set is empty")
    if not np.isfinite(a).all():
        raise HeliogenError(f"the {name} images contain NaN or infinite values")
    return a


def _subsample(a, n, rng):
    return a if a.size <= n else a[rng.choice(a.size, n, replace=False)]


def pixel_stats(real, fake, max_pixels: int = MAX_PIXELS, seed: int = 0) -> dict:
    """W1 and KS distances between the pixel distributions, and their first two moments.

    Returns
    -------
    dict
        ``wasserstein``, ``ks`` (statistic), ``ks_pvalue``, ``mean_real``, ``mean_fake``,
        ``std_real``, ``std_fake``, ``pixels_used`` (per set, for the distances).
    """
    from scipy import stats

    r, f = _flat(real, "real"), _flat(fake, "fake")
    rng = np.random.default_rng(seed)
    rs, fs = _subsample(r, max_pixels, rng), _subsample(f, max_pixels, rng)
    ks = stats.ks_2samp(rs, fs)
    return {"wasserstein": float(stats.wasserstein_distance(rs, fs)), "ks": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
            "mean_real": float(r.mean()), "mean_fake": float(f.mean()), "std_real": float(r.std()), "std_fake": float(f.std()),
            "pixels_used": int(min(rs.size, fs.size))}


def plot_histograms(real, fake, path, bins: int = 100, xlabel: str = "pixel value (model space)", title: str = "") -> Path:
    """Real and generated pixel histograms on shared bins (density, log y), saved as PNG."""
    from matplotlib.figure import Figure

    r, f = _flat(real, "real"), _flat(fake, "fake")
    edges = np.linspace(min(r.min(), f.min()), max(r.max(), f.max()) + 1e-12, bins + 1)
    fig = Figure(figsize=(5, 3.5), dpi=100)
    ax = fig.subplots()
    ax.hist(r, edges, density=True, histtype="step", lw=1.5, label=f"real (n={r.size})")
    ax.hist(f, edges, density=True, histtype="step", lw=1.5, label=f"generated (n={f.size})")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title or "pixel histograms")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
