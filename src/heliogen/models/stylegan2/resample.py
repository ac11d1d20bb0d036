"""2x upsampling with StyleGAN2's [1, 3, 3, 1] FIR filter, in plain PyTorch.

StyleGAN2 upsamples by inserting zeros between pixels and low-pass filtering with the
separable binomial kernel [1, 3, 3, 1] (its ``upfirdn2d`` custom op). A depthwise transposed
convolution with stride 2 does both at once: zero insertion is the stride, the filter is the
kernel. Per axis the taps are [1, 3, 3, 1] / 4 (normalised to sum 2, the upsampling gain),
so interior pixels get the 1/4, 3/4 weights of bilinear interpolation and borders see zero
padding, as upstream's op does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["upsample2d", "fir_kernel"]

FIR_TAPS = (1.0, 3.0, 3.0, 1.0)


def fir_kernel(dtype=torch.float32, device=None) -> torch.Tensor:
    """The 4x4 upsampling kernel: outer product of [1, 3, 3, 1] / 4 with itself (sums to 4)."""
    taps = torch.tensor(FIR_TAPS, dtype=dtype, device=device)
    taps = taps * (2.0 / taps.sum())
    return taps[:, None] * taps[None, :]


def upsample2d(x: torch.Tensor) -> torch.Tensor:
    """Double the height and width of ``x`` (N, C, H, W) with the FIR filter; keeps the mean."""
    c = x.shape[1]
    kernel = fir_kernel(x.dtype, x.device).expand(c, 1, 4, 4)
    # stride 2 inserts the zeros; kernel 4 with padding 1 gives exactly 2H x 2W
    return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=c)
