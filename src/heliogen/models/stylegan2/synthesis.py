"""StyleGAN2's synthesis network, skip architecture (Karras et al. 2020, sec. 4.1, fig. 7b).

A learned constant 4x4 input, then one block per resolution 4, 8, ..., R. The 4x4 block has
one modulated 3x3 convolution; every later block upsamples (FIR [1, 3, 3, 1]) and has two.
Each convolution adds per-pixel Gaussian noise times a learned strength (one scalar per
layer, initialised to 0, as in StyleGAN2's code), a bias and leaky ReLU times sqrt(2).
Every block ends in a toRGB layer (modulated 1x1, not demodulated); the image is the sum of
all toRGB outputs, each earlier partial image upsampled to the next resolution (skip
architecture). There is no output non-linearity: images land in [-1, 1] only by training.

The network consumes ``num_ws = 2 * log2(R) - 2`` ws: a block's toRGB shares its w with the
first convolution of the next block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import HeliogenError
from .layout import RESOLUTIONS, block_channels, check_resolution
from .mapping import LRELU_GAIN
from .modulated_conv import ModulatedConv2d
from .noise import GeneratorArg, check_noise_mode, draw_noise
from .resample import upsample2d

__all__ = ["SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "ToRGB", "check_resolution", "block_channels",
           "RESOLUTIONS"]



class SynthesisLayer(nn.Module):
    """Optional 2x upsampling, modulated 3x3 convolution, noise, bias, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.resolution, self.up = int(resolution), bool(up)
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, demodulate=True)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # fixed noise image for noise_mode='const' (saved with the weights)
        self.register_buffer("noise_const", torch.randn(1, 1, self.resolution, self.resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if self.up:
            x = upsample2d(x)
        x = self.conv(x, w)
        if noise is not None:
            x = x + noise * self.noise_strength
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * LRELU_GAIN


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to the image channels, without demodulation, plus a bias."""

    def __init__(self, in_channels: int, image_channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, image_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(image_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.view(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """One resolution: (constant | upsampling conv) + conv + toRGB, adding to the skip image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, image_channels: int):
        super().__init__()
        self.resolution = int(resolution)
        self.first = self.resolution == 4
        if self.first:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
            self.layers = nn.ModuleList([SynthesisLayer(out_channels, out_channels, w_dim, 4)])
        else:
            self.layers = nn.ModuleList([SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True),
                                         SynthesisLayer(out_channels, out_channels, w_dim, resolution)])
        self.torgb = ToRGB(out_channels, image_channels, w_dim)

    @property
    def num_conv(self) -> int:
        return len(self.layers)

    def forward(self, x, image, ws: torch.Tensor, noise):
        """``ws`` (N, num_conv + 1, w_dim): one per convolution, the last for toRGB."""
        if self.first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        for k, layer in enumerate(self.layers):
            x = layer(x, ws[:, k], noise[k])
        y = self.torgb(x, ws[:, -1])
        return x, (y if image is None else upsample2d(image) + y)


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, image_channels, R, R).

    Parameters
    ----------
    w_dim : int
    resolution : int
        Power of two from 32 to 1024.
    image_channels : int
    channel_base, channel_max : int
        Feature channels at r px are ``min(channel_base // r, channel_max)``.
    """

    def __init__(self, w_dim: int, resolution: int, image_channels: int, channel_base: int, channel_max: int):
        super().__init__()
        self.resolution = check_resolution(resolution)
        self.resolutions = [2**k for k in range(2, int(math.log2(self.resolution)) + 1)]
        self.widths = [block_channels(r, channel_base, channel_max) for r in self.resolutions]
        if min(self.widths) < 1:
            raise HeliogenError(f"channel_base {channel_base} leaves no channels at {self.resolution} px; "
                                f"it must be at least the resolution")
        ins = [self.widths[0]] + self.widths[:-1]
        self.blocks = nn.ModuleList(SynthesisBlock(i, o, w_dim, r, image_channels)
                                    for i, o, r in zip(ins, self.widths, self.resolutions))
        self.num_ws = sum(b.num_conv for b in self.blocks) + 1

    def layers(self) -> list[SynthesisLayer]:
        """Every noise-taking layer, in the order ws and noise are consumed."""
        return [layer for block in self.blocks for layer in block.layers]

    def noise_inputs(self, n: int, noise_mode: str = "random", generator: GeneratorArg = None, device=None,
                     dtype=torch.float32) -> list:
        """One noise tensor (n, 1, r, r) or None per layer, in layer order (see :func:`draw_noise`)."""
        check_noise_mode(noise_mode)
        layers = self.layers()
        if noise_mode == "none":
            return [None] * len(layers)
        if noise_mode == "const":
            return [layer.noise_const.to(dtype).expand(n, -1, -1, -1) for layer in layers]
        return [draw_noise(n, layer.resolution, generator, device, dtype) for layer in layers]

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", generator: GeneratorArg = None,
                noise: list | None = None) -> torch.Tensor:
        """Images from ``ws``; ``noise`` (a :meth:`noise_inputs` list) overrides ``noise_mode``."""
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise HeliogenError(f"synthesis expects ws of shape (N, {self.num_ws}, w_dim), got {tuple(ws.shape)}")
        if noise is None:
            noise = self.noise_inputs(ws.shape[0], noise_mode, generator, ws.device, ws.dtype)
        x = image = None
        w_idx = n_idx = 0
        for block in self.blocks:
            k = block.num_conv
            x, image = block(x, image, ws[:, w_idx:w_idx + k + 1], noise[n_idx:n_idx + k])
            w_idx += k
            n_idx += k
        return image
