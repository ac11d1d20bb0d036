"""Seam quality: mean squared gradient across seams relative to the gradient inside tiles,
each per unit pixel variance of its region.

The issue's metric for what each refinement buys (granulation thesis sec. 3.4 judges seams by
eye, figures 15-16). A mosaic of ``grid`` x ``grid`` tiles of ``size`` px with ``overlap`` px
places tile ``c`` at column ``c * (size - overlap)``; the blending band between tiles ``c - 1``
and ``c`` is the ``overlap`` columns from there. A pixel difference ``I[j + 1] - I[j]`` along a
row is *across a seam* when pixel ``j`` or ``j + 1`` lies in a band, and *inside a tile*
otherwise; the same holds along columns for the horizontal seams. With

    R_raw    = mean(g^2 across seams) / mean(g^2 inside tiles)
    contrast = var(pixels in the bands) / var(pixels inside tiles)

the seam ratio is

    R = R_raw / contrast,

the squared gradient per unit variance, seams against interior. Why the division: alpha
blending two unrelated tiles mixes them 50/50 at the band's centre, which halves the variance
there and with it the squared gradient, so ``R_raw`` drops below 1 (the value of a seamless
mosaic) even where the seam is plain to see: it rewards washing the band out. ``R`` is 1 for
a mosaic whose bands look like its tiles, above 1 where the blend's ramp between mismatched
tiles adds gradient the tiles do not have, below 1 where the bands are smoother than the tiles
(blending flat or low-contrast tiles); nearer 1 is better, which for the usual R > 1 means
lower. ``raw_ratio`` and ``contrast`` are reported too.
"""

from __future__ import annotations

import numpy as np

__all__ = ["band_mask", "seam_metric", "SeamAccumulator"]


def band_mask(n: int, size: int, overlap: int, grid: int) -> np.ndarray:
    """Boolean (n,): pixel positions along one axis that lie in a blending band."""
    mask = np.zeros(n, dtype=bool)
    step = size - overlap
    for c in range(1, grid):
        mask[c * step: c * step + overlap] = True
    return mask


def _pair_mask(mask: np.ndarray) -> np.ndarray:
    """(n - 1,): differences between positions j and j + 1 that touch a band."""
    return mask[:-1] | mask[1:]


def seam_metric(mosaic: np.ndarray, size: int, overlap: int, grid: int | tuple[int, int]) -> dict:
    """Seam ratio of an in-memory mosaic (see the module docstring).

    Returns ``{"seam": mean g^2 across seams, "interior": mean g^2 inside tiles, "raw_ratio": seam / interior,
    "contrast": band / interior pixel variance, "ratio": raw_ratio / contrast}``.
    """
    acc = SeamAccumulator(mosaic.shape[1], size, overlap, grid)
    acc.update(np.asarray(mosaic), 0)
    return acc.result()


class SeamAccumulator:
    """The same metric, accumulated over row blocks of a streamed mosaic (float64 sums)."""

    def __init__(self, width: int, size: int, overlap: int, grid: int | tuple[int, int]):
        gy, gx = (grid, grid) if np.isscalar(grid) else grid
        self.size, self.overlap, self.gy = size, overlap, gy
        self.height = gy * (size - overlap) + overlap
        self.col_pairs = _pair_mask(band_mask(width, size, overlap, gx))
        self.row_band = band_mask(self.height, size, overlap, gy)
        self.sums = np.zeros(4)  # seam sum, seam count, interior sum, interior count
        self.band_cols = band_mask(width, size, overlap, gx)
        self.moments = np.zeros(6)  # band: n, sum, sum^2; interior: n, sum, sum^2 (pixels)
        self.last_row = None
        self.next_y = 0

    def update(self, block: np.ndarray, y0: int) -> None:
        """Fold the rows ``y0 .. y0 + len(block)`` (blocks must come in order)."""
        if y0 != self.next_y:
            raise ValueError(f"row blocks out of order: expected y0={self.next_y}, got {y0}")
        block = np.asarray(block, dtype=np.float64)
        gx2 = np.diff(block, axis=1) ** 2
        s = self.sums
        s[0] += gx2[:, self.col_pairs].sum()
        s[1] += gx2.shape[0] * self.col_pairs.sum()
        s[2] += gx2[:, ~self.col_pairs].sum()
        s[3] += gx2.shape[0] * (~self.col_pairs).sum()
        rows = block if self.last_row is None else np.concatenate([self.last_row[None], block])
        start = y0 if self.last_row is None else y0 - 1
        if len(rows) > 1:
            gy2 = (np.diff(rows, axis=0) ** 2).sum(axis=1)
            ys = np.arange(start, start + len(rows) - 1)
            seam = self.row_band[ys] | self.row_band[ys + 1]
            s[0] += gy2[seam].sum()
            s[1] += seam.sum() * block.shape[1]
            s[2] += gy2[~seam].sum()
            s[3] += (~seam).sum() * block.shape[1]
        in_band = self.row_band[y0:y0 + len(block)][:, None] | self.band_cols[None, :]
        m = self.moments
        for j, sel in ((0, in_band), (3, ~in_band)):
            v = block[sel]
            m[j] += v.size
            m[j + 1] += v.sum()
            m[j + 2] += (v * v).sum()
        self.last_row = block[-1].copy()
        self.next_y = y0 + len(block)

    def result(self) -> dict:
        seam = self.sums[0] / max(self.sums[1], 1)
        interior = self.sums[2] / max(self.sums[3], 1)
        m = self.moments
        var_band = m[2] / max(m[0], 1) - (m[1] / max(m[0], 1)) ** 2
        var_in = m[5] / max(m[3], 1) - (m[4] / max(m[3], 1)) ** 2
        raw = seam / interior if interior > 0 else float("nan")
        contrast = var_band / var_in if var_in > 0 else float("nan")
        return {"seam": float(seam), "interior": float(interior), "raw_ratio": float(raw), "contrast": float(contrast),
                "ratio": float(raw / contrast) if contrast > 0 else float("nan")}
