"""The greedy tile search of ``heliogen mosaic build`` (granulation thesis sec. 3.4, eq. 5).

Row-major: each tile minimises the max of its distances to the left and top neighbours, with an
exact branch-and-bound walk over the candidates, and is optionally refined by the GA.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import HeliogenError
from .matching import StripIndex, gaussian_kernel
from .refine import GASettings, refine_z

__all__ = ["GreedyMatcher"]


class GreedyMatcher:
    """Row-major greedy search (eq. 5, max of left and top distances), optionally with GA refinement.

    Iterating yields, per tile row, ``(indices (gx,), tiles (gx, S, S) float32, z (gx, L) or None,
    distances (gx,))``, where refined tiles replace bank tiles.
    """

    def __init__(self, tiles: np.ndarray, grid: tuple[int, int], overlap: int, seed: int = 0, reuse: bool = False,
                 kernel: np.ndarray | None = None, z: np.ndarray | None = None, generator=None, ga: GASettings | None = None,
                 dtype=np.float32, progress: bool = False):
        self.tiles, self.grid, self.overlap = tiles, grid, overlap
        self.kernel = gaussian_kernel(overlap) if kernel is None else kernel
        self.seed, self.reuse, self.z, self.generator, self.ga = seed, reuse, z, generator, ga
        self.progress = progress
        n = len(tiles)
        if not reuse and n < grid[0] * grid[1]:
            raise HeliogenError(f"the bank has {n} tiles but a {grid[0]}x{grid[1]} grid needs {grid[0] * grid[1]} without reuse; pass --reuse or bank more tiles")
        if ga is not None and (z is None or generator is None):
            raise HeliogenError("GA refinement needs a bank with latents (z vectors and generator)")
        self.index = StripIndex(tiles, overlap, self.kernel, dtype=dtype)
        self.ga_history: list[tuple[float, float]] = []

    def _ga_distance(self, left, top, fitness: str = "eq5"):
        """The GA's distance of candidate z vectors to the left and top neighbours (max of the two).

        ``eq5``: the Gaussian-weighted squared difference of the overlap strips (eq. 5).
        ``normalised``: eq. 5 over the strips' Gaussian-weighted energy about their means
        (0 for identical strips, about 1 for unrelated ones, whatever their contrast).
        """
        g, ov, k = self.generator, self.overlap, self.kernel

        def strip_distance(a, b, axis):
            d = ((a - b) ** 2).sum(axis=axis) @ k
            if fitness == "normalised":
                energy = (((a - a.mean(axis=(1, 2), keepdims=True)) ** 2).sum(axis=axis) @ k
                          + ((b - b.mean(axis=(1, 2), keepdims=True)) ** 2).sum(axis=axis) @ k)
                d = d / np.maximum(energy, 1e-12)
            return d

        @torch.no_grad()
        def distance(zs: np.ndarray) -> np.ndarray:
            imgs = torch.cat([g(torch.as_tensor(zs[i:i + 64])) for i in range(0, len(zs), 64)])[:, 0].double().numpy()
            d = np.full(len(zs), -np.inf)
            if left is not None:
                d = np.maximum(d, strip_distance(left[None, :, -ov:], imgs[:, :, :ov], 1))
            if top is not None:
                d = np.maximum(d, strip_distance(top[None, -ov:, :], imgs[:, :ov, :], 2))
            return d
        return distance

    def _best_both(self, left_tile, top_col, used, chunk: int = 256):
        """argmin over candidates of max(d_left, d_top), exactly, without computing every d_left.

        Branch and bound: max(d_left, d_top) >= d_top, so walking the candidates in increasing
        d_top order, no candidate after the first with d_top >= the best max found so far can
        win. Ties go to the lowest index, as in the exhaustive search, whatever the order of
        equal d_top. The walk almost always ends inside the ``chunk`` smallest d_top, so those
        come from a partial sort (topk); only a walk that gets past them sorts every candidate.
        """
        q = self.index._query_left(left_tile)
        qq = q.dot(q)
        first = torch.topk(top_col, min(chunk, len(top_col)), largest=False, sorted=True).indices
        best_k, best_d, done = self._bound_walk(q, qq, top_col, first, used, chunk)
        if not done and len(first) < len(top_col):
            best_k, best_d, _ = self._bound_walk(q, qq, top_col, torch.argsort(top_col, stable=True), used, chunk)
        return best_k, best_d

    def _bound_walk(self, q, qq, top_col, order, used, chunk):
        """The branch-and-bound walk over ``order``; ``done`` says the bound was reached."""
        best_d, best_k = float("inf"), -1
        for i in range(0, len(order), chunk):
            cand = order[i:i + chunk]
            dt = top_col[cand]
            if float(dt[0]) > best_d:
                return best_k, best_d, True
            dl = (self.index.left_norm[cand] - 2.0 * (self.index.left[cand] @ q) + qq).clamp_min_(0)
            d = torch.maximum(dl, dt)
            if not self.reuse:
                d = d.masked_fill(used[cand], float("inf"))
            m = float(d.min())
            if m < best_d or (m == best_d and m < float("inf")):
                k = int(cand[d == m].min())
                if m < best_d or k < best_k:
                    best_d, best_k = m, k
        # the last candidate examined bounds the rest only when it was the last of all
        return best_k, best_d, len(order) == len(top_col) or float(top_col[order[-1]]) > best_d

    def __iter__(self):
        from tqdm.auto import tqdm

        gy, gx = self.grid
        n = len(self.tiles)
        rng = np.random.default_rng(self.seed)
        used = torch.zeros(n, dtype=torch.bool)
        prev = None
        bar = tqdm(total=gy * gx, desc="match", unit="tile", disable=not self.progress)
        for r in range(gy):
            top_d = self.index.top_distances(prev) if r > 0 else None
            idx, imgs, zs, dists = [], [], [], []
            for c in range(gx):
                if r == 0 and c == 0:
                    k, dist = int(rng.integers(n)), 0.0  # the thesis: "the first tile is chosen randomly"
                elif r > 0 and c > 0:
                    k, dist = self._best_both(imgs[-1], top_d[:, c].contiguous(), used)
                else:
                    d = self.index.left_distances(imgs[-1]) if c > 0 else top_d[:, c]
                    if not self.reuse:
                        d = d.masked_fill(used, float("inf"))
                    k = int(torch.argmin(d))
                    dist = float(d[k])
                if not self.reuse:
                    used[k] = True
                img = np.asarray(self.tiles[k], dtype=np.float32)
                z = None if self.z is None else np.asarray(self.z[k], dtype=np.float32)
                if self.ga is not None and (r > 0 or c > 0):
                    left = np.asarray(imgs[-1], np.float64) if c > 0 else None
                    top = np.asarray(prev[c], np.float64) if r > 0 else None
                    fitness = self._ga_distance(left, top, self.ga.fitness)
                    fit0 = float(fitness(z[None])[0])
                    z, fit, _ = refine_z(z, fitness, self.ga, np.random.default_rng([self.seed, r, c]))
                    with torch.no_grad():
                        img = self.generator(torch.as_tensor(z[None]))[0, 0].numpy()
                    best = float(self._ga_distance(left, top)(z[None])[0])  # eq. 5 of the refined tile, for the record
                    self.ga_history.append((dist, best, fit0, fit))
                    dist = best
                idx.append(k)
                imgs.append(img)
                zs.append(z)
                dists.append(dist)
                bar.update(1)
            prev = imgs
            yield np.array(idx), np.stack(imgs), (None if zs[0] is None else np.stack(zs)), np.array(dists)
        bar.close()
