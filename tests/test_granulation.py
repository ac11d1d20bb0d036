import numpy as np
import pytest

from heliogen.data.granulation import AUGMENTATIONS, preprocess_granulation
from heliogen.data.synth import synth_granulation
from heliogen.errors import BadInput


@pytest.fixture(scope="module")
def patch():
    return synth_granulation(1, size=182)


def test_ten_augmentations_share_one_plate_scale(patch):
    samples = preprocess_granulation(patch, 64)
    assert [s.fields["augment"] for s in samples] == list(AUGMENTATIONS)
    assert len(samples) == 10
    side = int(np.floor(182 / np.sqrt(2)))  # 128: the square inscribed in the 45-degree frame
    assert all(s.fields["cdelt"] == pytest.approx(patch.scale.axis1.value * side / 64) for s in samples)
    ident, flipx, flipy, rot90, rot180 = (samples[AUGMENTATIONS.index(k)].image[0] for k in ("identity", "flipx", "flipy", "rot90", "rot180"))
    np.testing.assert_allclose(flipx, ident[:, ::-1], rtol=1e-6)
    np.testing.assert_allclose(flipy, ident[::-1, :], rtol=1e-6)
    np.testing.assert_allclose(rot90, np.rot90(ident), rtol=1e-6)
    np.testing.assert_allclose(rot180, np.rot90(ident, 2), rtol=1e-6)
    # a 45-degree rotation holds no invented corner: its statistics match the original's
    rot45 = samples[AUGMENTATIONS.index("rot45")].image[0]
    assert abs(rot45.mean() - ident.mean()) < 0.02 and abs(rot45.std() - ident.std()) < 0.3 * ident.std()
    assert all(abs(s.image.mean() - 1.0) < 0.05 for s in samples)  # intensity over its mean


def _field(u, v):
    """A smooth intensity pattern (periods of 24 and 30 px and a gentle slope) at offsets (u, v) from the centre."""
    return 1 + 0.2 * np.cos(2 * np.pi * (0.8 * u + 0.6 * v) / 24) + 0.1 * np.sin(2 * np.pi * (u - 0.5 * v) / 30 + 0.7) + 0.002 * u


def test_rotations_match_the_exactly_rotated_field(patch):
    """Every rotated tile is the inscribed crop of the field rotated exactly (evaluated at rotated
    coordinates), area-averaged: pixel by pixel, and so in its mean and spread.

    The right angles must agree to float32 rounding. Cubic-spline interpolation of periods >= 24 px
    errs by about (2 pi / 24)^4 / 384 of the amplitude (~1e-6) inside; the corners of the inscribed
    square reach the rotated frame's edge, where the boundary mode leaves ~1e-4: 5e-4 bounds both.
    """
    import sunpy.map

    n = 182
    v, u = np.mgrid[:n, :n] - (n - 1) / 2  # rows (v) and columns (u) from the centre of rotation
    source = _field(u, v)
    tiles = {s.fields["augment"]: s.image[0].astype(np.float64) for s in preprocess_granulation(sunpy.map.Map(source, patch.meta), 64)}
    side = int(np.floor(n / np.sqrt(2)))
    y0 = (n - side) // 2
    for angle in (0, 45, 90, 135, 180, 225, 270, 315):
        # counter-clockwise as np.rot90 turns an array: the pixel at (u, v) shows the source at R(angle) (u, v)
        t = np.deg2rad(angle)
        rotated = _field(u * np.cos(t) - v * np.sin(t), u * np.sin(t) + v * np.cos(t)) / source.mean()
        expected = rotated[y0 : y0 + side, y0 : y0 + side].reshape(64, 2, 64, 2).mean(axis=(1, 3))  # 128 px -> 64 px
        tile = tiles["identity" if angle == 0 else f"rot{angle}"]
        tol = 1e-6 if angle % 90 == 0 else 5e-4
        np.testing.assert_allclose(tile, expected, rtol=0, atol=tol, err_msg=f"rot{angle}")
        assert abs(tile.std() - expected.std()) < tol and abs(tile.mean() - expected.mean()) < tol


def test_too_small_for_the_tile(patch):
    with pytest.raises(BadInput, match="too small"):
        preprocess_granulation(patch, 256)
