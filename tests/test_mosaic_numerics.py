"""Known answers for the mosaic's numeric core: eq. 5 seam costs recomputed with explicit loops on
tiny tiles, a bank with a planted best neighbour, eq. 4 blending weights (sum to one, a constant
image and an image cut into overlapping tiles come back exactly), and the GA's guarantees (the
best distance never gets worse, a planted optimum is found, the population is built as documented).

Everything here is small (8x8 tiles, vectors of a few numbers) so the whole file runs in seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from heliogen.errors import HeliogenError
from heliogen.mosaic.blending import assemble, blend_row, blend_rows, feature_overlap
from heliogen.mosaic.matching import (StripIndex, alpha_weights, check_geometry, gaussian_kernel, greedy_reference, mosaic_side,
                                      strip_distance)
from heliogen.mosaic.refine import GASettings, refine_z

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- helpers (independent re-computations)

def kernel_by_hand(ov, sigma):
    """exp(-(x - c)^2 / (2 sigma^2)) over the columns, c the middle, normalised with a plain loop."""
    c = (ov - 1) / 2
    raw = [math.exp(-((x - c) ** 2) / (2 * sigma * sigma)) for x in range(ov)]
    total = sum(raw)
    return np.array([r / total for r in raw])


def seam_cost_by_hand(left, right, ov, kernel):
    """Eq. 5 with loops: sum_x K_x sum_y (left[y, S - ov + x] - right[y, x])^2."""
    s = left.shape[1]
    total = 0.0
    for x in range(ov):
        col = 0.0
        for y in range(left.shape[0]):
            col += (float(left[y, s - ov + x]) - float(right[y, x])) ** 2
        total += kernel[x] * col
    return total


def mosaic_by_hand(tiles, ov):
    """Eq. 4 in 2-D as a weighted sum: each output pixel is sum over tiles of w_row * w_col * value.

    A tile's weight along one axis is 1 on its own pixels, a_x where it is the earlier tile of an
    overlap and 1 - a_x where it is the later one, a_x = 1 - x / (ov - 1) (0.5 for ov = 1).
    """
    gy, gx, s, _ = tiles.shape
    step = s - ov
    a = [0.5] if ov == 1 else [1 - x / (ov - 1) for x in range(ov)]

    def weight(k, g, p):  # weight of tile k (of g along this axis) at local coordinate p
        w = 1.0
        if k > 0 and p < ov:
            w *= 1 - a[p]
        if k < g - 1 and p >= step:
            w *= a[p - step]
        return w

    h, wd = gy * step + ov, gx * step + ov
    out = np.zeros((h, wd))
    for r in range(gy):
        for c in range(gx):
            for y in range(s):
                for x in range(s):
                    out[r * step + y, c * step + x] += weight(r, gy, y) * weight(c, gx, x) * tiles[r, c, y, x]
    return out


# ----------------------------------------------------------------------------- geometry

def test_mosaic_side_counts_shared_columns_once():
    assert mosaic_side(1, 8, 2) == 8
    assert mosaic_side(3, 8, 2) == 8 + 6 + 6
    assert mosaic_side(4, 16, 3) == 16 + 3 * 13


def test_check_geometry_accepts_the_limits():
    check_geometry((1, 1), 8, 1)
    check_geometry((1, 1), 8, 3)  # 2 * 3 < 8
    check_geometry((2, 5), 9, 4)  # 2 * 4 < 9


@pytest.mark.parametrize("grid", [(0, 1), (1, 0), (-1, 3)])
def test_check_geometry_rejects_an_empty_grid(grid):
    with pytest.raises(HeliogenError) as e:
        check_geometry(grid, 8, 2)
    assert str(e.value) == f"the grid {grid[0]}x{grid[1]} must be at least 1x1"


@pytest.mark.parametrize("size, overlap, most", [(8, 0, 3), (8, 4, 3), (9, 5, 4), (9, -1, 4), (10, 5, 4)])
def test_check_geometry_rejects_an_overlap_that_does_not_fit(size, overlap, most):
    # the largest overlap with 2 * ov < size, worked out by hand
    with pytest.raises(HeliogenError) as e:
        check_geometry((2, 2), size, overlap)
    assert str(e.value) == (f"--overlap {overlap} does not fit {size} px tiles: it must be at least 1 and less than half the tile "
                            f"({most} at most)")
    check_geometry((2, 2), size, most)  # and the stated limit itself is accepted


# ----------------------------------------------------------------------------- eq. 5 kernel and eq. 4 weights

@pytest.mark.parametrize("ov", [1, 2, 3, 6, 7])
def test_gaussian_kernel_default_width_is_a_quarter_overlap(ov):
    np.testing.assert_allclose(gaussian_kernel(ov), kernel_by_hand(ov, ov / 4), rtol=1e-12)


def test_gaussian_kernel_with_an_explicit_width():
    np.testing.assert_allclose(gaussian_kernel(5, sigma=2.0), kernel_by_hand(5, 2.0), rtol=1e-12)
    np.testing.assert_allclose(gaussian_kernel(4, sigma=0.5), kernel_by_hand(4, 0.5), rtol=1e-12)


@pytest.mark.parametrize("ov, expected", [(1, [0.5]), (2, [1.0, 0.0]), (3, [1.0, 0.5, 0.0]), (5, [1, 0.75, 0.5, 0.25, 0])])
def test_alpha_weights_by_hand(ov, expected):
    np.testing.assert_array_equal(alpha_weights(ov), expected)


@pytest.mark.parametrize("ov", [1, 2, 4, 7])
def test_alpha_weights_of_the_two_sides_sum_to_one(ov):
    a = alpha_weights(ov)
    # the left tile's weight at column x equals the right tile's weight mirrored: a_x + a_{ov-1-x} = 1
    np.testing.assert_allclose(a + a[::-1], 1.0, rtol=0, atol=1e-15)
    assert np.all(np.diff(a) <= 0)


# ----------------------------------------------------------------------------- eq. 5 distances

def test_strip_distance_by_hand_both_axes():
    rng = np.random.default_rng(1)
    first, second = rng.standard_normal((8, 8)), rng.standard_normal((8, 8))
    for ov in (1, 2, 3):
        k = gaussian_kernel(ov)
        assert strip_distance(first, second, ov, k) == pytest.approx(seam_cost_by_hand(first, second, ov, k), rel=1e-12)
        assert strip_distance(first, second, ov, k, axis="x") == pytest.approx(seam_cost_by_hand(first, second, ov, k), rel=1e-12)
        # above/below: the rows play the columns' part
        assert strip_distance(first, second, ov, k, axis="y") == pytest.approx(seam_cost_by_hand(first.T, second.T, ov, k), rel=1e-12)


@pytest.mark.parametrize("axis", ["z", "X", None, 0])
def test_strip_distance_rejects_an_unknown_axis(axis):
    # any axis but 'x' or 'y' used to be taken silently as 'x'
    tile = np.zeros((8, 8))
    with pytest.raises(ValueError) as e:
        strip_distance(tile, tile, 2, gaussian_kernel(2), axis=axis)
    assert str(e.value) == f"axis must be 'x' or 'y', not {axis!r}"


def test_strip_distance_of_a_continued_field_is_zero():
    # two tiles cut from one image with a 3-column overlap match exactly there
    img = np.arange(8 * 13, dtype=np.float64).reshape(8, 13) ** 1.5
    assert strip_distance(img[:, :8], img[:, 5:], 3, gaussian_kernel(3)) == 0.0
    assert strip_distance(img[:, :8].T, img[:, 5:].T, 3, gaussian_kernel(3), axis="y") == 0.0


@pytest.mark.parametrize("dtype, torch_dtype", [(np.float64, torch.float64), (np.float32, torch.float32)])
def test_strip_index_distances_equal_eq5_by_hand(dtype, torch_dtype):
    rng = np.random.default_rng(2)
    tiles = rng.standard_normal((5, 8, 8))
    ov = 3
    k = gaussian_kernel(ov)
    # chunk 2 puts the five tiles into three chunks, the last one short
    idx = StripIndex(tiles, ov, k, dtype=dtype, chunk=2)
    assert (idx.n, idx.size, idx.overlap, idx.dtype) == (5, 8, 3, dtype)
    assert idx.left.dtype == torch_dtype and idx.top.dtype == torch_dtype
    tol = 1e-10 if dtype == np.float64 else 1e-4
    placed = rng.standard_normal((8, 8))
    left = idx.left_distances(placed)
    assert left.dtype == torch_dtype
    np.testing.assert_allclose(left.numpy(), [seam_cost_by_hand(placed, t, ov, k) for t in tiles], rtol=tol)
    row = [rng.standard_normal((8, 8)) for _ in range(2)]
    top = idx.top_distances(row)
    assert top.shape == (5, 2)
    want = [[seam_cost_by_hand(p.T, t.T, ov, k) for p in row] for t in tiles]
    np.testing.assert_allclose(top.numpy(), want, rtol=tol)


def test_strip_index_depends_only_on_the_tiles_at_its_precision():
    # a float32 index of a float64 bank is the index of the bank rounded to float32: the matching
    # does not depend on the precision the bank was stored in
    tiles = np.random.default_rng(13).standard_normal((4, 8, 8))
    k = gaussian_kernel(3)
    a = StripIndex(tiles, 3, k, dtype=np.float32)
    b = StripIndex(tiles.astype(np.float32), 3, k, dtype=np.float32)
    assert torch.equal(a.left, b.left) and torch.equal(a.top, b.top)


def test_strip_index_default_is_float32_in_one_chunk():
    rng = np.random.default_rng(3)
    tiles = rng.standard_normal((4, 8, 8))
    k = gaussian_kernel(2)
    idx = StripIndex(tiles, 2, k)
    assert idx.dtype == np.float32 and idx.left.dtype == torch.float32
    placed = tiles[1]
    d = idx.left_distances(placed).numpy()
    np.testing.assert_allclose(d, [seam_cost_by_hand(placed, t, 2, k) for t in tiles], rtol=1e-4)


def test_strip_index_exact_match_is_zero_not_negative():
    # candidates that continue the placed tile exactly have distance 0 (the expanded square is
    # clamped at 0, never below); a shifted copy does not
    img = np.random.default_rng(4).standard_normal((13, 13))
    tiles = np.stack([img[:8, 5:], img[5:, :8], img[:8, :8] + 3.0])
    k = gaussian_kernel(3)
    idx = StripIndex(tiles, 3, k, dtype=np.float64)
    d_left = idx.left_distances(img[:8, :8]).numpy()
    d_top = idx.top_distances([img[:8, :8]]).numpy()[:, 0]
    assert 0 <= d_left[0] < 1e-9 and 0 <= d_top[1] < 1e-9
    assert d_left.min() >= 0 and d_top.min() >= 0
    assert d_left[2] == pytest.approx(seam_cost_by_hand(img[:8, :8], tiles[2], 3, k), rel=1e-10)
    assert d_top[2] == pytest.approx(seam_cost_by_hand(img[:8, :8].T, tiles[2].T, 3, k), rel=1e-10)


# ----------------------------------------------------------------------------- greedy search with a planted answer

def planted_bank():
    """A 2x2 grid cut from one smooth image, plus decoys that match nothing.

    Tiles 0..3 are the image's top-left, top-right, bottom-left and bottom-right 8x8 windows with a
    2 px overlap, so starting at tile 0 the zero-cost neighbours are 1 (right), 2 (below) and 3.
    """
    rng = np.random.default_rng(6)
    y, x = np.mgrid[0:14, 0:14]
    img = np.sin(y / 3.0) + np.cos(x / 2.5) + 0.3 * np.sin((x + y) / 4.0)
    windows = [img[:8, :8], img[:8, 6:], img[6:, :8], img[6:, 6:]]
    decoys = [rng.uniform(-3, 3, (8, 8)) for _ in range(4)]
    return np.stack(windows + decoys)


def test_greedy_reference_finds_the_planted_grid():
    tiles = planted_bank()
    k = gaussian_kernel(2)
    np.testing.assert_array_equal(greedy_reference(tiles, (2, 2), 2, k, first=0), [[0, 1], [2, 3]])
    # shuffled bank: the same answer in the new numbering
    perm = np.array([5, 3, 7, 0, 6, 1, 4, 2])  # new position i holds old tile perm[i]
    inv = np.argsort(perm)
    got = greedy_reference(tiles[perm], (2, 2), 2, k, first=int(inv[0]))
    np.testing.assert_array_equal(got, inv[[[0, 1], [2, 3]]])


def test_greedy_reference_one_row_and_one_column():
    tiles = planted_bank()
    k = gaussian_kernel(2)
    np.testing.assert_array_equal(greedy_reference(tiles, (1, 2), 2, k, first=0), [[0, 1]])
    np.testing.assert_array_equal(greedy_reference(tiles, (2, 1), 2, k, first=0), [[0], [2]])
    np.testing.assert_array_equal(greedy_reference(tiles, (1, 1), 2, k, first=5), [[5]])


def test_greedy_reference_takes_the_worse_of_left_and_top():
    # tiles 0, 1, 2 are flat zeros and fill the first row and column. At cell (1, 1) candidate a
    # matches its left neighbour perfectly and its top neighbour badly; b is mediocre on both.
    # The maximum of the two eq. 5 costs picks b, where the minimum would pick a.
    s, ov = 8, 2
    k = gaussian_kernel(ov)
    zero = np.zeros((s, s))
    a = zero.copy()
    a[:ov, ov:] = 10.0  # top strip far from 0, left strip exactly 0
    b = np.full((s, s), 1.0)
    cost_a = (seam_cost_by_hand(zero, a, ov, k), seam_cost_by_hand(zero.T, a.T, ov, k))
    cost_b = (seam_cost_by_hand(zero, b, ov, k), seam_cost_by_hand(zero.T, b.T, ov, k))
    assert min(cost_a) < min(cost_b) and max(cost_a) > max(cost_b)
    tiles = np.stack([zero, zero, zero, a, b])
    np.testing.assert_array_equal(greedy_reference(tiles, (2, 2), ov, k, first=0), [[0, 1], [2, 4]])


def test_greedy_reference_without_reuse_draws_each_tile_once():
    # a constant bank: every candidate costs the same, so the first unused tile wins each time
    # (ties go to the lowest index, as argmin does in the vectorised matcher)
    tiles = np.ones((6, 8, 8))
    k = gaussian_kernel(2)
    np.testing.assert_array_equal(greedy_reference(tiles, (2, 3), 2, k, first=3), [[3, 0, 1], [2, 4, 5]])


def test_greedy_reference_marks_cells_it_cannot_fill():
    # without reuse a bank of 3 fills 3 cells of a 2x2 grid; the last stays -1 (no tile)
    tiles = np.random.default_rng(12).standard_normal((3, 8, 8))
    got = greedy_reference(tiles, (2, 2), 2, gaussian_kernel(2), first=1)
    assert sorted(got.ravel()[:3].tolist()) == [0, 1, 2] and got[1, 1] == -1


def test_greedy_reference_with_reuse_may_repeat_the_best_tile():
    # tile 0 is flat and continues itself perfectly; the others are noisy
    rng = np.random.default_rng(7)
    tiles = np.concatenate([np.zeros((1, 8, 8)), rng.uniform(1, 2, (4, 8, 8))])
    k = gaussian_kernel(2)
    np.testing.assert_array_equal(greedy_reference(tiles, (2, 2), 2, k, first=0, reuse=True), np.zeros((2, 2), int))
    got = greedy_reference(tiles, (2, 2), 2, k, first=0, reuse=False)
    assert got[0, 0] == 0 and len(set(got.ravel().tolist())) == 4


# ----------------------------------------------------------------------------- eq. 4 blending

def test_blend_row_by_hand():
    ov, s = 3, 8
    rng = np.random.default_rng(8)
    tiles = rng.standard_normal((3, s, s)).astype(np.float32)
    out = blend_row(tiles, ov)
    assert out.shape == (s, 3 * (s - ov) + ov) and out.dtype == np.float32
    np.testing.assert_allclose(out, mosaic_by_hand(tiles[None], ov), rtol=1e-6, atol=1e-6)


def test_blend_row_two_constants_ramp_linearly():
    left, right = np.full((12, 12), 4.0), np.full((12, 12), -2.0)
    out = blend_row([left, right], 5)
    assert out.shape == (12, 19)
    # the five shared columns go from all-left to all-right in equal steps: 4a - 2(1 - a), a = 1 ... 0
    np.testing.assert_array_equal(out[:, 7:12], np.tile([4.0, 2.5, 1.0, -0.5, -2.0], (12, 1)))
    np.testing.assert_array_equal(out[:, :7], 4.0)
    np.testing.assert_array_equal(out[:, 12:], -2.0)


def test_blend_row_keeps_unshared_pixels_bit_for_bit():
    # pixels outside any overlap are the tile's own values; with alpha in thirds (ov = 4) any
    # blending of a pixel with itself would round some of them
    rng = np.random.default_rng(9)
    t, u = rng.standard_normal((2, 10, 10)).astype(np.float32)
    np.testing.assert_array_equal(blend_row([t], 4), t)
    out = blend_row([t, u], 4)
    np.testing.assert_array_equal(out[:, :6], t[:, :6])
    np.testing.assert_array_equal(out[:, 10:], u[:, 4:])


def test_blend_row_depends_only_on_the_tiles_at_float32():
    # the output is float32; float64 tiles give the same mosaic as the tiles rounded to float32
    tiles = np.random.default_rng(14).standard_normal((3, 10, 10))
    np.testing.assert_array_equal(blend_row(tiles, 4), blend_row(tiles.astype(np.float32), 4))


def test_blend_rows_works_in_place_by_hand():
    ov = 3
    upper = np.full((ov, 5), 6.0, dtype=np.float32)
    strip = np.zeros((7, 5), dtype=np.float32)
    strip[ov:] = 9.0
    got = blend_rows(upper, strip, ov)
    assert got is strip
    np.testing.assert_array_equal(strip[:ov], np.array([[6.0], [3.0], [0.0]]) * np.ones((1, 5)))
    np.testing.assert_array_equal(strip[ov:], 9.0)


@pytest.mark.parametrize("ov", [1, 2, 3])
def test_assemble_reproduces_a_constant_image_exactly(ov):
    # alpha 1/2 or 1, 1/2, 0: the weights sum to one exactly, so a constant comes back bit for bit
    tiles = np.full((3, 2, 8, 8), 0.75, dtype=np.float32)
    out = assemble(tiles, ov)
    assert out.shape == (mosaic_side(3, 8, ov), mosaic_side(2, 8, ov))
    np.testing.assert_array_equal(out, np.float32(0.75))


def test_assemble_reproduces_a_constant_image_with_thirds():
    tiles = np.full((2, 3, 10, 10), 0.7, dtype=np.float32)
    np.testing.assert_allclose(assemble(tiles, 4), np.float32(0.7), rtol=3e-7, atol=0)


def test_assemble_of_tiles_cut_from_an_image_gives_the_image_back():
    ov, s, step = 2, 8, 6
    img = np.random.default_rng(10).standard_normal((3 * step + ov, 2 * step + ov)).astype(np.float32)
    tiles = np.stack([np.stack([img[r * step:r * step + s, c * step:c * step + s] for c in range(2)]) for r in range(3)])
    np.testing.assert_allclose(assemble(tiles, ov), img, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("grid, ov", [((2, 3), 2), ((3, 2), 3), ((1, 2), 1), ((2, 1), 2)])
def test_assemble_is_the_2d_weighted_sum_by_hand(grid, ov):
    rng = np.random.default_rng(11)
    tiles = rng.standard_normal((*grid, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(assemble(tiles, ov), mosaic_by_hand(tiles, ov), rtol=1e-5, atol=1e-5)


def test_feature_overlap_scales_and_rounds():
    assert feature_overlap(8, 64, 16) == 2  # 8 * 16 / 64
    assert feature_overlap(10, 128, 64) == 5
    assert feature_overlap(10, 128, 16) == 1  # 1.25
    assert feature_overlap(3, 64, 16) == 1  # 0.75 rounds up to the minimum
    assert feature_overlap(14, 64, 16) == 4  # 3.5 rounds to even


@pytest.mark.parametrize("overlap, size, res", [(1, 64, 16), (2, 128, 16)])
def test_feature_overlap_below_one_feature_pixel_is_an_error(overlap, size, res):
    with pytest.raises(HeliogenError) as e:
        feature_overlap(overlap, size, res)
    assert str(e.value) == (f"the {overlap} px overlap is less than one feature pixel at the {res} px layer; "
                            f"choose a finer --layer")


# ----------------------------------------------------------------------------- GA refinement

class Recorder:
    """A batch distance that remembers every batch it was given."""

    def __init__(self, fn):
        self.fn, self.batches = fn, []

    def __call__(self, z):
        self.batches.append(np.array(z, copy=True))
        return self.fn(z)


def sq_to(target):
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
    assert abs(new[~near].mean()) < 0.2 and abs(new[~near].std() - math.sqrt(1 + 0.516 * m * m)) < 0.15
