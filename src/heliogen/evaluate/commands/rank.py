"""``heliogen evaluate rank``: Spearman rank correlations between metrics across models."""

from __future__ import annotations

from ..metrics.ranking import rank_metrics
from ..schema import write_metrics

__all__ = ["evaluate_rank"]


def evaluate_rank(files, metrics=None, out=None) -> dict:
    """The ``rank`` document of :func:`~heliogen.evaluate.metrics.ranking.rank_metrics` over
    one metrics JSON per model (``metrics``: flattened names to keep, default all shared),
    written to ``out`` when given."""
    doc = rank_metrics(files, metrics)
    if out:
        write_metrics(doc, out)
    return doc
