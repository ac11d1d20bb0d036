"""The demo's evaluation stage: generated samples against held-out synthetic images."""

from __future__ import annotations

from pathlib import Path

__all__ = ["evaluate_for_demo"]


def evaluate_for_demo(real, fake, out_dir, features=("inception", "inception-random"), metrics=("fd", "kid", "prdc", "cluster", "histogram"),
                      n: int | None = None, cluster_k: int = 4) -> tuple[dict, list[Path]]:
    """Evaluate ``fake`` (FITS dir or store) against ``real`` (held-out store or FITS dir).

    Writes ``out_dir/metrics.json`` and figures under ``out_dir/figures``; returns the
    metrics document and the figure paths for the demo report. K = 4 clusters by default
    because the demo's sets are small (the cluster metrics need 2K real samples).
    """
    from .commands.distribution import evaluate_distribution

    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    doc = evaluate_distribution(real, fake, metrics=metrics, features=features, n=n, out=out_dir / "metrics.json",
                                cluster_k=cluster_k, kid_subset_size=1000, figures_dir=fig_dir, cache_dir=out_dir / "feature_cache")
    return doc, [Path(p) for p in doc.get("figures", [])]
