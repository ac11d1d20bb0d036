"""The multi-scale patch discriminators of ProjectedGAN, one per feature scale.

As upstream's ``SingleDisc``: blocks of a spectrally normalised 4x4 stride-2 convolution,
BatchNorm and LeakyReLU(0.2) halve the map from its size at a 256 px input down to 8x8, then
a 4x4 convolution without padding gives the logits. Channels follow upstream's table by
resolution (512 at 8 px, 256 at 16, 128 at 32, 64 at 64 and 128), times ``width``. The
sizes are planned for a 256 px input while a sub-224 px image is fed at 224 px, so the last
map is 7x7 and the logits 4x4.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ...errors import HeliogenError

__all__ = ["HEAD_CHANNELS", "PatchDiscriminator", "head_channels"]

HEAD_CHANNELS = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 64, 256: 32, 512: 16, 1024: 8}
END_SIZE = 8


def head_channels(size: int, width: float = 1.0) -> int:
    """Channels of a head's map at ``size`` px (256 px input equivalent)."""
    return max(1, int(round(HEAD_CHANNELS[size] * width)))


class PatchDiscriminator(nn.Module):
    """One patch discriminator over a ``in_channels`` feature map planned as ``start_size`` px.

    Parameters
    ----------
    in_channels : int
        Channels of the projected features it reads.
    start_size : int
        The map's side at a 256 px input, a power of two from 8 to 1024.
    width : float
        Multiplier on the channel table (1.0 upstream; smaller for CPU runs).
    """

    def __init__(self, in_channels: int, start_size: int, width: float = 1.0):
        super().__init__()
        if start_size not in HEAD_CHANNELS or start_size < END_SIZE:
            raise HeliogenError(f"a patch discriminator starts at a power of two from 8 to 1024 px, not {start_size}")
        layers, size, ch = [], int(start_size), int(in_channels)
        for _ in range(int(math.log2(size // END_SIZE))):
            out = head_channels(size // 2, width)
            layers += [spectral_norm(nn.Conv2d(ch, out, 4, 2, 1)), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
            ch, size = out, size // 2
        layers.append(spectral_norm(nn.Conv2d(ch, 1, 4, 1, 0, bias=False)))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)
