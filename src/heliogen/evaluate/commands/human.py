"""``heliogen evaluate human``: a real-or-fake human study from a table of answers."""

from __future__ import annotations

from ..metrics.human_study import human_study
from ..schema import new_document, write_metrics

__all__ = ["evaluate_human"]


def evaluate_human(table, out=None) -> dict:
    """The ``human`` document of :func:`~heliogen.evaluate.metrics.human_study.human_study`
    on ``table`` (a CSV path or a table): summary scores under ``metrics`` and the
    per-subject rows under ``per_subject``; written to ``out`` when given."""
    res = human_study(table)
    doc = new_document("human", {"table": str(table)})
    doc["metrics"] = {k: v for k, v in res.items() if k != "per_subject"}
    doc["per_subject"] = res["per_subject"]
    if out:
        write_metrics(doc, out)
    return doc
