"""Seam quality of a mosaic, from its pixels alone: three measures of seams against tile interiors.

A mosaic of ``grid`` x ``grid`` tiles of ``size`` px with ``overlap`` px places tile ``c`` at
column ``c * (size - overlap)``; the blending band between tiles ``c - 1`` and ``c`` is the
``overlap`` columns from there (rows likewise). Granulation thesis sec. 3.4 judges seams by eye
(figures 15-16); these figures put numbers on it.

**Gradient ratios.** A pixel difference ``I[j + 1] - I[j]`` along a row is *across a seam* when
pixel ``j`` or ``j + 1`` lies in a band, and *inside a tile* otherwise; the same holds along
columns for the horizontal seams. With

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

**Spectral distance.** Independent of gradients and of eq. 5 (see :class:`SpectralSeams`): the
mean power spectrum across the seams, in strips centred on the bands, against that of strips of
the same width centred inside the tiles; ``spectral_distance`` (dB, 0 for a seamless mosaic,
lower is better whichever way the seams differ) and ``hf_ratio`` (power at wavelengths of
4 px or less, seams / interior).
"""

from __future__ import annotations

import numpy as np

__all__ = ["band_mask", "seam_metric", "strip_width", "SeamAccumulator", "SpectralSeams"]

# 10 log10 of a ratio of two empty spectral bins is 0 dB, not nan: a bin that holds no power
# in either kind of strip (a flat mosaic, a pure sinusoid) says nothing about the seams.
_EMPTY_BIN = 1e-12


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


def strip_width(size: int, overlap: int) -> int:
    """Default spectral strip width: ``4 * overlap``, even, and short enough that a strip
    centred inside a tile touches no band (at most ``size - 2 * overlap``)."""
    return 2 * (min(4 * overlap, size - 2 * overlap) // 2)


def seam_metric(mosaic: np.ndarray, size: int, overlap: int, grid: int | tuple[int, int], strip: int | None = None) -> dict:
    """Seam measures of an in-memory mosaic (see the module docstring).

    Returns ``{"seam": mean g^2 across seams, "interior": mean g^2 inside tiles, "raw_ratio": seam / interior,
    "contrast": band / interior pixel variance, "ratio": raw_ratio / contrast,
    "spectral_distance": dB, "hf_ratio": high-frequency power seams / interior, "strip": strip width}``.
    """
    acc = SeamAccumulator(mosaic.shape[1], size, overlap, grid, strip=strip)
    acc.update(np.asarray(mosaic), 0)
    return acc.result()


class SpectralSeams:
    r"""Power spectra across the seams against those inside the tiles, streamed over row blocks.

    A *seam strip* is ``W = strip`` pixels of one row, centred on a vertical blending band
    (column ``c * step + overlap // 2``, ``step = size - overlap``), or ``W`` pixels of one
    column centred on a horizontal band; an *interior strip* is the same but centred on a
    tile's middle (``c * step + size // 2``). Only rows (columns) outside the horizontal
    (vertical) bands are used, so a seam strip crosses exactly one seam and an interior strip
    none. Each strip ``x`` gives the Hann-tapered periodogram

    .. math:: P(k) = |\mathrm{DFT}[w \cdot (x - \bar x)](k)|^2 / \textstyle\sum w^2,
              \quad w_n = \tfrac12 - \tfrac12 \cos(2 \pi n / W),\quad k = 1 \ldots W/2,

    averaged over all seam strips (``P_s``) and all interior strips (``P_i``). Then

    .. math:: D = \Big[\tfrac{2}{W} \sum_{k=1}^{W/2}
              \big(10 \log_{10} \tfrac{P_s(k) + \epsilon}{P_i(k) + \epsilon}\big)^2\Big]^{1/2}
              \ \mathrm{dB},
              \qquad H = \frac{\sum_{k \ge W/4} P_s(k)}{\sum_{k \ge W/4} P_i(k)},

    with :math:`\epsilon = 10^{-12} \max(P_s, P_i)` so that bins empty in both count as 0 dB.
    ``D`` (``spectral_distance``) is 0 when the seams have the spectrum of the tiles and grows
    whichever way they differ: a step or a ramp between mismatched tiles adds power at low
    and middle frequencies, a washed-out band removes it at high ones. ``H`` (``hf_ratio``)
    is the power at wavelengths of 4 px or less, seams over interior: above 1 for sharp
    seams, below 1 for blurred ones. Neither uses gradients, band variances or the overlap
    strips of eq. 5, so they judge the GA refinement without sharing its fitness.

    Memory: the rows of one block plus at most ``W`` buffered rows (the columns outside the
    vertical bands) for the horizontal seams.
    """

    def __init__(self, width: int, size: int, overlap: int, grid: tuple[int, int], strip: int | None = None):
        gy, gx = grid
        step = size - overlap
        self.strip = strip_width(size, overlap) if strip is None else int(strip)
        if self.strip > size - 2 * overlap:
            raise ValueError(f"a strip of {self.strip} px inside a {size} px tile would touch its {overlap} px bands")
        w = self.strip
        n = np.arange(w)
        self.taper = 0.5 - 0.5 * np.cos(2 * np.pi * n / w)
        self.taper_energy = float((self.taper ** 2).sum())
        self.usable = w >= 4 and (gy > 1 or gx > 1)

        def starts(g: int, centre: int, first: int) -> np.ndarray:
            return np.array([c * step + centre - w // 2 for c in range(first, g)], dtype=int)

        self.col_seam = starts(gx, overlap // 2, 1)[:, None] + n  # (gx - 1, W) column indices
        self.col_inner = starts(gx, size // 2, 0)[:, None] + n
        self.rows_clear = ~band_mask(gy * step + overlap, size, overlap, gy)
        self.cols_clear = ~band_mask(width, size, overlap, gx)
        # horizontal seams: (start row, is seam) in order of start; all strips have width W
        windows = [(int(s), True) for s in starts(gy, overlap // 2, 1)] + [(int(s), False) for s in starts(gy, size // 2, 0)]
        self.pending = sorted(windows)
        self.buffer = np.zeros((0, int(self.cols_clear.sum())))
        self.buffer_y0 = 0
        self.power = np.zeros((2, w // 2 + 1))  # summed periodograms: seam, interior
        self.count = np.zeros(2)

    def _fold(self, strips: np.ndarray, kind: int) -> None:
        """Add the periodograms of ``strips`` (..., W) to ``kind`` (0 seam, 1 interior)."""
        if strips.size == 0:
            return
        x = strips - strips.mean(axis=-1, keepdims=True)
        p = np.abs(np.fft.rfft(x * self.taper, axis=-1)) ** 2 / self.taper_energy
        self.power[kind] += p.reshape(-1, p.shape[-1]).sum(axis=0)
        self.count[kind] += p.size // p.shape[-1]

    def update(self, block: np.ndarray, y0: int) -> None:
        """Fold the float64 rows ``y0 .. y0 + len(block)`` (the caller keeps them in order)."""
        if not self.usable:
            return
        rows = block[self.rows_clear[y0:y0 + len(block)]]
        self._fold(rows[:, self.col_seam], 0)  # (rows, seams, W)
        self._fold(rows[:, self.col_inner], 1)
        if not self.pending:
            return
        self.buffer = np.concatenate([self.buffer, block[:, self.cols_clear]])
        end = y0 + len(block)
        w = self.strip
        while self.pending and self.pending[0][0] + w <= end:
            start, is_seam = self.pending.pop(0)
            self._fold(self.buffer[start - self.buffer_y0: start - self.buffer_y0 + w].T, 0 if is_seam else 1)
        keep_from = self.pending[0][0] if self.pending else end
        drop = min(len(self.buffer), max(0, keep_from - self.buffer_y0))
        self.buffer = self.buffer[drop:]
        self.buffer_y0 += drop

    def result(self) -> dict:
        """``{"spectral_distance": D in dB, "hf_ratio": H, "strip": W}`` (nan without seams or strips)."""
        nan = float("nan")
        if not self.usable or self.count.min() == 0:
            return {"spectral_distance": nan, "hf_ratio": nan, "strip": self.strip}
        seam, inner = (self.power / self.count[:, None])[:, 1:]
        eps = _EMPTY_BIN * max(float(inner.max()), float(seam.max()), np.finfo(float).tiny)
        distance = float(np.sqrt(np.mean((10 * np.log10((seam + eps) / (inner + eps))) ** 2)))
        high = np.arange(1, self.strip // 2 + 1) >= self.strip / 4
        hf = float(seam[high].sum() / inner[high].sum()) if inner[high].sum() > 0 else nan
        return {"spectral_distance": distance, "hf_ratio": hf, "strip": self.strip}


class SeamAccumulator:
    """The same measures, accumulated over row blocks of a streamed mosaic (float64 sums)."""

    def __init__(self, width: int, size: int, overlap: int, grid: int | tuple[int, int], strip: int | None = None):
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
        self.spectral = SpectralSeams(width, size, overlap, (gy, gx), strip)

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
        self.spectral.update(block, y0)
        self.last_row = block[-1].copy()
        self.next_y = y0 + len(block)

    def result(self) -> dict:
        """The measures of the rows folded so far (keys as :func:`seam_metric`)."""
        seam = self.sums[0] / max(self.sums[1], 1)
        interior = self.sums[2] / max(self.sums[3], 1)
        m = self.moments
        var_band = m[2] / max(m[0], 1) - (m[1] / max(m[0], 1)) ** 2
        var_in = m[5] / max(m[3], 1) - (m[4] / max(m[3], 1)) ** 2
        raw = seam / interior if interior > 0 else float("nan")
        contrast = var_band / var_in if var_in > 0 else float("nan")
        return {"seam": float(seam), "interior": float(interior), "raw_ratio": float(raw), "contrast": float(contrast),
                "ratio": float(raw / contrast) if contrast > 0 else float("nan"), **self.spectral.result()}
