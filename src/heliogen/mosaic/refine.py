"""Genetic refinement of a tile's latent vector z (granulation thesis sec. 3.4.3).

Per generation, with population N = N1 + N2 + N3:

1. the population starts from a copy of the tile's z, small and considerable variations of
   it, and random z vectors;
2. fitness: each z is decoded and its distance to the neighbours it must match is measured
   (lower distance = fitter; roulette weights are 1 / distance). ``fitness="eq5"`` is the
   thesis's eq. 5; ``"normalised"`` (the default) divides eq. 5 by the Gaussian-weighted
   energy of the two strips about their means, so a candidate cannot win by being flat along
   its edges (with plain eq. 5 the GA drifts to low-contrast edges, which lowers the distance
   but not the visible seam: benchmarks/bench_seams.py measures both);
3. the best N1 (10 %) are kept unchanged (elite);
4. N2 children come from single-point crossover of two parents chosen by fitness roulette;
5. N3 (10 %) are new random z vectors;
6. every non-elite z is mutated by Gaussian noise clipped to [-1, 1] (scaled by ``mutation``);
7. repeat until a distance at or below ``threshold`` or ``generations`` generations.

The elite is not mutated, so the best distance never gets worse from one generation to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["GASettings", "refine_z"]


@dataclass
class GASettings:
    population: int = 50
    elite: float = 0.1
    random: float = 0.1
    generations: int = 10
    threshold: float | None = None  # stop once the best distance is at or below this
    small: float = 0.1  # std of the "small variations" of the initial population
    large: float = 0.5  # std of the "considerable variations"
    mutation: float = 0.1  # scale of the clipped N(0, 1) mutation noise
    fitness: str = "normalised"  # "eq5" (the thesis's distance) or "normalised" (eq. 5 / strip energy)

    def counts(self) -> tuple[int, int, int]:
        """(N1 elite, N2 crossover, N3 random)."""
        n1 = max(1, int(round(self.elite * self.population)))
        n3 = max(0, int(round(self.random * self.population)))
        return n1, self.population - n1 - n3, n3


def refine_z(z0: np.ndarray, distance: Callable[[np.ndarray], np.ndarray], settings: GASettings, rng: np.random.Generator):
    """Search z near ``z0`` that lowers ``distance`` (a batch function (P, L) -> (P,)).

    Returns ``(best_z, best_distance, history)`` with ``history`` the best distance after each
    generation (generation 0 is the initial population).
    """
    s = settings
    n1, n2, n3 = s.counts()
    if n2 < 0 or s.population < 2:
        raise ValueError("the GA population is too small for its elite and random shares")
    z0 = np.asarray(z0, dtype=np.float32)
    L = z0.size
    # 1. initial population: copy, small variations, considerable variations, random
    n_rand0 = max(n3, 1)
    n_var = s.population - 1 - n_rand0
    n_small = n_var // 2
    pop = np.concatenate([z0[None],
                          z0 + s.small * rng.standard_normal((n_small, L)),
                          z0 + s.large * rng.standard_normal((n_var - n_small, L)),
                          rng.standard_normal((n_rand0, L))]).astype(np.float32)
    fit = np.asarray(distance(pop), dtype=np.float64)
    history = [float(fit.min())]
    for _ in range(s.generations):
        if s.threshold is not None and fit.min() <= s.threshold:
            break
        order = np.argsort(fit, kind="stable")
        elite, elite_fit = pop[order[:n1]], fit[order[:n1]]
        w = 1.0 / np.maximum(fit, 1e-12)  # roulette: probability proportional to fitness 1/d
        w /= w.sum()
        pa, pb = rng.choice(len(pop), size=n2, p=w), rng.choice(len(pop), size=n2, p=w)
        cut = rng.integers(1, L, size=n2) if L > 1 else np.ones(n2, dtype=int)
        mask = np.arange(L)[None, :] < cut[:, None]  # single-point crossover
        children = np.where(mask, pop[pa], pop[pb])
        fresh = rng.standard_normal((n3, L)).astype(np.float32)
        new = np.concatenate([children, fresh])
        new = new + s.mutation * np.clip(rng.standard_normal(new.shape), -1.0, 1.0)
        new = new.astype(np.float32)
        new_fit = np.asarray(distance(new), dtype=np.float64)
        pop = np.concatenate([elite, new])
        fit = np.concatenate([elite_fit, new_fit])
        history.append(float(fit.min()))
    best = int(np.argmin(fit))
    return pop[best].copy(), float(fit[best]), history
