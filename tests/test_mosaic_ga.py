"""Known answers for the GA refinement of a tile's z (granulation thesis sec. 3.4.3) on vectors of a
few numbers: the best distance never gets worse, a planted optimum is found with a fixed seed, the
first population is built as documented (copy, small and considerable variations, random), the
roulette draws parents in proportion to 1/d, children are single-point crossovers, the mutation is
clipped, and the threshold stops the search.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from heliogen.mosaic.refine import GASettings, refine_z


class Recorder:
    """A batch distance that remembers every batch it was given."""

    def __init__(self, fn):
        self.fn, self.batches = fn, []

    def __call__(self, z):
        self.batches.append(np.array(z, copy=True))
        return self.fn(z)


def sq_to(target):
    """A bowl: squared distance of each row of a batch to ``target``."""
    return lambda z: ((np.asarray(z, np.float64) - target) ** 2).sum(1)


def test_ga_settings_shares():
    assert GASettings().counts() == (5, 40, 5)  # 10 % elite, 10 % random of 50
    assert GASettings(population=20, elite=0.25, random=0.15).counts() == (5, 12, 3)
    assert GASettings(population=10, elite=0.01, random=0.0).counts() == (1, 9, 0)  # at least one elite
    assert GASettings(population=4, elite=0.1, random=0.1).counts() == (1, 3, 0)  # round(0.4) random = none


def test_ga_settings_defaults_are_the_documented_ones():
    # the CLI's documented defaults (population 50, 10 generations, mutation 0.1, normalised fitness)
    # and the module's: 10 % elite, 10 % random, no threshold
    s = GASettings()
    assert (s.population, s.generations, s.mutation, s.fitness) == (50, 10, 0.1, "normalised")
    assert (s.elite, s.random, s.threshold) == (0.1, 0.1, None)
    assert (s.small, s.large) == (0.1, 0.5)


@pytest.mark.parametrize("kw", [dict(population=1), dict(population=10, elite=0.6, random=0.6)])
def test_refine_rejects_a_population_too_small(kw):
    with pytest.raises(ValueError, match="^the GA population is too small for its elite and random shares$"):
        refine_z(np.zeros(3), sq_to(0), GASettings(**kw), np.random.default_rng(0))


def test_refine_accepts_the_smallest_populations():
    # two members (one elite, one child), and a population with no children at all
    for s in (GASettings(population=2, generations=3), GASettings(population=10, elite=0.5, random=0.5, generations=3)):
        z, d, hist = refine_z(np.ones(3), sq_to(0), s, np.random.default_rng(0))
        assert len(hist) == 4 and d == hist[-1]


def test_refine_initial_population_as_documented():
    # z0 far from the origin: the copy, the small and the considerable variations lie around z0,
    # the random vectors around 0, each family told apart by its spread
    L = 4000
    z0 = np.full(L, 20.0)
    rec = Recorder(sq_to(0))
    s = GASettings(population=10, random=0.2, small=0.01, large=1.0, generations=0)
    refine_z(z0, rec, s, np.random.default_rng(1))
    (pop,) = rec.batches
    assert pop.shape == (10, L) and pop.dtype == np.float32
    dev = np.std(pop - z0, axis=1)
    kinds = [("copy" if np.all(p == z0) else "random" if abs(p.mean()) < 0.1 and abs(p.std() - 1) < 0.1
              else "small" if abs(sd - 0.01) < 1e-3 else "large" if abs(sd - 1) < 0.1 else "?") for p, sd in zip(pop, dev)]
    # n3 = 2 random, the 7 others split 3 small / 4 considerable
    assert sorted(kinds) == sorted(["copy"] + ["small"] * 3 + ["large"] * 4 + ["random"] * 2)


def test_refine_initial_population_has_one_random_vector_even_with_no_random_share():
    L = 2000
    z0 = np.full(L, 20.0)
    rec = Recorder(sq_to(0))
    refine_z(z0, rec, GASettings(population=6, random=0.0, small=0.0, large=0.0, generations=0), np.random.default_rng(2))
    (pop,) = rec.batches
    copies = [bool(np.all(p == z0)) for p in pop]
    assert sum(copies) == 5 and abs(pop[~np.array(copies)].mean()) < 0.1


def test_refine_default_variation_spreads():
    L = 5000
    z0 = np.zeros(L)
    rec = Recorder(sq_to(0))
    refine_z(z0, rec, GASettings(generations=0), np.random.default_rng(3))
    sd = np.sort(np.std(rec.batches[0] - z0, axis=1))
    # 50 = 1 copy + 22 small (0.1) + 22 considerable (0.5) + 5 random (1)
    assert sd[0] == 0
    np.testing.assert_allclose(sd[1:23], 0.1, rtol=0.05)
    np.testing.assert_allclose(sd[23:45], 0.5, rtol=0.05)
    np.testing.assert_allclose(sd[45:], 1.0, rtol=0.05)


def test_refine_best_distance_never_gets_worse_and_is_returned():
    target = np.array([0.3, -0.2, 0.5, 0.1], dtype=np.float32)
    for seed in range(3):
        z, d, hist = refine_z(np.zeros(4), sq_to(target), GASettings(population=12, generations=15), np.random.default_rng(seed))
        assert len(hist) == 16
        assert all(b <= a for a, b in zip(hist, hist[1:]))
        assert d == hist[-1] == pytest.approx(float(sq_to(target)(z[None])[0]), rel=1e-12)
        assert z.dtype == np.float32 and z.shape == (4,)
        assert hist[-1] < hist[0]


def test_refine_returns_the_best_of_the_last_generation():
    # with one generation the best may come from the new members; it is returned with its distance
    target = np.array([0.3, -0.2, 0.5], dtype=np.float32)
    improved = 0
    for seed in range(10):
        z, d, hist = refine_z(np.zeros(3), sq_to(target), GASettings(population=12, generations=1), np.random.default_rng(seed))
        assert d == hist[1] == pytest.approx(float(sq_to(target)(z[None])[0]), rel=1e-12)
        improved += hist[1] < hist[0]
    assert improved >= 3  # the case above did arise


def test_refine_keeps_z0_unless_something_is_strictly_better():
    # half the candidates tie with z0 and none beats it: the tile keeps its own z
    z0 = np.full(6, -1.0, dtype=np.float32)
    dist = lambda z: np.where(np.asarray(z)[:, 0] < 0, 1.0, 2.0)  # noqa: E731
    for seed in range(5):
        z, d, hist = refine_z(z0, dist, GASettings(population=50, generations=4), np.random.default_rng(seed))
        assert d == 1.0 and hist == [1.0] * 5
        np.testing.assert_array_equal(z, z0)


def test_refine_accepts_half_precision_distances_with_a_perfect_zero():
    # a decoder may return float16 distances; an exact 0 must not turn the roulette into inf / nan
    target = np.array([0.5, -0.5], dtype=np.float32)
    dist = lambda z: np.where(np.all(np.asarray(z) == 0, axis=1), 0.0, sq_to(target)(z)).astype(np.float16)  # noqa: E731
    z, d, hist = refine_z(np.zeros(2), dist, GASettings(population=10, generations=3), np.random.default_rng(0))
    assert d == 0.0 and hist == [0.0] * 4
    np.testing.assert_array_equal(z, 0)


def test_refine_depends_only_on_z0_at_float32():
    # the GA works in float32: a float64 z0 gives the same search as z0 rounded to float32
    z0 = np.random.default_rng(15).standard_normal(5) / 3
    s = GASettings(population=12, generations=3)
    a = refine_z(z0, sq_to(0.1), s, np.random.default_rng(1))
    b = refine_z(z0.astype(np.float32), sq_to(0.1), s, np.random.default_rng(1))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]


def test_refine_finds_a_planted_optimum():
    # a bowl with its bottom at a planted z; the GA starts from 0 and must get close
    target = np.array([0.6, -0.4, 0.2], dtype=np.float32)
    z, d, hist = refine_z(np.zeros(3), sq_to(target), GASettings(population=30, generations=40, mutation=0.05),
                          np.random.default_rng(0))
    assert d < 1e-3 and np.abs(z - target).max() < 0.05
    assert hist[0] > 0.1  # it did have to search


def test_refine_stops_at_the_threshold():
    rec = Recorder(lambda z: np.where(np.all(z == 0, axis=1), 0.5, 2.0))
    z, d, hist = refine_z(np.zeros(3), rec, GASettings(population=8, generations=20, threshold=0.5), np.random.default_rng(0))
    assert hist == [0.5] and d == 0.5 and len(rec.batches) == 1
    np.testing.assert_array_equal(z, 0)
    rec = Recorder(lambda z: np.where(np.all(z == 0, axis=1), 0.5, 2.0))
    _, _, hist = refine_z(np.zeros(3), rec, GASettings(population=8, generations=5, threshold=0.49), np.random.default_rng(0))
    assert len(hist) == 6 and len(rec.batches) == 6


def test_refine_reevaluates_only_the_non_elite():
    rec = Recorder(sq_to(1.0))
    refine_z(np.zeros(5), rec, GASettings(population=20, elite=0.2, random=0.1, generations=3), np.random.default_rng(0))
    assert [len(b) for b in rec.batches] == [20, 16, 16, 16]  # 4 elite carried over with their distance


def test_refine_roulette_prefers_low_distance_and_survives_zero():
    # z0 has distance 0, every other vector 10: with weights 1 / d the roulette picks z0 as both
    # parents for practically every child, so with no mutation every child is z0 again
    L = 6
    z0 = np.full(L, 3.0, dtype=np.float32)
    rec = Recorder(lambda z: np.where(np.all(z == z0, axis=1), 0.0, 10.0))
    s = GASettings(population=20, random=0.0, mutation=0.0, generations=2)
    z, d, hist = refine_z(z0, rec, s, np.random.default_rng(4))
    assert d == 0.0 and hist == [0.0, 0.0, 0.0]
    for batch in rec.batches[1:]:
        assert len(batch) == 18 and np.all(batch == z0)


def test_refine_roulette_is_proportional_to_inverse_distance():
    # with no variation the first population is 5 copies of z0 (distance 1/4) and 5 random vectors
    # (distance 1). Parents are drawn with probability proportional to 1/d, so a parent is a copy of
    # z0 with probability 5*4 / (5*4 + 5*1) = 0.8, and a child (no mutation) equals z0 exactly when
    # both parents are copies: 0.64.
    L = 5
    z0 = np.zeros(L, np.float32)
    s = GASettings(population=10, elite=0.1, random=0.5, small=0.0, large=0.0, mutation=0.0, generations=1)
    assert s.counts() == (1, 4, 5)
    same = []
    for seed in range(200):
        rec = Recorder(lambda z: np.where(np.all(z == 0, axis=1), 0.25, 1.0))
        refine_z(z0, rec, s, np.random.default_rng(seed))
        first, new = rec.batches
        assert np.all(first == 0, axis=1).sum() == 5
        # the 9 new vectors: 4 children and 5 fresh random ones (never all zero)
        same.append(np.all(new == 0, axis=1).sum() / 4)
    assert np.mean(same) == pytest.approx(0.64, abs=0.05)


def test_refine_children_are_single_point_crossovers():
    # with no random share and no mutation, each child is a[:cut] + b[cut:] for two members a, b of
    # the first population and a cut between 1 and L - 1; every such cut occurs
    L = 4
    s = GASettings(population=40, elite=0.05, random=0.0, small=1.0, large=1.0, mutation=0.0, generations=1)
    rec = Recorder(lambda z: 1.0 + (np.asarray(z, np.float64) ** 2).sum(1))
    refine_z(np.zeros(L), rec, s, np.random.default_rng(5))
    parents, children = rec.batches
    assert len(children) == 38
    cuts_seen = set()
    for ch in children:
        head = {cut: np.flatnonzero(np.all(parents[:, :cut] == ch[:cut], axis=1)) for cut in range(1, L)}
        tail = {cut: np.flatnonzero(np.all(parents[:, cut:] == ch[cut:], axis=1)) for cut in range(1, L)}
        fits = [cut for cut in range(1, L) if len(head[cut]) and len(tail[cut])]
        assert fits, "a child that is not a single-point crossover of two members"
        whole = np.flatnonzero(np.all(parents == ch, axis=1))
        if len(whole) == 0:  # two different parents: the cut is determined
            assert len(fits) == 1
            cuts_seen.add(fits[0])
    assert cuts_seen == set(range(1, L))
    # each child draws its own two parents: heads and tails come from many different members
    heads = {int(np.flatnonzero(np.all(parents[:, :1] == ch[:1], axis=1))[0]) for ch in children}
    tails = {int(np.flatnonzero(np.all(parents[:, -1:] == ch[-1:], axis=1))[0]) for ch in children}
    assert len(heads) > 5 and len(tails) > 5


def test_refine_crossover_of_one_gene_vectors():
    z, d, hist = refine_z(np.array([2.0]), sq_to(np.array([0.5])), GASettings(population=10, generations=5), np.random.default_rng(0))
    assert z.shape == (1,) and len(hist) == 6 and d <= hist[0]


def test_refine_fresh_vectors_and_clipped_mutation():
    # z0 (distance ~0) dominates the roulette, so children are z0 plus the mutation; the n3 fresh
    # vectors are standard normal around 0 plus the mutation. The mutation is m * N(0, 1) clipped
    # to [-1, 1], so it never exceeds m and often reaches it.
    L, m = 400, 0.3
    z0 = np.full(L, 50.0, dtype=np.float32)
    rec = Recorder(lambda z: 1e-9 + ((np.asarray(z, np.float64) - 50.0) ** 2).sum(1))
    s = GASettings(population=20, random=0.1, small=0.0, large=0.0, mutation=m, generations=1)
    refine_z(z0, rec, s, np.random.default_rng(6))
    new = rec.batches[1]
    near = np.abs(new - 50.0).max(axis=1) < 5
    assert near.sum() == 16 and (~near).sum() == 2  # n2 children, n3 fresh
    dev = new[near] - 50.0
    assert np.abs(dev).max() <= m * (1 + 1e-4)
    assert np.abs(dev).max() >= m * (1 - 1e-4)  # the clip is reached
    assert dev.min() <= -m * (1 - 1e-4)
    assert np.mean(np.abs(dev) > m * 0.999) == pytest.approx(0.3173, abs=0.03)  # P(|N(0,1)| > 1)
    # fresh: N(0, 1) plus the mutation; a clipped N(0, 1) has variance 2 Phi(1) - 1 - 2 phi(1) + P(|N| > 1) = 0.516
    assert abs(new[~near].mean()) < 0.2 and abs(new[~near].std() - math.sqrt(1 + 0.516 * m * m)) < 0.15
