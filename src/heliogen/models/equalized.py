"""Equalised-learning-rate layers and pixel-wise feature normalisation (Karras et al. 2018,
"Progressive growing of GANs", sec. 4.1 and 4.2), as the granulation thesis uses them (sec. 3.3).

Written by hand because torch has no equalised-LR layer: the weights are drawn from N(0, 1)
and multiplied at run time by He's constant sqrt(2 / fan_in), so Adam's per-parameter step
sizes see every layer at the same dynamic range.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EqualizedConv2d", "EqualizedLinear", "PixelNorm", "MinibatchStdDev"]


class EqualizedConv2d(nn.Module):
    """``Conv2d`` with N(0, 1) weights scaled by sqrt(gain / fan_in) at run time (PGGAN eq. in sec. 4.1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, gain: float = 2.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = math.sqrt(gain / (in_channels * kernel_size * kernel_size))
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """``Linear`` with N(0, 1) weights scaled by sqrt(gain / fan_in) at run time."""

    def __init__(self, in_features: int, out_features: int, gain: float = 2.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = math.sqrt(gain / in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit length (PGGAN sec. 4.2, eq. 2)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Append the mean over features and pixels of the minibatch standard deviation as one
    extra channel (PGGAN sec. 3), so the discriminator can see a lack of variety."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        std = x.float().var(dim=0, unbiased=False).add(1e-8).sqrt().mean() if b > 1 else x.new_zeros(())
        return torch.cat([x, std.to(x.dtype).expand(b, 1, h, w)], dim=1)
