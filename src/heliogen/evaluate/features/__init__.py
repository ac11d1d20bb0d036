"""Feature extractors: the registry and input convention (:mod:`.registry`), the
extractors (:mod:`.inception`, :mod:`.clip`, :mod:`.effnet`, :mod:`.domain`, which wrap the
networks of :mod:`heliogen.models.backbones`) and the real-set feature cache (:mod:`.cache`).
"""

from .cache import FeatureCache, default_cache_dir
from .registry import (RESIZE, FeatureExtractor, as_batch, available_extractors, extract_features, get_extractor,
                       register_extractor, resize_batch, to_rgb)

__all__ = [
    "FeatureExtractor", "register_extractor", "get_extractor", "available_extractors", "extract_features",
    "as_batch", "to_rgb", "resize_batch", "RESIZE", "FeatureCache", "default_cache_dir",
]
