"""The tile GAN of the granulation thesis (sec. 3.3, table 4, figure 9).

Generator: a latent vector (128) seen as 128x1x1, a 4x4 convolution with padding 3 to 4x4,
then blocks of nearest 2x upsampling + 3x3 convolution + LeakyReLU(0.2) + pixel norm up to
the tile size, then a 1x1 output convolution (no output non-linearity, as in table 4).
Discriminator: the mirror, a 1x1 input convolution, blocks of 3x3 convolution + LeakyReLU(0.2)
+ BatchNorm + bilinear 2x downsampling down to 4x4, minibatch standard deviation (PGGAN sec. 3,
asked for by the issue, not in table 4) and a 4x4 convolution to one logit (the sigmoid of
table 4 is folded into the BCE-with-logits loss). Every convolution has an equalised learning
rate (:mod:`heliogen.models.equalized`).

At ``width=512`` with no taper and a 128 px tile the generator has exactly the thesis's
12,848,641 parameters; the discriminator its 11,813,377 plus 16 for the extra minibatch-std
input channel of the last convolution.

``width`` and ``taper_from`` shrink the channels for CPU runs. The thesis saw artifacts when it
cut 512 to 256 in every layer (figure 10a), so the taper keeps the coarse layers at the full
``width`` and only halves the channels at each doubling of resolution above ``taper_from``
px (the PGGAN scheme).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from ..errors import HeliogenError
from .equalized import EqualizedConv2d, MinibatchStdDev, PixelNorm

__all__ = ["TileGenerator", "TileDiscriminator", "tile_channels", "check_tile_size"]

TILE_SIZES = (32, 64, 128, 256)


def check_tile_size(size: int) -> int:
    """The tile size must be a power of two from 32 to 256 (the thesis uses 128)."""
    if int(size) not in TILE_SIZES:
        raise HeliogenError(f"tile size {size} is not supported; tiles must be a power of two from 32 to 256 (the thesis uses 128)")
    return int(size)


def tile_channels(resolution: int, width: int, taper_from: int | None = None, min_channels: int = 8) -> int:
    """Channels at ``resolution`` px: ``width`` up to ``taper_from`` px, halved at each doubling above.

    ``taper_from=None`` keeps ``width`` everywhere (table 4 uses 512 at every layer).
    """
    if not taper_from or resolution <= taper_from:
        return int(width)
    halvings = int(round(math.log2(resolution / taper_from)))
    return max(int(width) >> halvings, min(min_channels, int(width)))


class TileGenerator(ModelMixin, ConfigMixin):
    """Tile generator of table 4: z (latent_dim) -> one-channel ``size`` x ``size`` tile.

    Parameters
    ----------
    latent_dim : int
        Length of z (128 in the thesis; 512 gave too little variety).
    size : int
        Tile size, a power of two from 32 to 256.
    width : int
        Channels at the coarse layers (512 in the thesis).
    taper_from : int or None
        Resolution above which the channels halve per doubling (None: no taper).
    """

    @register_to_config
    def __init__(self, latent_dim: int = 128, size: int = 128, width: int = 512, taper_from: int | None = None):
        super().__init__()
        self.latent_dim, self.size, self.width, self.taper_from = int(latent_dim), check_tile_size(size), int(width), taper_from
        self.resolutions = [4 * 2**i for i in range(int(math.log2(self.size // 4)) + 1)]
        ch = [tile_channels(r, width, taper_from) for r in self.resolutions]
        self.channels = ch
        blocks = [nn.Sequential(EqualizedConv2d(self.latent_dim, ch[0], 4, padding=3), nn.LeakyReLU(0.2), PixelNorm())]
        for i in range(1, len(ch)):
            blocks.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), EqualizedConv2d(ch[i - 1], ch[i], 3, padding=1),
                                        nn.LeakyReLU(0.2), PixelNorm()))
        self.blocks = nn.ModuleList(blocks)
        self.to_image = EqualizedConv2d(ch[-1], 1, 1, gain=1.0)

    @property
    def n_layers(self) -> int:
        """Number of feature-map layers (blocks); layer ``i`` is ``4 * 2**i`` px."""
        return len(self.blocks)

    def features(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """Feature maps after block ``layer`` (``4 * 2**layer`` px), for latent blending (sec. 3.4.2)."""
        h = z.view(z.shape[0], self.latent_dim, 1, 1)
        for block in self.blocks[: layer + 1]:
            h = block(h)
        return h

    def from_features(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """Finish the forward pass from the feature maps of block ``layer``."""
        for block in self.blocks[layer + 1:]:
            h = block(h)
        return self.to_image(h)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.from_features(self.features(z, 0), 0)


class TileDiscriminator(ModelMixin, ConfigMixin):
    """Mirror of :class:`TileGenerator` (table 4, right column); returns one logit per tile."""

    @register_to_config
    def __init__(self, size: int = 128, width: int = 512, taper_from: int | None = None):
        super().__init__()
        self.size, self.width, self.taper_from = check_tile_size(size), int(width), taper_from
        res = [self.size // 2**i for i in range(int(math.log2(self.size // 4)) + 1)]  # size ... 4
        ch = [tile_channels(r, width, taper_from) for r in res]
        self.from_image = nn.Sequential(EqualizedConv2d(1, ch[0], 1), nn.LeakyReLU(0.2))
        self.blocks = nn.ModuleList(
            nn.Sequential(EqualizedConv2d(ch[i], ch[i + 1], 3, padding=1), nn.LeakyReLU(0.2), nn.BatchNorm2d(ch[i + 1]))
            for i in range(len(ch) - 1))
        self.mbstd = MinibatchStdDev()
        self.out = EqualizedConv2d(ch[-1] + 1, 1, 4, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.from_image(x)
        for block in self.blocks:
            # bilinear downsampling after each block (sec. 3.3: strided convs gave checkerboards)
            h = F.interpolate(block(h), scale_factor=0.5, mode="bilinear", align_corners=False)
        return self.out(self.mbstd(h)).view(-1)
