"""Known answers for the mosaic's matching and blending: eq. 5 seam costs recomputed with explicit
loops on tiny tiles, a bank with a planted best neighbour, eq. 4 blending weights (they sum to one;
a constant image and an image cut into overlapping tiles come back exactly). The GA has its own
file, tests/test_mosaic_ga.py.

Everything here is small (8x8 tiles) so the whole file runs in seconds.
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
