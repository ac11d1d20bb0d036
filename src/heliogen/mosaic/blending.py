"""Blending across the overlaps: alpha blending of pixels (granulation thesis eq. 4) and latent
blending of generator feature maps (sec. 3.4.2).

Pixel blending: in an overlap of ``ov`` columns, ``pixel(x) = left(x - ov) * a_x + right(x) * (1 - a_x)``
with ``a`` from 1 to 0 (:func:`heliogen.mosaic.matching.alpha_weights`); rows the same way.

Latent blending (:func:`heliogen.mosaic.build._latent_blocks`): the tiles' feature maps at a
generator layer of ``r`` px are alpha-blended the same way, over ``ov * r / size`` feature
pixels, into one feature canvas that the rest of the generator decodes.
"""

from __future__ import annotations

import numpy as np
from ..errors import HeliogenError
from .matching import alpha_weights

__all__ = ["blend_row", "blend_rows", "feature_overlap", "assemble"]


def blend_row(tiles, overlap: int) -> np.ndarray:
    """Tiles (G, S, S) side by side, eq. 4 across each vertical overlap: (S, G(S-ov)+ov) float32."""
    g = len(tiles)
    s = tiles[0].shape[0]
    step = s - overlap
    out = np.empty((s, g * step + overlap), dtype=np.float32)
    a = alpha_weights(overlap).astype(np.float32)
    out[:, :s] = tiles[0]
    for c in range(1, g):
        x0 = c * step
        t = np.asarray(tiles[c], dtype=np.float32)
        out[:, x0:x0 + overlap] = out[:, x0:x0 + overlap] * a + t[:, :overlap] * (1 - a)
        out[:, x0 + overlap:x0 + s] = t[:, overlap:]
    return out


def blend_rows(upper_tail: np.ndarray, strip: np.ndarray, overlap: int) -> np.ndarray:
    """Eq. 4 down the rows: blend the last ``ov`` rows of the row above into ``strip``'s first ``ov`` (in place)."""
    a = alpha_weights(overlap).astype(np.float32)[:, None]
    strip[:overlap] = upper_tail * a + strip[:overlap] * (1 - a)
    return strip


def assemble(tiles: np.ndarray, overlap: int) -> np.ndarray:
    """The whole mosaic in memory from a (gy, gx, S, S) tile grid (small mosaics and tests)."""
    gy = tiles.shape[0]
    s = tiles.shape[2]
    rows = []
    pending = None
    for r in range(gy):
        strip = blend_row(tiles[r], overlap)
        if pending is not None:
            blend_rows(pending, strip, overlap)
        pending = strip[s - overlap:].copy()
        rows.append(strip if r == gy - 1 else strip[: s - overlap])
    return np.concatenate(rows)


def feature_overlap(overlap: int, size: int, resolution: int) -> int:
    """The overlap at a layer of ``resolution`` px, in feature pixels (at least 1)."""
    ovl = int(round(overlap * resolution / size))
    if ovl < 1:
        raise HeliogenError(f"the {overlap} px overlap is less than one feature pixel at the {resolution} px layer; choose a finer --layer")
    return ovl
