"""Analysis of a real-or-fake human study (the full-disk EUV study, sec. 6).

Input: a table (CSV) with one row per answer, columns ``subject``, ``truth`` and
``answer`` (``real``/``fake``), and optionally ``expertise`` (self-rated, e.g. 1-5); or one
row per subject with ``subject``, ``correct``, ``total`` and optionally ``expertise``.

Output: overall accuracy, the exact two-sided binomial test of the pooled correct answers
against guessing (p = 0.5, ``scipy.stats.binomtest``), per-subject scores, and the
Spearman and Pearson correlations between expertise and the number correct.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import HeliogenError

__all__ = ["human_study"]


def human_study(table) -> dict:
    """Accuracy, binomial p-value against guessing, and correlation with expertise."""
    import pandas as pd
    from scipy import stats

    if isinstance(table, (str, Path)):
        if not Path(table).is_file():
            raise HeliogenError(f"no answers table {table}")
        table = pd.read_csv(table)
    df = pd.DataFrame(table)
    if df.empty:
        raise HeliogenError("the answers table is empty")
    cols = set(df.columns)
    if {"subject", "truth", "answer"} <= cols:
        df = df.assign(correct=(df["truth"].astype(str).str.strip().str.lower() == df["answer"].astype(str).str.strip().str.lower()).astype(int))
        agg = {"correct": ("correct", "sum"), "total": ("correct", "size")}
        if "expertise" in cols:
            agg["expertise"] = ("expertise", "first")
        per = df.groupby("subject").agg(**agg).reset_index()
    elif {"subject", "correct", "total"} <= cols:
        per = df.copy()
    else:
        raise HeliogenError("the answers table needs columns subject,truth,answer or subject,correct,total")
    correct, total = int(per["correct"].sum()), int(per["total"].sum())
    if total == 0 or (per["correct"] > per["total"]).any() or (per["correct"] < 0).any():
        raise HeliogenError("the answers table has inconsistent counts")
    test = stats.binomtest(correct, total, 0.5, alternative="two-sided")
    out = {"subjects": int(len(per)), "answers": total, "correct": correct, "accuracy": correct / total,
           "binomial_p_two_sided": float(test.pvalue), "mean_correct": float(per["correct"].mean()),
           "std_correct": float(per["correct"].std(ddof=1)) if len(per) > 1 else 0.0}
    if "expertise" in per.columns and len(per) >= 3:
        e, c = per["expertise"].astype(float).to_numpy(), per["correct"].astype(float).to_numpy()
        if np.ptp(e) > 0 and np.ptp(c) > 0:
            out["spearman_expertise"] = float(stats.spearmanr(e, c).statistic)
            out["pearson_expertise"] = float(stats.pearsonr(e, c).statistic)
    out["per_subject"] = per.to_dict(orient="records")
    return out
