"""CLIP image features (RN50, ViT-B/32) through open_clip, from local weights.

The full-disk EUV study reports CLIP-RN50 FD (Kynkäänniemi et al. 2023, "The role of
ImageNet classes in Fréchet Inception Distance"); the flare poster and the
super-resolution paper report CLIP-FID. Weights cannot be downloaded here: point
``HELIOGEN_CLIP_WEIGHTS`` (or ``weights=``) at an open_clip/OpenAI checkpoint for the
architecture. Input: resize to 224 (antialiased bicubic, heliogen's resize; open_clip's
own preprocessing resizes the short side and centre-crops, which is the same for square
images), then CLIP's normalisation ``(u - mean) / std`` with the OpenAI constants.

open_clip imports torchvision. In environments where torchvision cannot be imported
(as beside torch 2.13.0 on heliogen's CPU machines), these extractors raise a clear
error naming the cause; install a torchvision that matches your torch and
``open_clip_torch`` to use them.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import HeliogenError
from .features import FeatureExtractor, register_extractor

__all__ = ["ClipExtractor", "import_open_clip", "CLIP_ARCHS"]

CLIP_ARCHS = {"clip-rn50": ("RN50", 1024), "clip-vitb32": ("ViT-B-32", 512)}
_MEAN = (0.48145466, 0.4578275, 0.40821073)
_STD = (0.26862954, 0.26130258, 0.27577711)


def import_open_clip():
    """Import open_clip or raise one clear line saying why it is unavailable."""
    try:
        import open_clip
    except ImportError as err:
        raise HeliogenError(f"CLIP features need open_clip_torch, which is not importable here ({err}); "
                            "open_clip requires a torchvision matching your torch") from None
    except Exception as err:  # noqa: BLE001 - a broken torchvision raises RuntimeError etc. on import
        raise HeliogenError(f"open_clip failed to import ({type(err).__name__}: {str(err).splitlines()[0]}); "
                            "it needs a torchvision matching your torch") from None
    return open_clip


class ClipExtractor(FeatureExtractor):
    """CLIP image embeddings (the output of ``encode_image``: 1024-d RN50, 512-d ViT-B/32).

    Parameters
    ----------
    arch : {"clip-rn50", "clip-vitb32"}
    weights : path-like or "random", optional
        Local checkpoint; default ``$HELIOGEN_CLIP_WEIGHTS``. ``"random"`` builds the
        architecture with random initialisation (tests only: distances mean nothing).
    """

    input_size = 224
    scaling = "(u - CLIP mean) / CLIP std (OpenAI constants)"

    def __init__(self, device: str = "cpu", arch: str = "clip-rn50", weights=None, legacy_uint8: bool = False):
        import torch

        super().__init__(device)
        if arch not in CLIP_ARCHS:
            raise HeliogenError(f"unknown CLIP architecture {arch!r}; choose {', '.join(CLIP_ARCHS)}")
        weights = weights or os.environ.get("HELIOGEN_CLIP_WEIGHTS")
        if not weights:
            raise HeliogenError(f"{arch} needs local weights: set HELIOGEN_CLIP_WEIGHTS to an open_clip/OpenAI "
                                f"{CLIP_ARCHS[arch][0]} checkpoint (they cannot be downloaded here)")
        if weights != "random" and not Path(weights).is_file():
            raise HeliogenError(f"no CLIP weights at {weights}")
        open_clip = import_open_clip()
        self.name, self.legacy_uint8 = arch, bool(legacy_uint8)
        model_name, self.dim = CLIP_ARCHS[arch]
        model = open_clip.create_model(model_name, pretrained=None if weights == "random" else str(weights), device=device)
        self.net = model.eval()
        self.weights = "random initialisation" if weights == "random" else str(weights)
        self.mean = torch.tensor(_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(_STD, device=device).view(1, 3, 1, 1)

    def _forward(self, x):
        return self.net.encode_image((x - self.mean) / self.std)


for _name in CLIP_ARCHS:
    register_extractor(_name, lambda device="cpu", _name=_name, **kw: ClipExtractor(device=device, arch=_name, **kw))
