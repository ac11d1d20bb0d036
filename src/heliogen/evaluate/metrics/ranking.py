"""Agreement between metrics across models: the Spearman rank-correlation matrix.

The full-disk EUV study's table 7 correlates the rankings that FID, rFID, KID, CLIP-FID,
precision, recall and the domain FDs give to its models. Here each metrics JSON file is
one model; every scalar metric present in all files is a column; the matrix is
``scipy.stats.spearmanr`` over models (raw values, so "lower is better" and "higher is
better" metrics correlate negatively, as in the paper's table).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import HeliogenError
from ..schema import flatten_metrics, new_document, read_metrics

__all__ = ["rank_metrics"]


def rank_metrics(paths, metrics=None) -> dict:
    """Spearman matrix of the metrics shared by all files (at least 3 models).

    Returns
    -------
    dict
        A ``rank`` metrics document: ``models``, ``metric_names``, ``values`` (models x
        metrics), ``spearman`` (metrics x metrics) and ``dropped`` (constant metrics).
    """
    from scipy.stats import spearmanr

    paths = [Path(p) for p in paths]
    if len(paths) < 3:
        raise HeliogenError(f"ranking needs metrics files of at least 3 models, not {len(paths)}")
    flat = [flatten_metrics(read_metrics(p)) for p in paths]
    names = sorted(set.intersection(*(set(f) for f in flat)))
    if metrics:
        missing = [m for m in metrics if m not in names]
        if missing:
            raise HeliogenError(f"metric(s) {', '.join(missing)} are not in every file; shared: {', '.join(names)}")
        names = list(metrics)
    values = np.array([[f[n] for n in names] for f in flat], dtype=np.float64)
    keep = [j for j in range(len(names)) if np.ptp(values[:, j]) > 0]
    dropped = [names[j] for j in range(len(names)) if j not in keep]
    if len(keep) < 2:
        raise HeliogenError("fewer than two metrics vary across the models; nothing to correlate")
    names, values = [names[j] for j in keep], values[:, keep]
    rho = spearmanr(values).statistic
    rho = np.atleast_2d(rho)
    doc = new_document("rank", {"files": [str(p) for p in paths]})
    doc["models"] = [p.stem for p in paths]
    doc["metric_names"] = names
    doc["values"] = values.tolist()
    doc["metrics"] = {"spearman": rho.tolist()}
    doc["dropped"] = dropped
    return doc
