"""GreedyMatcher's contract: what it refuses, the kernel and progress bar it takes, and the GA's
eq. 5 and normalised distances against an independent re-computation."""

import numpy as np
import pytest
import torch

from heliogen.errors import HeliogenError
from heliogen.mosaic import GASettings, GreedyMatcher, gaussian_kernel

S = 8


def tiles(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, S, S)).astype(np.float32)


class LinearGenerator(torch.nn.Module):
    """z (3) -> one S x S tile, linearly: enough to decode candidate z vectors."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.from_numpy(np.random.default_rng(1).normal(size=(3, S * S)).astype(np.float32)))

    def forward(self, z):
        return (z @ self.w).reshape(-1, 1, S, S)


def test_a_bank_without_reuse_needs_a_tile_per_cell():
    t = tiles(6)
    assert len(list(GreedyMatcher(t, (2, 3), 2))) == 2  # exactly enough tiles is fine
    with pytest.raises(HeliogenError, match=r"^the bank has 5 tiles but a 2x3 grid needs 6 without reuse; "
                                            r"pass --reuse or bank more tiles$"):
        GreedyMatcher(t[:5], (2, 3), 2)
    assert len(list(GreedyMatcher(t[:5], (2, 3), 2, reuse=True))) == 2


def test_ga_refinement_needs_both_latents_and_generator():
    t, z = tiles(4), np.zeros((4, 3), np.float32)
    for given in ({"z": z}, {"generator": LinearGenerator()}, {}):
        with pytest.raises(HeliogenError, match=r"^GA refinement needs a bank with latents \(z vectors and generator\)$"):
            GreedyMatcher(t, (2, 2), 2, ga=GASettings(), **given)


def test_a_given_kernel_weights_the_strips_and_the_bar_shows_only_when_asked(capsys):
    t = tiles(9)
    k = np.array([0.0, 1.0])  # overlap 2: only the column nearest the seam counts
    m = GreedyMatcher(t, (1, 2), 2, kernel=k, dtype=np.float64)
    placed = t[0].astype(np.float64)
    got = m.index.left_distances(placed).numpy()
    want = [((placed[:, -2:] - t[j][:, :2].astype(np.float64)) ** 2).sum(axis=0) @ k for j in range(9)]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    capsys.readouterr()
    list(GreedyMatcher(t, (1, 2), 2))
    assert "match" not in capsys.readouterr().err
    list(GreedyMatcher(t, (1, 2), 2, progress=True))
    assert "match" in capsys.readouterr().err


def _strip(a, b, k, axis, normalised):
    d = ((a - b) ** 2).sum(axis=axis) @ k
    if normalised:
        energy = ((a - a.mean()) ** 2).sum(axis=axis) @ k + ((b - b.mean()) ** 2).sum(axis=axis) @ k
        d = d / max(energy, 1e-12)
    return d


@pytest.mark.parametrize("fitness", ["eq5", "normalised"])
@pytest.mark.parametrize("sides", ["left", "top", "both"])
def test_ga_distance_is_the_worse_side_by_hand(fitness, sides):
    rng = np.random.default_rng(3)
    g = LinearGenerator()
    m = GreedyMatcher(tiles(4), (2, 2), 2, z=np.zeros((4, 3), np.float32), generator=g, ga=GASettings(), dtype=np.float64)
    left = rng.normal(2.0, 3.0, size=(S, S)) if sides in ("left", "both") else None
    top = rng.normal(-1.0, 0.5, size=(S, S)) if sides in ("top", "both") else None
    zs = rng.normal(size=(5, 3)).astype(np.float32)
    got = m._ga_distance(left, top, fitness)(zs)
    with torch.no_grad():
        imgs = g(torch.from_numpy(zs))[:, 0].double().numpy()
    k, norm = gaussian_kernel(2), fitness == "normalised"
    for i, img in enumerate(imgs):
        parts = []
        if left is not None:
            parts.append(_strip(left[:, -2:], img[:, :2], k, 0, norm))
        if top is not None:
            parts.append(_strip(top[-2:, :], img[:2, :], k, 1, norm))
        assert got[i] == pytest.approx(max(parts), rel=1e-9)


def test_normalised_distance_of_flat_strips_divides_by_the_floor():
    """Two flat strips have no energy: identical ones are 0 apart, different ones d / 1e-12."""
    g = LinearGenerator()
    with torch.no_grad():
        g.w.zero_()
    m = GreedyMatcher(tiles(4), (2, 2), 2, z=np.zeros((4, 3), np.float32), generator=g, ga=GASettings(), dtype=np.float64)
    z = np.zeros((1, 3), np.float32)  # decodes to a flat zero tile
    assert m._ga_distance(np.zeros((S, S)), None, "normalised")(z)[0] == 0.0
    d = m._ga_distance(np.full((S, S), 0.5), None, "normalised")(z)[0]
    assert d == pytest.approx(0.25 * S * gaussian_kernel(2).sum() / 1e-12, rel=1e-9)


def test_rows_carry_indices_float32_tiles_latents_and_distances(capsys):
    """Each row: bank indices, the tiles as float32, their z (float32) when the bank has them, and
    the eq. 5 distances, 0 for the randomly chosen first tile; the bar counts every tile."""
    t = tiles(12)
    z = np.random.default_rng(2).normal(size=(12, 3))  # float64 in the bank: handed out as float32
    rows = list(GreedyMatcher(t, (2, 3), 2, z=z, progress=True))
    err = capsys.readouterr().err
    assert "match" in err and "6/6" in err and "tile/s" in err
    assert rows[0][3][0] == 0.0 and (rows[0][3][1:] > 0).all() and (rows[1][3] > 0).all()
    for idx, imgs, zs, dists in rows:
        assert imgs.dtype == np.float32 and zs.dtype == np.float32
        np.testing.assert_array_equal(imgs, t[idx])
        np.testing.assert_array_equal(zs, z[idx].astype(np.float32))
    assert all(r[2] is None for r in GreedyMatcher(t, (2, 3), 2))


def test_ga_refines_every_tile_but_the_first():
    g = LinearGenerator()
    z = np.random.default_rng(4).normal(size=(10, 3)).astype(np.float32)
    with torch.no_grad():
        t = g(torch.from_numpy(z))[:, 0].numpy()
    m = GreedyMatcher(t, (3, 2), 2, z=z, generator=g, ga=GASettings(generations=2, population=6), dtype=np.float64)
    rows = list(m)
    assert len(m.ga_history) == 3 * 2 - 1
    for before, after, fit0, fit in m.ga_history:
        assert after <= before + 1e-9 or fit <= fit0  # the GA never leaves a tile worse by its own fitness
    with torch.no_grad():  # a refined tile is its refined z decoded
        np.testing.assert_allclose(rows[2][1][0], g(torch.from_numpy(rows[2][2][:1]))[0, 0].numpy(), rtol=1e-5, atol=1e-6)
