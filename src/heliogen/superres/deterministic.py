"""The super-resolution paper's two deterministic baselines, at 4x.

* :class:`Enhance`: the residual CNN of Díaz Baso & Asensio Ramos (2018, A&A 614, A5,
  "Enhancing SDO/HMI images using deep learning"): a 3x3 convolution to ``width`` channels,
  ``blocks`` residual blocks (conv-ReLU-conv plus the identity), two x2 upsamplings
  (nearest neighbour, then a 3x3 convolution and ReLU) and a 3x3 output convolution, added to
  the input replicated 4x (the network learns the detail the low-resolution map lacks).
* :class:`Progressive`: the progressive x2-x2 network of Rahman et al. (2020, ApJL 897, L32):
  two such stages in a row, each doubling the resolution and predicting a residual over its
  own input replicated 2x; both outputs are returned so that the loss supervises the x2 stage
  against the target's 2x2 block mean as well as the x4 output (deep supervision).

Both take and return the model space [-1, 1]; the loss is MSE, as in the paper (sec. 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

__all__ = ["Enhance", "Progressive", "replicate"]


def replicate(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Pixel replication (nearest-neighbour upsampling by an integer factor, no interpolation)."""
    return x.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


class _Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(width, width, 3, padding=1), nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


def _upsample(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width, 3, padding=1), nn.ReLU())


class Enhance(ModelMixin, ConfigMixin):
    """4x super-resolution, ``(N, C, S, S) -> (N, C, 4S, 4S)``.

    Parameters
    ----------
    channels : int
    width : int
        Feature channels (64 in Enhance).
    blocks : int
        Residual blocks (Enhance: 5 in its 2x network; more for 4x).
    """

    @register_to_config
    def __init__(self, channels: int = 1, width: int = 64, blocks: int = 8):
        super().__init__()
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*[_Residual(width) for _ in range(blocks)])
        self.up = nn.Sequential(_upsample(width), _upsample(width))
        self.tail = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, lowres):
        h = self.head(lowres)
        h = h + self.body(h)
        return replicate(lowres, 4) + self.tail(self.up(h))


class _Stage(nn.Module):
    def __init__(self, channels: int, width: int, blocks: int):
        super().__init__()
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*[_Residual(width) for _ in range(blocks)])
        self.up = _upsample(width)
        self.tail = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x):
        h = self.head(x)
        return replicate(x, 2) + self.tail(self.up(h + self.body(h)))


class Progressive(ModelMixin, ConfigMixin):
    """4x super-resolution in two x2 stages; ``forward`` returns ``(x2, x4)``.

    Parameters
    ----------
    channels : int
    width : int
    blocks : int
        Residual blocks per stage.
    """

    @register_to_config
    def __init__(self, channels: int = 1, width: int = 64, blocks: int = 4):
        super().__init__()
        self.stage1, self.stage2 = _Stage(channels, width, blocks), _Stage(channels, width, blocks)

    def forward(self, lowres):
        x2 = self.stage1(lowres)
        return x2, self.stage2(x2)
