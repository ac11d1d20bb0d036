"""The feature-extractor registry and the input convention every extractor shares.

Input convention
----------------
Extractors take images as a float array ``(N, C, H, W)`` in the **unit range** [0, 1]
(``heliogen.evaluate.io`` maps each kind's model space there: EUV ``x`` in [0, 1] as is,
magnetograms and granulation ``(x + 1) / 2``). Grey images (C = 1) are repeated to three
channels; C must be 1 or 3. Each extractor then applies its own network's input scaling
(documented on the class) and resizes with :func:`resize_batch`.

Registered names: ``inception``, ``inception-random``, ``effnet-lite0|1|2``,
``clip-rn50``, ``clip-vitb32`` and ``domain:PATH`` (a TorchScript encoder trained by
heliogen, see :mod:`heliogen.evaluate.features.domain`).
"""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np

from ...errors import HeliogenError

__all__ = [
    "FeatureExtractor", "register_extractor", "get_extractor", "available_extractors", "extract_features",
    "as_batch", "to_rgb", "resize_batch", "RESIZE",
]

# Resampling used before every network: antialiased bicubic on float data (torch's
# antialias=True follows PIL's filter support), so downsampling a 1024^2 image to 299 does
# not alias, and the result matches clean-fid's PIL-bicubic-on-float resize.
RESIZE = "torch.nn.functional.interpolate(mode='bicubic', antialias=True, align_corners=False) on float32"

_REGISTRY: dict[str, Callable[..., "FeatureExtractor"]] = {}
_BUILTINS = []
_CACHE: dict[tuple, "FeatureExtractor"] = {}


class FeatureExtractor:
    """Base class: a frozen network mapping unit-range images to one vector per image.

    Subclasses set ``name``, ``dim``, ``input_size`` and implement :meth:`_forward`, which
    receives a float32 tensor ``(B, 3, input_size, input_size)`` in [0, 1] (or the uint8
    grid k/255 with ``legacy_uint8``) and returns ``(B, dim)``.
    """

    name = "base"
    dim = 0
    input_size = 224
    legacy_uint8 = False

    def __init__(self, device: str = "cpu"):
        self.device = device

    # -- description recorded in the metrics JSON ---------------------------------------
    def describe(self) -> dict:
        return {"name": self.name, "dim": self.dim, "input_size": self.input_size, "resize": RESIZE,
                "legacy_uint8": self.legacy_uint8, "scaling": self.scaling, "weights": self.weights}

    scaling = ""
    weights = ""

    def cache_key(self) -> str:
        """What makes two runs of this extractor give the same features (for the cache)."""
        d = self.describe()
        return hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest()[:16]

    def _forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, images, batch_size: int = 32) -> np.ndarray:
        """Features of ``images`` ((N, C, H, W) in [0, 1]), float64 ``(N, dim)``."""
        import torch

        images = as_batch(images)
        out = np.empty((len(images), self.dim), dtype=np.float64)
        with torch.inference_mode():
            for i in range(0, len(images), max(1, int(batch_size))):
                x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size], dtype=np.float32)).to(self.device)
                if self.legacy_uint8:
                    # As pytorch-fid / clean-fid read PNGs: 8-bit quantisation before the resize.
                    x = torch.round(x.clamp(0, 1) * 255.0) / 255.0
                # Resize before repeating grey to RGB (a third of the work); then channels-last
                # memory, the layout oneDNN's convolutions run fastest on the CPU.
                x = to_rgb(resize_batch(x, self.input_size)).contiguous(memory_format=torch.channels_last)
                f = self._forward(x)
                if not torch.isfinite(f).all():
                    raise HeliogenError(f"{self.name}: the network produced non-finite features (check the weights)")
                out[i : i + len(f)] = f.double().cpu().numpy()
        return out


def as_batch(images) -> np.ndarray:
    """Check and return ``images`` as a finite (N, C, H, W) float array."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4:
        raise HeliogenError(f"images must be (N, C, H, W) or (N, H, W), not shape {a.shape}")
    if len(a) == 0:
        raise HeliogenError("the image set is empty")
    if a.shape[1] not in (1, 3):
        raise HeliogenError(f"images must have 1 or 3 channels, not {a.shape[1]}")
    if not np.isfinite(a).all():
        raise HeliogenError("images contain NaN or infinite values")
    return a


def to_rgb(x):
    """Repeat a grey channel to three (C = 1 -> 3); 3-channel input is returned as is."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def resize_batch(x, size: int):
    """Resize a float batch to ``size`` x ``size``: bicubic, antialiased (see :data:`RESIZE`).

    Bicubic overshoot is clipped back to [0, 1], the range the pipeline declares.
    """
    import torch.nn.functional as F

    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp_(0.0, 1.0)


def register_extractor(name: str, factory: Callable[..., FeatureExtractor]) -> None:
    """Register ``factory(device=..., **options)`` under ``name``."""
    _REGISTRY[name] = factory


def available_extractors() -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY) + ["domain:PATH"]


def get_extractor(name: str, device: str = "cpu", **options) -> FeatureExtractor:
    """The extractor registered as ``name`` (built once per process and options).

    ``domain:PATH`` loads a heliogen-trained TorchScript encoder from PATH.
    """
    _ensure_builtins()
    import os

    # CLIP reads its weights path from the environment: a new path must build a new extractor
    key = (name, device, tuple(sorted(options.items())), os.environ.get("HELIOGEN_CLIP_WEIGHTS") if name.startswith("clip") else None)
    if key in _CACHE:
        return _CACHE[key]
    if name.startswith("domain:"):
        from .domain import DomainExtractor

        ext = DomainExtractor.from_path(name.split(":", 1)[1], device=device)
    elif name in _REGISTRY:
        ext = _REGISTRY[name](device=device, **options)
    else:
        raise HeliogenError(f"unknown feature extractor {name!r}; choose from {', '.join(available_extractors())}")
    _CACHE[key] = ext
    return ext


def extract_features(images, name: str = "inception", batch_size: int = 32, device: str = "cpu", **options) -> np.ndarray:
    """Features of unit-range images with the registered extractor ``name`` (float64)."""
    return get_extractor(name, device=device, **options)(images, batch_size=batch_size)


def _ensure_builtins():
    if _BUILTINS:
        return
    from . import clip, effnet, inception  # noqa: F401 - they register themselves

    _BUILTINS.append(True)
