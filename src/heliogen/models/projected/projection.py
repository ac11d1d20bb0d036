"""Random projections of the backbone features: cross-channel (CCM) and cross-scale (CSM) mixing.

Sauer et al. (2021), sec. 3.2. CCM: a random 1x1 convolution per tap, to 64, 128, 256 and 512
channels (``base`` times 1, 2, 4, 8). CSM: top-down fusion as in upstream's
``FeatureFusionBlock`` chain, where each step adds the finer CCM map, upsamples x2
(bilinear, corners aligned) and applies a 1x1 convolution that halves the channels::

    m3 = conv3(up(c3))            512 -> 256 channels, stride 16
    m2 = conv2(up(m3 + c2))       256 -> 128, stride 8
    m1 = conv1(up(m2 + c1))       128 ->  64, stride 4
    m0 = conv0(up(m1 + c0))        64 ->  64, stride 2 (the finest does not halve)

So the four outputs have 64, 64, 128 and 256 channels at twice the taps' resolution. All of it is
random and frozen unless ``trainable``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import HeliogenError
from .frozen import freeze_into_buffers

__all__ = ["PROJECTIONS", "FeatureProjection"]

PROJECTIONS = ("none", "ccm", "ccm+csm")


def _up(x: torch.Tensor, like: torch.Tensor | None) -> torch.Tensor:
    """x2 bilinear upsampling, or to ``like``'s size (equal for even feature sizes)."""
    size = tuple(like.shape[-2:]) if like is not None else (2 * x.shape[-2], 2 * x.shape[-1])
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class FeatureProjection(nn.Module):
    """CCM and optional CSM over four feature maps.

    Parameters
    ----------
    in_channels : sequence of 4 ints
        Channels of the backbone taps.
    mode : {'none', 'ccm', 'ccm+csm'}
        'none' passes the backbone features through.
    base : int
        CCM width of the finest tap (64 upstream and in the study's table 2).
    trainable : bool
        Train the projections (the study's "trainable projections" ablation); otherwise
        their random weights are persistent buffers (saved, never stepped).

    Attributes
    ----------
    out_channels : list of int
        Channels of the four outputs.
    scale : int
        Output resolution over tap resolution (2 with CSM, else 1).
    """

    def __init__(self, in_channels, mode: str = "ccm+csm", base: int = 64, trainable: bool = False):
        super().__init__()
        if mode not in PROJECTIONS:
            raise HeliogenError(f"unknown projection {mode!r}; choose one of {', '.join(PROJECTIONS)}")
        if trainable and mode == "none":
            raise HeliogenError("trainable_projection needs a projection (ccm or ccm+csm), not 'none'")
        self.mode, self.scale = mode, 2 if mode == "ccm+csm" else 1
        in_channels = [int(c) for c in in_channels]
        if mode == "none":
            self.ccm, self.csm, self.out_channels = None, None, in_channels
            return
        wide = [base * 2**i for i in range(4)]
        self.ccm = nn.ModuleList(nn.Conv2d(c, w, 1) for c, w in zip(in_channels, wide))
        self.csm = None
        self.out_channels = wide
        if mode == "ccm+csm":
            self.csm = nn.ModuleList([nn.Conv2d(wide[0], wide[0], 1)] + [nn.Conv2d(wide[i], wide[i - 1], 1) for i in (1, 2, 3)])
            self.out_channels = [wide[0], wide[0], wide[1], wide[2]]
        if not trainable:
            freeze_into_buffers(self, persistent=True)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.ccm is None:
            return list(feats)
        mixed = [conv(f) for conv, f in zip(self.ccm, feats)]
        if self.csm is None:
            return mixed
        out = [None] * 4
        h = self.csm[3](_up(mixed[3], mixed[2]))
        out[3] = h
        for i in (2, 1, 0):
            h = self.csm[i](_up(h + mixed[i], mixed[i - 1] if i else None))
            out[i] = h
        return out
