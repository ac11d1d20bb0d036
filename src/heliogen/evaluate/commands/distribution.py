"""Distribution metrics between a real and a generated image set, in one call.

``evaluate_distribution`` (``heliogen evaluate``) loads both sets into the real set's model
space (see :mod:`heliogen.evaluate.io`), extracts features with each requested extractor
(real-set features through the cache), and computes the requested metrics:

=========== =========================================================== ===================
name        what                                                        module
=========== =========================================================== ===================
fd          Fréchet distance (FID with ``inception``, rFID with         metrics.fd
            ``inception-random``, CLIP-FD, EfficientNet-FD, domain FD)
kid         KID mean and std over subsets                               metrics.kid
prdc        precision, recall, density, coverage (k = 3)                metrics.prdc
patch-fd    FD over random 64/128/256 px crops                          metrics.patch_fd
cluster     CE, CD, CS (K = 10) and the real-halves benchmark           metrics.cluster
histogram   pixel W1, KS, moments (+ plot)                              metrics.histogram
=========== =========================================================== ===================
"""

from __future__ import annotations

import logging
from pathlib import Path

from ...errors import HeliogenError
from ..features.cache import FeatureCache
from ..io import load_pair
from ..schema import new_document, write_metrics

__all__ = ["evaluate_distribution", "METRICS", "DEFAULT_FEATURES"]

log = logging.getLogger("heliogen")

METRICS = ("fd", "kid", "prdc", "patch-fd", "cluster", "histogram")
DEFAULT_FEATURES = ("inception",)


def _split(value, allowed=None, what="metric"):
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v and v.strip()]
    if not items:
        raise HeliogenError(f"no {what} given")
    if allowed:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise HeliogenError(f"unknown {what} {', '.join(bad)}; choose from {', '.join(allowed)}")
    return items


def _whole_set_metrics(res: dict, name: str, fr, ff, metrics, kid_subsets: int, kid_subset_size: int, k: int, cluster_k: int,
                       seed: int) -> None:
    """Add the metrics of whole-image features ``fr`` (real) and ``ff`` (fake) to ``res[metric][name]``."""
    if "fd" in metrics:
        from ..metrics.fd import fd_from_features

        res.setdefault("fd", {})[name] = fd_from_features(fr, ff)
    if "kid" in metrics:
        from ..metrics.kid import kid

        res.setdefault("kid", {})[name] = kid(fr, ff, kid_subsets, kid_subset_size, seed=seed)
    if "prdc" in metrics:
        from ..metrics.prdc import prdc

        res.setdefault("prdc", {})[name] = prdc(fr, ff, k=k)
    if "cluster" in metrics:
        from ..metrics.cluster import cluster_metrics, halves_benchmark

        c = cluster_metrics(fr, ff, k=cluster_k, seed=seed)
        try:
            c["benchmark_halves"] = halves_benchmark(fr, k=cluster_k, seed=seed)
        except HeliogenError as err:  # too few real samples to split: say so, keep the metric
            c["benchmark_halves"] = {"error": str(err)}
        res.setdefault("cluster", {})[name] = c


def evaluate_distribution(real, fake, metrics=("fd", "kid", "prdc"), features=DEFAULT_FEATURES, n: int | None = None,
                          out=None, report=None, cache_dir="default", batch_size: int = 32, device: str = "cpu",
                          legacy_uint8: bool = False, kid_subsets: int = 100, kid_subset_size: int = 1000, k: int = 3,
                          cluster_k: int = 10, patch_sizes=(64, 128, 256), crops_per_image: int = 4, seed: int = 0,
                          kind: str | None = None, figures_dir=None, allow_mismatch: bool = False) -> dict:
    """Compare a generated set with a real one; return (and optionally write) the metrics document.

    Parameters
    ----------
    real, fake : path-like or ImageSet
        Stores or FITS directories (see :mod:`heliogen.evaluate.io`).
    metrics : str or sequence
        Any of :data:`METRICS` (comma-separated string accepted).
    features : str or sequence
        Registered extractor names (``inception``, ``inception-random``, ``effnet-lite0``, ...).
    n : int, optional
        Seeded random subset of each set.
    out, report : path-like, optional
        Metrics JSON and HTML report paths.
    cache_dir : path-like, "default" or None
        Real-set feature cache (``default``: ``$HELIOGEN_CACHE_DIR`` or ~/.cache/heliogen/features).
    allow_mismatch : bool
        Compare sets of different kinds or sizes (refused by default, see :func:`heliogen.evaluate.io.check_comparable`).
    """
    from ..features import get_extractor
    from ..features.cache import default_cache_dir

    metrics = _split(metrics, METRICS)
    feature_names = _split(features, None, "feature extractor") if any(m != "histogram" for m in metrics) else []
    r, f = load_pair(real, fake, n=n, kind=kind, seed=seed, allow_mismatch=allow_mismatch)
    log.info("evaluate: %d real and %d generated images (%s)", r.n, f.n, r.kind)
    cache = FeatureCache(default_cache_dir() if cache_dir == "default" else cache_dir)
    settings = {"metrics": metrics, "features": feature_names, "n": n, "seed": seed, "batch_size": batch_size,
                "legacy_uint8": legacy_uint8, "kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size, "prdc_k": k,
                "cluster_k": cluster_k, "patch_sizes": list(patch_sizes), "crops_per_image": crops_per_image,
                "allow_mismatch": allow_mismatch}
    doc = new_document("distribution", settings)
    doc["real"], doc["fake"] = r.describe(), f.describe()
    lo, hi = r.value_range
    doc["model_space"] = {"normalisation": r.normalisation.to_dict(), "range": [lo, hi],
                          "extractor_input": f"unit range u = (x - {lo:g}) / {hi - lo:g}, clipped to [0, 1]"}
    doc["features"] = {}
    ru, fu = r.unit(), f.unit()
    res = doc["metrics"]
    real_hash = r.content_hash()
    for name in feature_names:
        ext = get_extractor(name, device=device, legacy_uint8=legacy_uint8) if not name.startswith("domain:") else get_extractor(name, device=device)
        doc["features"][name] = ext.describe()
        needs_whole = any(m in metrics for m in ("fd", "kid", "prdc", "cluster"))
        if needs_whole:
            fr = cache.get_or_compute(real_hash, ext.cache_key(), "whole", lambda: ext(ru, batch_size=batch_size))
            ff = ext(fu, batch_size=batch_size)
            _whole_set_metrics(res, name, fr, ff, metrics, kid_subsets, kid_subset_size, k, cluster_k, seed)
        if "patch-fd" in metrics:
            from ..metrics.patch_fd import patch_fd

            def real_crops(size, crops, ext=ext):
                return cache.get_or_compute(real_hash, ext.cache_key(), f"patch{size}-c{crops_per_image}-s{seed}",
                                            lambda: ext(crops, batch_size=batch_size))

            res.setdefault("patch_fd", {})[name] = patch_fd(ru, fu, ext, patch_sizes, crops_per_image, seed, batch_size, real_crops)
    fig_dir = Path(figures_dir) if figures_dir else (Path(report).parent / (Path(report).stem + "_figures") if report else None)
    if "histogram" in metrics:
        from ..metrics.histogram import pixel_stats, plot_histograms

        res["histogram"] = pixel_stats(r.images, f.images, seed=seed)
        if fig_dir:
            p = plot_histograms(r.images, f.images, fig_dir / "histograms.png",
                                xlabel=f"pixel value (model space, {r.normalisation.kind})")
            doc["figures"].append(str(p))
    doc["cache"] = {"hits": cache.hits, "misses": cache.misses, "folder": str(cache.folder) if cache.folder else None}
    if out:
        write_metrics(doc, out)
    if report:
        from ..report import write_report

        write_report(doc, report, images={"real": r, "generated": f}, figures_dir=fig_dir)
    return doc
