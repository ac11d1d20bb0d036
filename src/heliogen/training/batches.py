"""Deterministic batches indexed by step, so a resumed run sees exactly the batches it would have.

Global batch ``k`` takes the next ``batch`` indices from a sequence of epoch permutations
(epoch ``e`` shuffled by ``default_rng([seed, e])``); rank ``r`` of ``w`` takes every w-th
of them. Nothing depends on how many steps ran before in this process.
"""

from __future__ import annotations

import numpy as np

__all__ = ["global_batch", "StepBatchSampler", "step_seed"]


def global_batch(n: int, batch: int, step: int, seed: int) -> list[int]:
    """Dataset indices of global batch ``step``."""
    out: list[int] = []
    pos = step * batch
    while len(out) < batch:
        epoch, offset = divmod(pos + len(out), n)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        take = min(n - offset, batch - len(out))
        out.extend(int(i) for i in perm[offset : offset + take])
    return out


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """A seed for the randomness of one step on one rank (noise, timesteps, dropout, flips)."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, dtype=np.uint64)[0] % (2**63))


class StepBatchSampler:
    """Batch sampler yielding this rank's share of global batches ``start .. stop-1``."""

    def __init__(self, n: int, batch: int, start: int, stop: int, seed: int, rank: int = 0, world: int = 1):
        self.n, self.batch, self.start, self.stop, self.seed = n, batch, start, stop, seed
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield global_batch(self.n, self.batch, step, self.seed)[self.rank :: self.world]
