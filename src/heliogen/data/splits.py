"""Train/val/test splits by contiguous time blocks.

Consecutive solar images are strongly correlated (the Sun rotates once in ~27 days and
active regions live for weeks), so random splits leak. Here the time-sorted samples are
cut into contiguous blocks; whole blocks are dealt to the splits by a seeded shuffle in
proportion to the requested fractions, and samples within ``gap`` of a block from another
split are dropped.
"""

from __future__ import annotations

import numpy as np

from ..errors import HeliogenError

__all__ = ["split_by_time", "SPLITS"]

SPLITS = ("train", "val", "test")


def split_by_time(times, fractions=(0.8, 0.1, 0.1), n_blocks: int = 20, seed: int = 0, gap_days: float = 0.0) -> dict:
    """Indices of each split, by contiguous time blocks.

    Parameters
    ----------
    times : astropy.time.Time or sequence of datetime-like
        One time per sample.
    fractions : (train, val, test)
        Target fractions; they must sum to 1. A split with a positive fraction gets at
        least one block when there are enough blocks.
    n_blocks : int
        Number of contiguous blocks of equal duration (empty blocks are dropped).
    seed : int
        Seed of the block shuffle; the result is deterministic.
    gap_days : float
        Drop samples closer than this to a sample of another split.

    Returns
    -------
    dict
        ``{"train": idx, "val": idx, "test": idx}``, sorted int arrays that partition (less
        the gaps) ``range(len(times))``.
    """
    import pandas as pd
    from astropy.time import Time

    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise HeliogenError(f"split fractions must be three non-negative numbers summing to 1, got {fractions.tolist()}")
    if n_blocks < 1:
        raise HeliogenError("n_blocks must be at least 1")
    t = times.unix if isinstance(times, Time) else pd.to_datetime(pd.Index(times)).asi8 / 1e9
    t = np.asarray(t, dtype=float)
    n = len(t)
    if n == 0:
        return {name: np.array([], dtype=np.int64) for name in SPLITS}
    edges = np.linspace(t.min(), t.max(), n_blocks + 1)
    block = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n_blocks - 1)
    used = np.unique(block)
    order = np.random.default_rng(seed).permutation(used)
    # Every wanted split gets one block first; then each block goes to the split furthest
    # below its target share of samples.
    counts = np.bincount(block, minlength=n_blocks)
    wanted = [k for k in range(3) if fractions[k] > 0] if len(order) >= (fractions > 0).sum() else []
    assigned = {}
    got = np.zeros(3)
    for i, b in enumerate(order):
        if i < len(wanted):
            k = wanted[i]
        else:
            need = fractions * (got.sum() + counts[b]) - got
            need[fractions == 0] = -np.inf
            k = int(np.argmax(need))
        assigned[b] = k
        got[k] += counts[b]
    which = np.array([assigned[b] for b in block])
    keep = np.ones(n, dtype=bool)
    if gap_days > 0:
        idx = np.argsort(t)
        ts, ws = t[idx], which[idx]
        for i in range(n):
            lo = np.searchsorted(ts, ts[i] - gap_days * 86400, side="left")
            hi = np.searchsorted(ts, ts[i] + gap_days * 86400, side="right")
            if (ws[lo:hi] != ws[i]).any():
                keep[idx[i]] = False
    return {name: np.nonzero((which == k) & keep)[0] for k, name in enumerate(SPLITS)}
