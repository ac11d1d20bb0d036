"""Modulated and demodulated convolution (Karras et al. 2020, StyleGAN2 sec. 2.2, eq. 1-3).

Each sample n scales the input channels of the shared weight by its style s_n:
``w'_oik = s_ni * w_oik`` (modulation). Demodulation rescales every output channel o by
``1 / sqrt(sum_ik w'_oik**2 + eps)``, so for inputs of unit variance, i.i.d. over channels
and pixels, every output channel again has unit variance. This replaces StyleGAN's AdaIN
instance normalisation, whose data-dependent statistics caused the droplet artifacts.

The per-sample weights are applied in one grouped convolution: the batch is folded into
the channel axis (1, N*I, H, W) and the N weight sets into N groups.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .mapping import ScaledLinear

__all__ = ["modulated_conv2d", "ModulatedConv2d"]


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     eps: float = 1e-8) -> torch.Tensor:
    """Convolve each sample of ``x`` with ``weight`` modulated by its own style.

    Parameters
    ----------
    x : torch.Tensor
        Input (N, I, H, W).
    weight : torch.Tensor
        Shared weight (O, I, k, k), k odd; 'same' zero padding.
    styles : torch.Tensor
        Per-sample input-channel scales (N, I).
    demodulate : bool
        Normalise each sample's output channels to unit weight norm (eq. 3).

    Returns
    -------
    torch.Tensor
        (N, O, H, W).
    """
    n, i, h, w = x.shape
    o, _, k, _ = weight.shape
    wn = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)  # (N, O, I, k, k), eq. 1
    if demodulate:
        wn = wn * torch.rsqrt(wn.square().sum(dim=(2, 3, 4), keepdim=True) + eps)  # eq. 3
    out = F.conv2d(x.reshape(1, n * i, h, w), wn.reshape(n * o, i, k, k), padding=k // 2, groups=n)
    return out.reshape(n, o, h, w)


class ModulatedConv2d(nn.Module):
    """A convolution whose styles come from w through a learned affine map (bias init 1).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
        3 in the synthesis layers, 1 in toRGB.
    w_dim : int
    demodulate : bool
        True in the synthesis layers, False in toRGB (whose styles instead carry the
        equalised-LR gain 1 / sqrt(fan_in)).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, demodulate: bool = True):
        super().__init__()
        self.affine = ScaledLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.demodulate = demodulate
        # demodulation makes the weight's scale irrelevant; without it, equalise as usual
        self.style_gain = 1.0 if demodulate else 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)

    def styles(self, w: torch.Tensor) -> torch.Tensor:
        """The per-sample input-channel scales s (N, in_channels) of w (N, w_dim)."""
        return self.affine(w) * self.style_gain

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return modulated_conv2d(x, self.weight, self.styles(w), demodulate=self.demodulate)
