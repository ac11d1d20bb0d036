"""Greedy, row-major tile matching on the overlap strips (granulation thesis sec. 3.4.1).

The distance between a placed tile and a candidate is eq. 5 with the squared difference the
printed formula's '+' stands for:

    d(left, right) = sum_{x=0}^{ov-1} K_x sum_y (left(x - ov, y) - right(x, y))^2

with ``K`` a Gaussian kernel over the ``ov`` overlap columns centred on the middle column
(the column that alpha blending, eq. 4, mixes half and half). Top/bottom neighbours use the
same formula on rows; a tile with both a left and a top neighbour takes the maximum of the
two distances. Tiles are drawn without replacement unless ``reuse``; the first is random.

The search evaluates every candidate at once: the squared difference expands to
``|a|_K^2 - 2 <a, q>_K + |q|_K^2``, the candidates' strip norms are computed once, and the cross
term is one matrix-vector product per position (left neighbours) or one matrix product per
row (top neighbours, whose strips are all known when a row starts). :func:`greedy_reference`
is the literal one-candidate-at-a-time transcription, for tests and the benchmark.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import HeliogenError

__all__ = ["gaussian_kernel", "alpha_weights", "strip_distance", "StripIndex", "greedy_reference", "check_geometry", "mosaic_side"]


def mosaic_side(grid: int, size: int, overlap: int) -> int:
    """Pixels per side of a ``grid``-tile mosaic: grid * (size - overlap) + overlap."""
    return grid * (size - overlap) + overlap


def check_geometry(grid: tuple[int, int], size: int, overlap: int) -> None:
    """One clear error for a grid or overlap that does not fit the tile size."""
    gy, gx = grid
    if gy < 1 or gx < 1:
        raise HeliogenError(f"the grid {gy}x{gx} must be at least 1x1")
    if overlap < 1 or 2 * overlap >= size:
        raise HeliogenError(f"--overlap {overlap} does not fit {size} px tiles: it must be at least 1 and less than half the tile ({size // 2 - (1 - size % 2)} at most)")


def gaussian_kernel(overlap: int, sigma: float | None = None) -> np.ndarray:
    """The eq. 5 kernel K_x over the overlap columns, centred on column (ov - 1) / 2, summing to 1.

    The thesis gives no width; ``sigma`` defaults to ov / 4, so the outermost columns weigh
    about an eighth of the middle one.
    """
    sigma = overlap / 4.0 if sigma is None else sigma
    x = np.arange(overlap, dtype=np.float64) - (overlap - 1) / 2.0
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def alpha_weights(overlap: int) -> np.ndarray:
    """Eq. 4's alpha over the overlap columns: 1 at the first column (all left tile), falling
    linearly to 0 at the last (all right tile); 0.5 for a one-column overlap."""
    if overlap == 1:
        return np.array([0.5])
    return 1.0 - np.arange(overlap, dtype=np.float64) / (overlap - 1)


def strip_distance(first: np.ndarray, second: np.ndarray, overlap: int, kernel: np.ndarray, axis: str = "x") -> float:
    """Eq. 5 between two tiles: ``first`` to the left of (axis 'x') or above (axis 'y') ``second``."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', not {axis!r}")
    if axis == "y":
        first, second = first.T, second.T
    a = np.asarray(first, dtype=np.float64)[:, -overlap:]
    b = np.asarray(second, dtype=np.float64)[:, :overlap]
    return float(((a - b) ** 2).sum(axis=0) @ kernel)


class StripIndex:
    """The bank's left and top overlap strips, kernel-weighted, for all-candidate distances.

    Memory: two (N, size * overlap) arrays of ``dtype`` (100 MB for 10,000 128 px tiles at
    overlap 10 in float32).
    """

    def __init__(self, tiles: np.ndarray, overlap: int, kernel: np.ndarray, dtype=np.float32, chunk: int = 2048):
        n, s, _ = tiles.shape
        self.n, self.size, self.overlap = n, s, overlap
        self.dtype = dtype
        tdt = torch.float64 if dtype == np.float64 else torch.float32
        self.kernel = torch.as_tensor(kernel, dtype=tdt)
        sk = torch.sqrt(self.kernel)
        self.left = torch.empty(n, s * overlap, dtype=tdt)  # candidate's first ov columns, (y, x) order
        self.top = torch.empty(n, s * overlap, dtype=tdt)   # candidate's first ov rows, transposed to (x, y) then flat
        for i in range(0, n, chunk):
            t = torch.as_tensor(np.asarray(tiles[i:i + chunk]), dtype=tdt)
            self.left[i:i + len(t)] = (t[:, :, :overlap] * sk).reshape(len(t), -1)
            self.top[i:i + len(t)] = (t[:, :overlap, :].transpose(1, 2) * sk).reshape(len(t), -1)
        self.left_norm = (self.left ** 2).sum(1)
        self.top_norm = (self.top ** 2).sum(1)
        self._sk = sk

    def _query_left(self, placed: np.ndarray) -> torch.Tensor:
        """Weighted right strip of a placed tile (its last ov columns), flat (y, x)."""
        q = torch.as_tensor(np.ascontiguousarray(placed[:, -self.overlap:]), dtype=self.left.dtype)
        return (q * self._sk).reshape(-1)

    def _query_top(self, placed: np.ndarray) -> torch.Tensor:
        """Weighted bottom strip of a placed tile (its last ov rows), as (x, y) flat."""
        q = torch.as_tensor(np.ascontiguousarray(placed[-self.overlap:, :]), dtype=self.top.dtype)
        return (q.T * self._sk).reshape(-1)

    def left_distances(self, placed: np.ndarray) -> torch.Tensor:
        """Eq. 5 from ``placed`` (as the left tile) to every candidate, (N,)."""
        q = self._query_left(placed)
        return (self.left_norm - 2.0 * (self.left @ q) + q.dot(q)).clamp_min_(0)

    def top_distances(self, placed_row: list) -> torch.Tensor:
        """Eq. 5 from each tile of a placed row (as top tiles) to every candidate, (N, len(row))."""
        q = torch.stack([self._query_top(p) for p in placed_row], dim=1)
        return (self.top_norm[:, None] - 2.0 * (self.top @ q) + (q ** 2).sum(0)[None, :]).clamp_min_(0)


def greedy_reference(tiles: np.ndarray, grid: tuple[int, int], overlap: int, kernel: np.ndarray, first: int, reuse: bool = False):
    """The thesis's search as written: one eq. 5 evaluation per candidate, in a Python loop.

    Used to check :class:`heliogen.mosaic.build.GreedyMatcher` and as the benchmark's baseline.
    Returns the (gy, gx) array of bank indices.
    """
    gy, gx = grid
    out = np.full((gy, gx), -1, dtype=np.int64)
    used = set()
    for r in range(gy):
        for c in range(gx):
            if r == 0 and c == 0:
                best = first
            else:
                best, best_d = -1, np.inf
                for k in range(len(tiles)):
                    if not reuse and k in used:
                        continue
                    d = -np.inf
                    if c > 0:
                        d = max(d, strip_distance(tiles[out[r, c - 1]], tiles[k], overlap, kernel, "x"))
                    if r > 0:
                        d = max(d, strip_distance(tiles[out[r - 1, c]], tiles[k], overlap, kernel, "y"))
                    if d < best_d:
                        best, best_d = k, d
            out[r, c] = best
            used.add(best)
    return out
