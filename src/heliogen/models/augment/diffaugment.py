"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The policy ProjectedGAN uses, in order: colour (brightness, saturation, contrast), translation
by up to 1/8 of the side with zero fill, and cutout of a square 1/5 of the side. Every
operation is differentiable in the image, so generator gradients pass through it.

A draw (:class:`DiffAugmentDraw`) holds every random number for one batch; applying the same
draw twice gives the same result, and a ``torch.Generator`` makes draws reproducible. Each
draw is per sample and shared by all channels of that sample.

Differences from the reference code: the cutout square always lies wholly inside the image
(the reference clips a square centred anywhere), so every sample loses exactly
``round(0.2 H) x round(0.2 W)`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DiffAugment", "DiffAugmentDraw", "draw_diffaugment", "apply_diffaugment",
           "adjust_brightness", "adjust_saturation", "adjust_contrast", "translate", "cut_out"]


@dataclass
class DiffAugmentDraw:
    """The random numbers of one DiffAugment call, one row per sample.

    Attributes
    ----------
    brightness : Tensor (N,)
        Added to every pixel, uniform in [-0.5, 0.5).
    saturation : Tensor (N,)
        Factor on the deviation from the channel mean, uniform in [0, 2).
    contrast : Tensor (N,)
        Factor on the deviation from the image mean, uniform in [0.5, 1.5).
    shift : Tensor (N, 2) long
        (down, right) translation in pixels, uniform integers within +-round(fraction * side).
    cutout_corner : Tensor (N, 2) long
        Top-left corner of the cut square, uniform so the square fits in the image.
    cutout_size : tuple of int
        (height, width) of the cut square.
    """

    brightness: torch.Tensor | None = None
    saturation: torch.Tensor | None = None
    contrast: torch.Tensor | None = None
    shift: torch.Tensor | None = None
    cutout_corner: torch.Tensor | None = None
    cutout_size: tuple[int, int] = (0, 0)


def draw_diffaugment(n: int, height: int, width: int, generator: torch.Generator | None = None,
                     color: bool = True, translation: float = 0.125, cutout: float = 0.2) -> DiffAugmentDraw:
    """Draw the augmentation of ``n`` images of ``height`` x ``width``.

    ``translation`` and ``cutout`` are fractions of the side (0 turns the operation off).
    Draws happen on the generator's device (CPU without one).
    """
    dev = generator.device if generator is not None else torch.device("cpu")

    def uniform():
        return torch.rand(n, generator=generator, device=dev)

    draw = DiffAugmentDraw()
    if color:
        draw.brightness, draw.saturation, draw.contrast = uniform() - 0.5, uniform() * 2, uniform() + 0.5
    if translation > 0:
        limits = [int(side * translation + 0.5) for side in (height, width)]
        draw.shift = torch.stack([torch.randint(-m, m + 1, (n,), generator=generator, device=dev) for m in limits], 1)
    if cutout > 0:
        size = (int(height * cutout + 0.5), int(width * cutout + 0.5))
        draw.cutout_size = size
        draw.cutout_corner = torch.stack(
            [torch.randint(0, side - cut + 1, (n,), generator=generator, device=dev) for side, cut in zip((height, width), size)], 1)
    return draw


def _per_sample(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def adjust_brightness(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Add ``amount[i]`` to every pixel of image ``i``."""
    return x + _per_sample(amount, x)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each pixel's deviation from its mean over channels (no effect on one channel)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * _per_sample(factor, x) + mean


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each image's deviation from its mean over channels and pixels."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _per_sample(factor, x) + mean


def translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Move image ``i`` down by ``shift[i, 0]`` and right by ``shift[i, 1]`` pixels, filling with zeros."""
    n, _, h, w = x.shape
    shift = shift.to(x.device)
    ph, pw = int(shift[:, 0].abs().max()), int(shift[:, 1].abs().max())
    padded = F.pad(x, (pw, pw, ph, ph))
    rows = torch.arange(h, device=x.device)[None, :] - shift[:, :1] + ph  # (N, H) source rows in padded
    cols = torch.arange(w, device=x.device)[None, :] - shift[:, 1:] + pw
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cut_out(x: torch.Tensor, corner: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero the ``size`` square with top-left ``corner[i]`` in every channel of image ``i``."""
    _, _, h, w = x.shape
    corner = corner.to(x.device)
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    in_rows = (rows >= corner[:, :1]) & (rows < corner[:, :1] + size[0])
    in_cols = (cols >= corner[:, 1:]) & (cols < corner[:, 1:] + size[1])
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[:, None].to(x.dtype)


def apply_diffaugment(x: torch.Tensor, draw: DiffAugmentDraw) -> torch.Tensor:
    """Apply ``draw`` to the batch ``x`` (N, C, H, W): colour, translation, cutout."""
    if draw.brightness is not None:
        x = adjust_contrast(adjust_saturation(adjust_brightness(x, draw.brightness), draw.saturation), draw.contrast)
    if draw.shift is not None:
        x = translate(x, draw.shift)
    if draw.cutout_corner is not None:
        x = cut_out(x, draw.cutout_corner, draw.cutout_size)
    return x


class DiffAugment(nn.Module):
    """DiffAugment as a module (no parameters): a fresh draw per call.

    Parameters
    ----------
    color : bool
        Brightness, saturation and contrast.
    translation : float
        Largest shift as a fraction of the side (0.125 in ProjectedGAN; 0 for none).
    cutout : float
        Side of the cut square as a fraction of the image side (0.2 in ProjectedGAN; 0 for none).
    """

    def __init__(self, color: bool = True, translation: float = 0.125, cutout: float = 0.2):
        super().__init__()
        self.color, self.translation, self.cutout = bool(color), float(translation), float(cutout)

    def draw(self, x: torch.Tensor, generator: torch.Generator | None = None) -> DiffAugmentDraw:
        """A draw for the batch ``x``."""
        return draw_diffaugment(x.shape[0], x.shape[2], x.shape[3], generator, self.color, self.translation, self.cutout)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return apply_diffaugment(x, self.draw(x, generator))
