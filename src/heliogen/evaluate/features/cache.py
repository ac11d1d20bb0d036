"""A content-addressed cache of real-set features, so they are computed once.

Key: sha256 of the model-space pixels (``ImageSet.content_hash``), the extractor's
description hash (name, weights, resize, scaling, legacy flag) and a variant tag (e.g. the
patch size and crop seed). Files: ``DIR/<key>.npy`` (float64). The directory is
``$HELIOGEN_CACHE_DIR``, else ``~/.cache/heliogen/features``; ``None`` disables caching.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["FeatureCache", "default_cache_dir"]


def default_cache_dir() -> Path:
    env = os.environ.get("HELIOGEN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "heliogen" / "features"


class FeatureCache:
    """``get_or_compute(content_hash, extractor_key, variant, compute)``; counts hits."""

    def __init__(self, folder=None):
        self.folder = Path(folder) if folder else None
        self.hits = 0
        self.misses = 0

    def key(self, content_hash: str, extractor_key: str, variant: str = "") -> str:
        return hashlib.sha256(f"{content_hash}|{extractor_key}|{variant}".encode()).hexdigest()[:32]

    def get_or_compute(self, content_hash: str, extractor_key: str, variant: str, compute) -> np.ndarray:
        if self.folder is None:
            self.misses += 1
            return compute()
        path = self.folder / f"{self.key(content_hash, extractor_key, variant)}.npy"
        if path.is_file():
            try:
                out = np.load(path)
                self.hits += 1
                return out
            except (OSError, ValueError):
                pass  # a damaged file is recomputed and replaced
        out = compute()
        self.misses += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        # Atomic: write a temp file in the same folder, then rename over the target.
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, out)
        os.replace(tmp, path)
        return out
