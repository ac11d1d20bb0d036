"""ADA: each augmentation against an independent numpy version, p = 0 / p = 1 behaviour, seeded
reproducibility, and the controller's p update rule, clipping and exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from heliogen.errors import HeliogenError
from heliogen.models.augment.ada import AUGMENTATIONS, AdaController, AdaptiveAugment
from heliogen.models.stylegan2.discriminator import StyleGAN2Discriminator

torch.set_num_threads(1)


def only(name, p=1.0, **kw):
    """An AdaptiveAugment with just ``name`` enabled."""
    return AdaptiveAugment(p, **{a: a == name for a in AUGMENTATIONS}, **kw)


def images(n=6, c=1, size=16, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, c, size, size)).astype(np.float32))


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_p_zero_is_exactly_the_identity():
    x = images(8, 2)
    aug = AdaptiveAugment(0.0)
    for seed in range(3):
        assert torch.equal(aug(x, gen(seed)), x)
    params = aug.draw(8, 16, 16, gen(0))
    assert not params["xflip"].any() and (params["rot90"] == 0).all() and (params["translate"] == 0).all()
    assert (params["scale"] == 1).all() and (params["brightness"] == 0).all() and (params["contrast"] == 1).all()


def test_p_one_transforms_every_sample():
    x = images(16)
    out = AdaptiveAugment(1.0)(x, gen(1))
    assert all(not torch.equal(out[i], x[i]) for i in range(16))
    params = AdaptiveAugment(1.0).draw(16, 16, 16, gen(1))
    assert params["xflip"].all() and (params["rot90"] > 0).all()
    assert (params["scale"] != 1).all() and (params["brightness"] != 0).all() and (params["contrast"] != 1).all()


@pytest.mark.parametrize("name", ["xflip", "rot90", "scale", "brightness", "contrast"])
def test_each_augmentation_alone_changes_every_sample_at_p_one(name):
    x = images(8)
    out = only(name)(x, gen(2))
    assert all(not torch.equal(out[i], x[i]) for i in range(8))


def test_probability_is_per_sample_and_switches_disable():
    n, p = 4000, 0.3
    params = AdaptiveAugment(p, contrast=False).draw(n, 32, 32, gen(3))
    for frac in (params["xflip"].float().mean(), (params["rot90"] > 0).float().mean(),
                 (params["brightness"] != 0).float().mean(), (params["scale"] != 1).float().mean()):
        assert abs(float(frac) - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert (params["contrast"] == 1).all()
    # the augmentations are drawn independently of each other
    both = (params["xflip"] & (params["brightness"] != 0)).float().mean()
    assert abs(float(both) - p * p) < 5 * np.sqrt(p * p * (1 - p * p) / n)


def test_xflip_matches_numpy_and_keeps_the_pixels():
    x = images(5, c=2)
    out = only("xflip")(x, gen(0)).numpy()
    np.testing.assert_array_equal(out, x.numpy()[:, :, :, ::-1])
    for i in range(5):
        np.testing.assert_array_equal(np.sort(out[i], axis=None), np.sort(x[i].numpy(), axis=None))


def test_rot90_matches_numpy_and_keeps_the_pixels():
    x = images(12)
    aug = only("rot90")
    params = aug.draw(12, 16, 16, gen(4))
    out = aug.apply(x, params).numpy()
    ks = params["rot90"].tolist()
    assert set(ks) == {1, 2, 3}
    for i, k in enumerate(ks):
        np.testing.assert_array_equal(out[i, 0], np.rot90(x[i, 0].numpy(), k))
        np.testing.assert_array_equal(np.sort(out[i], axis=None), np.sort(x[i].numpy(), axis=None))


def test_rot90_needs_square_images():
    with pytest.raises(HeliogenError, match="square"):
        only("rot90")(torch.zeros(2, 1, 8, 16), gen(0))


def test_translate_matches_numpy_reflect_padding():
    x = images(10, size=24)
    aug = only("translate")
    params = aug.draw(10, 24, 24, gen(5))
    shifts = params["translate"].numpy()
    assert np.abs(shifts).max() <= round(0.125 * 24) and (shifts != 0).any()
    out = aug.apply(x, params).numpy()
    pad = 3
    for i, (tx, ty) in enumerate(shifts):
        padded = np.pad(x[i, 0].numpy(), pad, mode="reflect")
        expected = padded[pad - ty:pad - ty + 24, pad - tx:pad - tx + 24]
        np.testing.assert_array_equal(out[i, 0], expected)


def test_brightness_shifts_the_mean_by_the_drawn_amount():
    x = images(8)
    aug = only("brightness")
    params = aug.draw(8, 16, 16, gen(6))
    out = aug.apply(x, params)
    shift = out.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))
    assert torch.allclose(shift, params["brightness"], atol=1e-5)
    assert torch.allclose(out.std(dim=(1, 2, 3)), x.std(dim=(1, 2, 3)), atol=1e-5)
    assert 0.1 < float(params["brightness"].std()) < 0.4  # drawn with std 0.2


def test_contrast_scales_deviations_about_the_mean():
    x = images(8, c=2) + 3.0
    aug = only("contrast")
    params = aug.draw(8, 16, 16, gen(7))
    out = aug.apply(x, params)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5)
    assert torch.allclose(out.std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3)), params["contrast"], rtol=1e-5)


def test_scale_zooms_a_ramp_about_the_centre():
    # a linear ramp stays linear under bilinear resampling: output(j) = c + (j - c) / s, c = (W - 1) / 2
    w = 32
    ramp = torch.arange(w, dtype=torch.float32).expand(1, 1, w, w).repeat(2, 1, 1, 1)
    params = only("scale").draw(2, w, w, gen(0))
    params["scale"] = torch.tensor([1.25, 0.8])
    out = only("scale").apply(ramp, params)
    c = (w - 1) / 2
    j = np.arange(w)
    for i, s in enumerate([1.25, 0.8]):
        src = c + (j - c) / s
        inside = (src >= 0) & (src <= w - 1)
        np.testing.assert_allclose(out[i, 0, 5].numpy()[inside], src[inside], atol=1e-4)
        # constant along y: an isotropic zoom of a pattern constant in y stays constant in y
        assert torch.allclose(out[i, 0], out[i, 0, :1].expand(w, w), atol=1e-5)
    assert inside.sum() < w  # the 0.8 zoom-out reached beyond the edge, where it reflects


def test_seeded_draws_are_reproducible():
    x = images(6)
    aug = AdaptiveAugment(0.5)
    assert torch.equal(aug(x, gen(11)), aug(x, gen(11)))
    assert not torch.equal(aug(x, gen(11)), aug(x, gen(12)))
    # the number of draws does not depend on p: a later draw is the same whatever p was
    g1, g2 = gen(13), gen(13)
    AdaptiveAugment(0.0).draw(6, 16, 16, g1)
    AdaptiveAugment(1.0, contrast=False).draw(6, 16, 16, g2)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_gradients_pass_through_the_augmentations():
    # G is trained through the augmented fakes, so every augmentation must be differentiable
    x = images(6).requires_grad_()
    AdaptiveAugment(1.0)(x, gen(14)).square().sum().backward()
    assert (x.grad.flatten(1).abs().sum(1) > 0).all()


def test_bad_probability():
    with pytest.raises(HeliogenError, match=r"p=1.5 must lie in \[0, 1\]"):
        AdaptiveAugment(1.5)
    with pytest.raises(HeliogenError, match=r"p=-0.1"):
        AdaptiveAugment().set_p(-0.1)


def expected_ps(start, rts, target, images_per_update, ada_kimg):
    """p after each adjustment, by the ADA formula written out."""
    ps, p = [], start
    for rt in rts:
        p += np.sign(rt - target) * images_per_update / (ada_kimg * 1000)
        p = min(1.0, max(0.0, p))
        ps.append(p)
    return ps


def test_p_rises_when_d_overfits_with_the_exact_step_and_clips_at_one():
    ctrl = AdaController(target=0.6, ada_kimg=0.1, interval=4)
    got = [ctrl.step(torch.full((8, 1), 2.5)) for _ in range(20)]
    # p only moves every 4th minibatch, by 8 * 4 / 100 = 0.32
    assert got[:3] == [0.0, 0.0, 0.0] and got[3] == pytest.approx(0.32)
    updates = got[3::4]
    assert updates == pytest.approx(expected_ps(0.0, [1.0] * 5, 0.6, 32, 0.1))
    assert updates[-1] == 1.0 and ctrl.rt == 1.0


def test_p_falls_when_d_does_not_overfit_and_clips_at_zero():
    ctrl = AdaController(target=0.6, ada_kimg=0.2, interval=2, p=0.5)
    got = [ctrl.step(-torch.rand(5) - 0.1) for _ in range(10)]
    updates = got[1::2]
    assert updates == pytest.approx(expected_ps(0.5, [-1.0] * 5, 0.6, 10, 0.2))
    assert updates[0] == pytest.approx(0.45) and updates[-1] == pytest.approx(0.25)
    ctrl = AdaController(ada_kimg=0.001, interval=1, p=0.5)
    assert ctrl.step(-torch.ones(4)) == 0.0


def test_r_t_is_the_mean_sign_over_the_interval():
    # signs: 3 of 4 positive (r_t = 0.5) then all positive (1.0): the interval mean is 0.75 > 0.6
    ctrl = AdaController(target=0.6, ada_kimg=1.0, interval=2)
    ctrl.step(torch.tensor([1.0, 2.0, 3.0, -1.0]))
    assert ctrl.step(torch.ones(4)) == pytest.approx(8 / 1000) and ctrl.rt == 0.75
    # exactly on target: no change (sign(0) = 0); a zero logit counts as sign 0
    ctrl = AdaController(target=0.25, ada_kimg=1.0, interval=1, p=0.3)
    assert ctrl.step(torch.tensor([1.0, 4.0, -1.0, 0.0])) == 0.3 and ctrl.rt == 0.25
    assert ctrl.step(torch.tensor([1.0, 4.0, -1.0, 1.0])) == pytest.approx(0.304)


def test_reduce_sees_the_statistics_of_all_ranks():
    # a reduce that sums over two ranks with the same batch doubles the images per adjustment
    ctrl = AdaController(ada_kimg=1.0, interval=1)
    assert ctrl.step(torch.ones(10), reduce=lambda t: t * 2) == pytest.approx(20 / 1000)


def test_controller_state_round_trips_for_exact_resume():
    # intervals of 3 minibatches: two overfitting (all positive), then one not (all negative), ...
    batches = [torch.full((8,), 1.0 if (i // 3) % 3 != 2 else -1.0) for i in range(23)]
    a = AdaController(target=0.6, ada_kimg=0.2, interval=3, p=0.5)
    for b in batches[:10]:  # stop in the middle of an interval
        a.step(b)
    state = json.loads(json.dumps(a.state_dict()))
    assert state["steps_since_update"] == 1 and state["count"] == 8
    b = AdaController()
    b.load_state_dict(state)
    assert b.state_dict() == a.state_dict()
    rest_a = [a.step(x) for x in batches[10:]]
    rest_b = [b.step(x) for x in batches[10:]]
    assert rest_a == rest_b and np.any(np.diff(rest_a) > 0) and np.any(np.diff(rest_a) < 0)


def test_bad_controller_settings():
    with pytest.raises(HeliogenError, match="ada_kimg"):
        AdaController(ada_kimg=0)
    with pytest.raises(HeliogenError, match="interval"):
        AdaController(interval=0)


def test_p_rises_against_a_discriminator_that_separates_far_fakes():
    # train a tiny D to tell structured reals from flat "fakes" far from them: it overfits, r_t -> 1
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(resolution=32, channel_base=128, channel_max=16)
    opt = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.0, 0.99))
    aug = AdaptiveAugment(0.0)
    ctrl = AdaController(target=0.6, ada_kimg=0.05, interval=2)
    g = gen(0)
    reals = images(8, size=32, seed=1)
    fakes = torch.zeros(8, 1, 32, 32)
    for _ in range(30):
        d_real, d_fake = d(aug(reals, g)), d(aug(fakes, g))
        loss = torch.nn.functional.softplus(-d_real).mean() + torch.nn.functional.softplus(d_fake).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        aug.set_p(ctrl.step(d_real))
    assert ctrl.rt > 0.6 and ctrl.p > 0.5
