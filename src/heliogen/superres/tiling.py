"""Overlapping tiles over an image, their blending window, and noise fixed by position.

A full disk is super-resolved tile by tile. Tiles of ``tile`` low-resolution pixels step by
``tile - overlap``; the last row and column are moved back to end at the image's edge. Each
tile's prediction is weighted by a window that is 1 in its interior and falls to 0 across the
overlap with a raised cosine on every side that has a neighbour (sides on the image's border
keep weight 1), so weights blend smoothly and a pixel covered by one tile only is that
tile's prediction unchanged.

Diffusion noise is drawn per block of :data:`NOISE_BLOCK` target pixels from a generator seeded
by (sample seed, block row, block column): a pixel's noise depends on where it is on the disk
and on the sample's seed, not on how the disk was tiled or batched.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import HeliogenError

__all__ = ["tile_starts", "blend_window", "position_noise", "NOISE_BLOCK"]

NOISE_BLOCK = 16


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Start indices of tiles of ``tile`` pixels over ``n`` pixels, overlapping by at least ``overlap``."""
    if not 0 <= overlap < tile:
        raise HeliogenError(f"--overlap must be at least 0 and below --tile ({tile}), not {overlap}")
    if n <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, n - tile, step))
    return starts + [n - tile]


def _ramp(length: int, overlap: int, before: bool, after: bool) -> np.ndarray:
    w = np.ones(length)
    if overlap > 0:
        r = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)  # raised cosine, never exactly 0
        if before:
            w[:overlap] = r
        if after:
            w[-overlap:] = r[::-1]
    return w


def blend_window(tile: int, overlap: int, neighbours: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """``(tile, tile)`` weights; ``neighbours`` = (below, above, left, right) has a neighbour tile."""
    below, above, left, right = neighbours
    return np.outer(_ramp(tile, overlap, below, above), _ramp(tile, overlap, left, right))


def position_noise(seed: int, shape, y0: int, x0: int) -> torch.Tensor:
    """Unit Gaussian noise ``shape = (C, H, W)`` for the target region starting at (y0, x0).

    Assembled from :data:`NOISE_BLOCK`-pixel blocks, each from its own generator seeded with
    ``(seed, block row, block column)``, so the same pixel always gets the same draw.
    """
    c, h, w = shape
    b = NOISE_BLOCK
    by0, bx0 = y0 // b, x0 // b
    by1, bx1 = (y0 + h - 1) // b, (x0 + w - 1) // b
    out = torch.empty(c, (by1 - by0 + 1) * b, (bx1 - bx0 + 1) * b)
    for by in range(by0, by1 + 1):
        for bx in range(bx0, bx1 + 1):
            g = torch.Generator().manual_seed(int(np.random.SeedSequence([int(seed), by, bx]).generate_state(1)[0]))
            out[:, (by - by0) * b:(by - by0 + 1) * b, (bx - bx0) * b:(bx - bx0 + 1) * b] = torch.randn(c, b, b, generator=g)
    oy, ox = y0 - by0 * b, x0 - bx0 * b
    return out[:, oy:oy + h, ox:ox + w]
