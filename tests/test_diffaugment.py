"""DiffAugment: the statistics each operation must keep or change, computed with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from heliogen.models.augment import DiffAugment, DiffAugmentDraw, apply_diffaugment, draw_diffaugment


def positive_images(n=4, c=1, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g, dtype=torch.float64) + 0.1  # no zeros, all distinct


def test_draws_are_reproducible_with_a_generator_and_in_range():
    a = draw_diffaugment(500, 16, 24, torch.Generator().manual_seed(3))
    b = draw_diffaugment(500, 16, 24, torch.Generator().manual_seed(3))
    c = draw_diffaugment(500, 16, 24, torch.Generator().manual_seed(4))
    for name in ("brightness", "saturation", "contrast", "shift", "cutout_corner"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.brightness, c.brightness)
    assert a.brightness.min() >= -0.5 and a.brightness.max() < 0.5
    assert a.saturation.min() >= 0 and a.saturation.max() < 2
    assert a.contrast.min() >= 0.5 and a.contrast.max() < 1.5
    # translation within round(0.125 * side): 2 rows, 3 columns, every value drawn
    assert set(a.shift[:, 0].tolist()) == {-2, -1, 0, 1, 2}
    assert set(a.shift[:, 1].tolist()) == {-3, -2, -1, 0, 1, 2, 3}
    # cutout of round(0.2 * side) = 3 x 5, always inside the image
    assert a.cutout_size == (3, 5)
    assert a.cutout_corner[:, 0].min() == 0 and a.cutout_corner[:, 0].max() == 16 - 3
    assert a.cutout_corner[:, 1].min() == 0 and a.cutout_corner[:, 1].max() == 24 - 5


def test_translation_keeps_the_pixel_multiset_minus_the_padded_zeros():
    x = positive_images(n=5, h=16, w=12)
    shifts = torch.tensor([[2, -1], [-2, 0], [0, 2], [1, 1], [0, 0]])
    out = apply_diffaugment(x, DiffAugmentDraw(shift=shifts)).numpy()
    xn = x.numpy()
    for i, (dy, dx) in enumerate(shifts.tolist()):
        want = np.zeros_like(xn[i, 0])
        # content moves down by dy and right by dx
        want[max(dy, 0):16 + min(dy, 0), max(dx, 0):12 + min(dx, 0)] = xn[i, 0, max(-dy, 0):16 - max(dy, 0), max(-dx, 0):12 - max(dx, 0)]
        np.testing.assert_array_equal(out[i, 0], want)
        kept = out[i, 0][out[i, 0] != 0]
        assert kept.size == (16 - abs(dy)) * (12 - abs(dx))
        window = xn[i, 0, max(-dy, 0):16 - max(dy, 0), max(-dx, 0):12 - max(dx, 0)]
        np.testing.assert_array_equal(np.sort(kept), np.sort(window.ravel()))


def test_cutout_zeroes_exactly_the_expected_fraction_in_every_channel():
    x = positive_images(n=64, c=3, h=20, w=20)
    draw = draw_diffaugment(64, 20, 20, torch.Generator().manual_seed(1), color=False, translation=0)
    out = apply_diffaugment(x, draw).numpy()
    zero = out == 0
    assert np.all(zero.mean(axis=(2, 3)) == 16 / 400)  # a 4 x 4 square = 0.2^2 of the pixels
    assert np.all(zero == zero[:, :1])  # the same square in every channel
    for i, (r, c) in enumerate(draw.cutout_corner.tolist()):
        assert zero[i, 0, r:r + 4, c:c + 4].all()
    np.testing.assert_array_equal(out[~zero], x.numpy()[~zero])


def test_colour_shifts_the_mean_by_the_brightness_draw_and_scales_the_spread_by_the_contrast():
    x = positive_images(n=6, c=3, h=8, w=8)
    draw = draw_diffaugment(6, 8, 8, torch.Generator().manual_seed(5), translation=0, cutout=0)
    out = apply_diffaugment(x, draw).numpy()
    xn = x.numpy()
    b, s, c = draw.brightness.numpy(), draw.saturation.numpy(), draw.contrast.numpy()
    # saturation keeps each pixel's channel mean and contrast the image mean: only brightness moves it
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)) - xn.mean(axis=(1, 2, 3)), b, atol=1e-6)
    # the whole map, written out: pixel mean p, image mean m
    p = xn.mean(axis=1, keepdims=True)
    m = xn.mean(axis=(1, 2, 3), keepdims=True)
    sat = (xn - p) * s[:, None, None, None] + p + b[:, None, None, None]
    want = (sat - (m + b[:, None, None, None])) * c[:, None, None, None] + m + b[:, None, None, None]
    np.testing.assert_allclose(out, want, atol=1e-6)


def test_brightness_alone_shifts_the_mean_by_the_drawn_amount():
    x = positive_images(n=3, c=1)
    amount = torch.tensor([0.25, -0.4, 0.0])
    out = apply_diffaugment(x, DiffAugmentDraw(brightness=amount, saturation=torch.ones(3), contrast=torch.ones(3)))
    np.testing.assert_allclose((out - x).numpy(), np.broadcast_to(amount.numpy()[:, None, None, None], x.shape), atol=1e-7)


def test_one_draw_applies_identically_to_every_channel_and_twice_over():
    grey = positive_images(n=4, c=1)
    rgb = grey.repeat(1, 3, 1, 1)
    draw = draw_diffaugment(4, 16, 16, torch.Generator().manual_seed(9))
    out = apply_diffaugment(rgb, draw)
    assert torch.equal(out, apply_diffaugment(rgb, draw))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    # saturation does nothing to equal channels, so grey and its RGB copy agree
    torch.testing.assert_close(apply_diffaugment(grey, draw)[:, 0], out[:, 0])


def test_module_is_reproducible_and_passes_gradients_to_kept_pixels_only():
    x = positive_images(n=3).requires_grad_(True)
    aug = DiffAugment(color=False)
    out = aug(x, torch.Generator().manual_seed(2))
    assert torch.equal(out, aug(x, torch.Generator().manual_seed(2)))
    out.sum().backward()
    # without colour every output pixel is a copy of one input pixel or a zero
    kept = (out != 0).sum(dim=(1, 2, 3))
    assert torch.equal(x.grad.sum(dim=(1, 2, 3)), kept.to(x.grad.dtype))
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}


def test_zero_fractions_turn_operations_off():
    x = positive_images(n=2)
    draw = draw_diffaugment(2, 16, 16, color=False, translation=0, cutout=0)
    assert draw.shift is None and draw.cutout_corner is None
    assert torch.equal(apply_diffaugment(x, draw), x)


@pytest.mark.parametrize("side", [8, 16, 32])
def test_translation_limit_rounds_like_the_reference(side):
    draw = draw_diffaugment(400, side, side, torch.Generator().manual_seed(0), color=False, cutout=0)
    assert draw.shift.abs().max().item() == int(side * 0.125 + 0.5)
