"""CLIP image features (RN50, ViT-B/32) from local weights.

CLIP (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision") trains an image and a text encoder jointly; these extractors use the image
encoder's embedding, the input of CLIP's joint projection space: after the attention pool
for RN50 (1024-d), after the projection ``proj`` for ViT-B/32 (512-d). The full-disk EUV
study reports CLIP-RN50 FD (Kynkäänniemi et al. 2023, "The role of ImageNet classes in
Fréchet Inception Distance"); the flare poster and the super-resolution paper report
CLIP-FID.

Weights cannot be downloaded here: point ``HELIOGEN_CLIP_WEIGHTS`` (or ``weights=``) at a
checkpoint of the whole CLIP model for the architecture - OpenAI's TorchScript archive
(``RN50.pt``, ``ViT-B-32.pt``), a torch state dict (``.pt``/``.bin``, e.g. open_clip's
``open_clip_pytorch_model.bin``) or ``open_clip_model.safetensors``. Only its ``visual.*``
tensors are used, loaded strictly (:func:`heliogen.models.backbones.clip.load_clip_visual`).

Implementation: when ``open_clip`` imports, its image tower (``create_model(...).visual``)
runs; otherwise heliogen's own towers in :mod:`heliogen.models.backbones.clip`, written to
the same architecture and parameter names, so the same checkpoint gives the same
features either way. open_clip needs torchvision, which cannot be imported beside
torch 2.13.0 on heliogen's CPU machines; there heliogen's towers run. ``describe()``
records which one ran (``implementation``).

The ViT-B/32 MLP activation follows the weights: QuickGELU for OpenAI's (the default),
the exact GELU for open_clip's LAION-trained ViT-B-32 (``quick_gelu=False``).

Input: resize to 224 (antialiased bicubic, heliogen's resize; CLIP's own preprocessing
resizes the short side and centre-crops, which is the same for square images), then
CLIP's normalisation ``(u - mean) / std`` with the OpenAI constants.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import HeliogenError
from .registry import FeatureExtractor, register_extractor

__all__ = ["ClipExtractor", "import_open_clip", "CLIP_ARCHS"]

CLIP_ARCHS = {"clip-rn50": ("RN50", 1024), "clip-vitb32": ("ViT-B-32", 512)}
_MEAN = (0.48145466, 0.4578275, 0.40821073)
_STD = (0.26862954, 0.26130258, 0.27577711)


def import_open_clip():
    """Import open_clip or raise one clear line saying why it is unavailable."""
    try:
        import open_clip
    except ImportError as err:
        raise HeliogenError(f"open_clip_torch is not importable here ({err}); "
                            "open_clip requires a torchvision matching your torch") from None
    except Exception as err:  # noqa: BLE001 - a broken torchvision raises RuntimeError etc. on import
        raise HeliogenError(f"open_clip failed to import ({type(err).__name__}: {str(err).splitlines()[0]}); "
                            "it needs a torchvision matching your torch") from None
    return open_clip


def _open_clip_builder(implementation: str):
    """``build(arch, quick_gelu) -> open_clip image tower``, or None where heliogen's towers run."""
    if implementation == "heliogen":
        return None
    try:
        open_clip = import_open_clip()
    except HeliogenError:
        if implementation == "open_clip":
            raise
        return None
    return lambda arch, quick_gelu: open_clip.create_model(arch, pretrained=None, force_quick_gelu=quick_gelu).visual


class ClipExtractor(FeatureExtractor):
    """CLIP image embeddings (the output of ``encode_image``: 1024-d RN50, 512-d ViT-B/32).

    Parameters
    ----------
    device : str
    arch : {"clip-rn50", "clip-vitb32"}
    weights : path-like or "random", optional
        Local checkpoint; default ``$HELIOGEN_CLIP_WEIGHTS``. ``"random"`` builds the
        architecture with seeded random initialisation (tests only: distances mean nothing).
    quick_gelu : bool
        ViT-B/32 MLP activation: True (QuickGELU) for OpenAI weights, False for open_clip's
        LAION weights. RN50's image tower has no GELU; the option does not change it.
    implementation : {"auto", "open_clip", "heliogen"}
        ``"auto"`` uses open_clip's tower where open_clip imports, else heliogen's.
    """

    input_size = 224
    scaling = "(u - CLIP mean) / CLIP std (OpenAI constants)"

    def __init__(self, device: str = "cpu", arch: str = "clip-rn50", weights=None, legacy_uint8: bool = False,
                 quick_gelu: bool = True, implementation: str = "auto"):
        import torch

        from ...models.backbones import clip as clip_towers

        super().__init__(device)
        if arch not in CLIP_ARCHS:
            raise HeliogenError(f"unknown CLIP architecture {arch!r}; choose {', '.join(CLIP_ARCHS)}")
        if implementation not in ("auto", "open_clip", "heliogen"):
            raise HeliogenError(f"unknown CLIP implementation {implementation!r}; choose auto, open_clip or heliogen")
        weights = weights or os.environ.get("HELIOGEN_CLIP_WEIGHTS")
        if not weights:
            raise HeliogenError(f"{arch} needs local weights: set HELIOGEN_CLIP_WEIGHTS to an open_clip/OpenAI "
                                f"{CLIP_ARCHS[arch][0]} checkpoint (they cannot be downloaded here)")
        weights = str(weights)
        if weights != "random" and not Path(weights).is_file():
            raise HeliogenError(f"no CLIP weights at {weights}")
        self.name, self.legacy_uint8 = arch, bool(legacy_uint8)
        model_name, self.dim = CLIP_ARCHS[arch]
        vit = model_name.startswith("ViT")
        self.quick_gelu = bool(quick_gelu) if vit else None  # None: RN50's image tower has no GELU
        qg = bool(self.quick_gelu)

        build = _open_clip_builder(implementation)
        if build is None:
            net = clip_towers.load_clip_visual(model_name, weights, quick_gelu=qg)
            self.implementation = f"heliogen.models.backbones.clip.{type(net).__name__} ({model_name})"
        else:
            if weights == "random":
                net = clip_towers.random_visual(model_name, qg, builder=build)
            else:
                net = build(model_name, qg)
                visual = clip_towers.visual_state_dict(clip_towers.read_checkpoint(weights), source=weights)
                clip_towers.load_visual_weights(net, visual, model_name, source=weights)
            self.implementation = f"open_clip {model_name} visual tower"
        self.net = net.to(device).eval().requires_grad_(False)
        act = (", QuickGELU" if qg else ", GELU") if vit else ""
        source = "seeded random initialisation" if weights == "random" else weights
        self.weights = f"{source} [{self.implementation}{act}]"
        self.mean = torch.tensor(_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(_STD, device=device).view(1, 3, 1, 1)

    def describe(self) -> dict:
        return {**super().describe(), "implementation": self.implementation, "quick_gelu": self.quick_gelu}

    def _forward(self, x):
        return self.net((x - self.mean) / self.std)


for _name in CLIP_ARCHS:
    register_extractor(_name, lambda device="cpu", _name=_name, **kw: ClipExtractor(device=device, arch=_name, **kw))
