"""The StyleGAN2 residual discriminator (Karras et al. 2020, "Analyzing and improving the image
quality of StyleGAN", fig. 7c and appendix B), in pure PyTorch with no custom CUDA ops.

Layout, from the input resolution down to 4x4:

- fromRGB: a 1x1 convolution of the image to the channels of the top resolution;
- one residual block per halving: two 3x3 convolutions, the second one downsampling, plus a
  skip path of low-pass downsampling and a bias-free 1x1 convolution; the two paths are summed
  and scaled by 1/sqrt(2) so the block keeps the variance of its input;
- at 4x4 the epilogue: a grouped minibatch standard deviation layer (group size 4, one feature),
  a 3x3 convolution, a fully connected layer and a fully connected output to one logit.

All layers have an equalised learning rate (:mod:`heliogen.models.equalized`) with weights scaled
by 1/sqrt(fan_in); the activation is LeakyReLU(0.2) times sqrt(2), which keeps unit variance as
StyleGAN2's ``bias_act`` does. Downsampling low-passes with the separable [1, 3, 3, 1] filter
before taking every second pixel, as StyleGAN2's ``upfirdn2d`` does, with ordinary convolutions.

Channels at resolution ``r`` are ``min(channel_base // r, channel_max)`` (StyleGAN2-ADA's rule;
its defaults are 32768 and 512).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from ...errors import HeliogenError
from ..equalized import EqualizedConv2d, EqualizedLinear
from .layout import block_channels, check_resolution

__all__ = ["StyleGAN2Discriminator", "ResidualBlock", "MinibatchStdGroup", "BlurDownsample",
           "lrelu_gain"]

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def lrelu_gain(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) times sqrt(2): the gain restores unit variance for N(0, 1) pre-activations."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


class BlurDownsample(nn.Module):
    """Per-channel low-pass with the outer product of [1, 3, 3, 1] / 8, optionally strided.

    Parameters
    ----------
    stride : int
        2 takes every second pixel after filtering (with ``padding=1`` this halves H and W);
        1 only filters (used before a strided 3x3 convolution).
    padding : int
        Zero padding on every side.
    """

    def __init__(self, stride: int = 2, padding: int = 1):
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = torch.outer(taps, taps)
        # a buffer, not a parameter: the filter is fixed; non-persistent so checkpoints stay weights only
        self.register_buffer("kernel", kernel / kernel.sum(), persistent=False)
        self.stride, self.padding = int(stride), int(padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        weight = self.kernel.to(x.dtype).expand(c, 1, 4, 4)
        return F.conv2d(x, weight, stride=self.stride, padding=self.padding, groups=c)


class MinibatchStdGroup(nn.Module):
    """StyleGAN2's grouped minibatch standard deviation (Karras et al. 2020, appendix B).

    The batch is split into groups of ``group_size``; sample ``i`` belongs to group
    ``i % (N // group_size)``. For each group, the standard deviation over the group of every
    feature and pixel is averaged over the channels of each of ``num_channels`` channel
    slices and all pixels, and appended to the group's samples as ``num_channels`` constant maps.

    When ``N`` is not a multiple of ``group_size`` the largest divisor of ``N`` not above it
    is used (StyleGAN2 would fail), so an odd evaluation batch still runs.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8):
        super().__init__()
        if int(group_size) < 1 or int(num_channels) < 1:
            raise HeliogenError(f"minibatch-std group size {group_size} and channels {num_channels} must be >= 1")
        self.group_size, self.num_channels, self.eps = int(group_size), int(num_channels), eps

    def effective_group(self, n: int) -> int:
        """The group size used for a batch of ``n``: the largest divisor of ``n`` <= ``group_size``."""
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        return g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        f = self.num_channels
        if c % f:
            raise HeliogenError(f"minibatch-std: {c} channels cannot be split into {f} slices")
        g = self.effective_group(n)
        y = x.float().reshape(g, n // g, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # variance over the group
        y = (y + self.eps).sqrt().mean(dim=(2, 3, 4))  # (n // g, f)
        y = y.reshape(n // g, f, 1, 1).repeat(g, 1, h, w)  # sample i gets group i % (n // g)
        return torch.cat([x, y.to(x.dtype)], dim=1)


class ResidualBlock(nn.Module):
    """One StyleGAN2 residual block: ``in_ch`` at H x W -> ``out_ch`` at H/2 x W/2.

    ``out = (skip(x) + conv1(conv0(x))) / sqrt(2)`` where ``conv0`` is a 3x3 convolution,
    ``conv1`` a blurred 3x3 convolution with stride 2 (both with LeakyReLU and gain) and
    ``skip`` a blurred downsampling followed by a bias-free, linear 1x1 convolution.
    """

    def __init__(self, in_ch: int, tmp_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = EqualizedConv2d(in_ch, tmp_ch, 3, padding=1, gain=1.0)
        self.blur_pad = BlurDownsample(stride=1, padding=2)  # H -> H + 1, so a stride-2 3x3 gives H / 2
        self.conv1 = EqualizedConv2d(tmp_ch, out_ch, 3, gain=1.0)
        self.skip_down = BlurDownsample(stride=2, padding=1)
        self.skip = EqualizedConv2d(in_ch, out_ch, 1, gain=1.0)
        self.skip.bias = None  # StyleGAN2's skip convolution has no bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(self.skip_down(x), self.skip.weight * self.skip.scale)
        h = lrelu_gain(self.conv0(x))
        h = F.conv2d(self.blur_pad(h), self.conv1.weight * self.conv1.scale, self.conv1.bias, stride=2)
        h = lrelu_gain(h)
        return (y + h) * math.sqrt(0.5)


class StyleGAN2Discriminator(ModelMixin, ConfigMixin):
    """StyleGAN2 residual discriminator: images (N, in_channels, R, R) -> logits (N, 1).

    Parameters
    ----------
    resolution : int
        Input size R, a power of two from 32 to 1024.
    in_channels : int
        Image channels (1 for one EUV passband).
    channel_base, channel_max : int
        Channels at resolution r are ``min(channel_base // r, channel_max)``.
    mbstd_group : int
        Group size of the minibatch standard deviation layer (4 in StyleGAN2).
    mbstd_channels : int
        Number of standard deviation features it appends (1 in StyleGAN2).
    """

    @register_to_config
    def __init__(self, resolution: int = 1024, in_channels: int = 1, channel_base: int = 32768,
                 channel_max: int = 512, mbstd_group: int = 4, mbstd_channels: int = 1):
        super().__init__()
        self.resolution = check_resolution(resolution)
        if int(in_channels) < 1 or int(channel_base) < 1 or int(channel_max) < 1:
            raise HeliogenError(f"in_channels {in_channels}, channel_base {channel_base} and channel_max {channel_max} must be >= 1")
        self.in_channels = int(in_channels)
        # block resolutions: R, R/2, ..., 8 (each halves); the epilogue works at 4x4
        self.block_resolutions = [self.resolution >> i for i in range(int(math.log2(self.resolution)) - 2)]
        ch = {r: block_channels(r, channel_base, channel_max) for r in self.block_resolutions + [4]}
        self.channels = ch
        self.from_rgb = EqualizedConv2d(self.in_channels, ch[self.resolution], 1, gain=1.0)
        self.blocks = nn.ModuleList(ResidualBlock(ch[r], ch[r], ch[r // 2]) for r in self.block_resolutions)
        self.mbstd = MinibatchStdGroup(mbstd_group, mbstd_channels)
        self.epilogue_conv = EqualizedConv2d(ch[4] + int(mbstd_channels), ch[4], 3, padding=1, gain=1.0)
        self.epilogue_fc = EqualizedLinear(ch[4] * 16, ch[4], gain=1.0)
        self.out = EqualizedLinear(ch[4], 1, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.in_channels, self.resolution, self.resolution):
            raise HeliogenError(f"StyleGAN2 discriminator expects images (N, {self.in_channels}, {self.resolution}, "
                                f"{self.resolution}), got {tuple(x.shape)}")
        h = lrelu_gain(self.from_rgb(x))
        for block in self.blocks:
            h = block(h)
        h = lrelu_gain(self.epilogue_conv(self.mbstd(h)))
        h = lrelu_gain(self.epilogue_fc(h.flatten(1)))
        return self.out(h)
