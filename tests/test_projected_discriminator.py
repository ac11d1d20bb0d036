"""ProjectedGAN discriminator: frozen parts stay frozen, every ablation switch changes exactly
its part (trainable parameters counted by hand), checkpoints rebuild the same network."""

from __future__ import annotations

import pytest
import torch

from heliogen.errors import HeliogenError
from heliogen.models import model_class
from heliogen.models.gan_losses import hinge_d_loss, hinge_g_loss
from heliogen.models.projected import ProjectedDiscriminator

LITE0_TAPS = [24, 40, 112, 320]  # EfficientNet-Lite0 channels at strides 4, 8, 16, 32
TABLE = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 64}  # upstream SingleDisc channels by map size
WIDTH = 0.25  # narrow heads keep the tests quick


def head_params(in_ch, start, width=1.0):
    """Spectral-norm convs (4x4, bias) + BatchNorm per halving down to 8 px, then a 4x4 conv without bias."""
    total, size, ch = 0, start, in_ch
    while size > 8:
        out = round(TABLE[size // 2] * width)
        total += ch * out * 16 + out + 2 * out
        ch, size = out, size // 2
    return total + ch * 16


def ccm_params(taps):
    return sum(c * w + w for c, w in zip(taps, [64, 128, 256, 512]))


CSM_PARAMS = (64 * 64 + 64) + (128 * 64 + 64) + (256 * 128 + 128) + (512 * 256 + 256)


def lite0_trunk_params():
    """Lite0 without its 1280-channel head and classifier, counted from the library's own network."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    total = sum(p.numel() for p in net.parameters())
    return total - (320 * 1280 + 2 * 1280) - (1280 * 1000 + 1000)


def build(**kw):
    kw.setdefault("resolution", 32)
    kw.setdefault("head_width", WIDTH)
    return ProjectedDiscriminator(**kw)


def images(n=2, seed=0, size=32):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def snapshot(module):
    return {k: v.detach().clone() for k, v in list(module.named_parameters()) + list(module.named_buffers())}


def changed(before, module):
    now = snapshot(module)
    return {k for k in before if not torch.equal(before[k], now[k])}


def d_step(D):
    """One Adam step on every parameter of D, after a loop-style requires_grad_(True)."""
    D.train().requires_grad_(True)
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    loss = hinge_d_loss(D(images(seed=1)), D(images(seed=2)))
    opt.zero_grad()
    loss.backward()
    opt.step()


@pytest.mark.parametrize("kw, moving", [
    ({}, {"discriminators"}),
    ({"unfreeze_backbone": True}, {"backbone", "discriminators"}),
    ({"trainable_projection": True}, {"projection", "discriminators"}),
])
def test_a_d_step_moves_exactly_the_trainable_parts(kw, moving):
    torch.manual_seed(0)
    D = build(**kw)
    before = {name: snapshot(part) for name, part in D.parts().items()}
    d_step(D)
    for name, part in D.parts().items():
        diff = changed(before[name], part)
        if name in moving:
            assert diff, f"{name} should have trained"
        else:
            assert not diff, f"{name} changed: {sorted(diff)[:3]}"
    # the backbone's BatchNorm statistics are frozen even when its weights train
    stats = [k for k in before["backbone"] if "running_" in k]
    assert stats and not changed({k: before["backbone"][k] for k in stats}, D.parts()["backbone"])


def test_frozen_parts_stay_in_eval_mode_and_out_of_reach_of_requires_grad():
    D = build().train()
    assert not any(m.training for m in D.parts()["backbone"].modules())
    assert not any(m.training for m in D.parts()["projection"].modules())
    assert all(m.training for m in D.parts()["discriminators"].modules())
    D.requires_grad_(True)
    assert D.trainable_parameter_counts()["backbone"] == 0 and D.trainable_parameter_counts()["projection"] == 0
    U = build(unfreeze_backbone=True).train()
    assert not any(m.training for m in U.parts()["backbone"].modules())  # BatchNorm frozen
    assert all(p.requires_grad for p in U.parts()["backbone"].parameters())


def test_gradients_reach_the_image_through_the_frozen_backbone():
    torch.manual_seed(0)
    D = build().double().eval()
    x = images(n=1, seed=3).double().requires_grad_(True)
    loss = hinge_g_loss(D(x, augment=False))
    (grad,) = torch.autograd.grad(loss, x)
    assert grad.abs().sum() > 0 and torch.isfinite(grad).all()
    # a central difference along a random direction agrees with the gradient
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    eps = 1e-7  # small enough that hardly any ReLU6 or LeakyReLU kink is crossed
    with torch.no_grad():
        plus = hinge_g_loss(D(x + eps * v, augment=False))
        minus = hinge_g_loss(D(x - eps * v, augment=False))
    assert ((plus - minus) / (2 * eps)).item() == pytest.approx((grad * v).sum().item(), rel=1e-4)


def lite3_timm_file(tmp_path):
    """A random Lite3 state_dict under made-up (timm-like) names, in lukemelas order."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite3")
    torch.nn.init.normal_(net._conv_stem.weight)
    state = {}
    for i, (k, v) in enumerate(net.state_dict().items()):
        state[f"timm.{i}" + (".num_batches_tracked" if k.endswith("num_batches_tracked") else "")] = v
    path = tmp_path / "tf_efficientnet_lite3.pth"
    torch.save({"state_dict": state}, path)
    return path, net._conv_stem.weight.detach().clone()


def test_lite3_without_weights_fails_in_one_line_naming_the_download():
    with pytest.raises(HeliogenError) as err:
        build(backbone="lite3")
    assert "\n" not in str(err.value) and "tf_efficientnet_lite3" in str(err.value) and "backbone_weights" in str(err.value)


def test_lite3_loads_timm_named_weights_in_order_and_rejects_others(tmp_path):
    path, stem = lite3_timm_file(tmp_path)
    D = build(backbone="lite3", backbone_weights=str(path))
    assert torch.equal(D.parts()["backbone"].stem[0].weight, stem)
    assert D.parts()["backbone"].channels == [32, 48, 136, 384]
    from heliogen.models.backbones.efficientnet_lite import effnet_weights_path

    with pytest.raises(HeliogenError, match="does not fit"):
        build(backbone="lite3", backbone_weights=str(effnet_weights_path(0)))
    with pytest.raises(HeliogenError, match="do not exist"):
        build(backbone="lite3", backbone_weights=str(tmp_path / "missing.pth"))


def test_pretrained_backbone_matches_the_package_weights_and_random_does_not():
    from heliogen.models.backbones.efficientnet_lite import effnet_weights_path

    state = torch.load(effnet_weights_path(0), map_location="cpu", weights_only=True)
    assert torch.equal(build().parts()["backbone"].stem[0].weight, state["_conv_stem.weight"])
    assert not torch.equal(build(backbone="random").parts()["backbone"].stem[0].weight, state["_conv_stem.weight"])


# table 1 of the study, one row per switch: (options, expected trainable counts, backbone taps)
def ablation_rows(tmp_path_factory):
    lite3, _ = lite3_timm_file(tmp_path_factory.mktemp("lite3"))
    heads_csm = lambda ds: sum(head_params(c, s, WIDTH) for d, (c, s) in enumerate(zip([64, 64, 128, 256], [128, 64, 32, 16]), 1) if d in ds)
    heads_ccm = lambda taps, ds: sum(head_params(c, s, WIDTH) for d, (c, s) in enumerate(zip(taps, [64, 32, 16, 8]), 1) if d in ds)
    all4 = (1, 2, 3, 4)
    return [
        ({}, (0, 0, heads_csm(all4))),
        ({"backbone": "random"}, (0, 0, heads_csm(all4))),
        ({"backbone": "lite1"}, (0, 0, heads_csm(all4))),
        ({"backbone": "lite2"}, (0, 0, heads_csm(all4))),
        ({"backbone": "lite3", "backbone_weights": str(lite3)}, (0, 0, heads_csm(all4))),
        ({"unfreeze_backbone": True}, (lite0_trunk_params(), 0, heads_csm(all4))),
        ({"projection": "ccm"}, (0, 0, heads_ccm([64, 128, 256, 512], all4))),
        ({"projection": "none"}, (0, 0, heads_ccm(LITE0_TAPS, all4))),
        ({"trainable_projection": True}, (0, ccm_params(LITE0_TAPS) + CSM_PARAMS, heads_csm(all4))),
        ({"projection": "ccm", "trainable_projection": True}, (0, ccm_params(LITE0_TAPS), heads_ccm([64, 128, 256, 512], all4))),
        ({"discriminators": (1,)}, (0, 0, heads_csm((1,)))),
        ({"discriminators": (1, 2)}, (0, 0, heads_csm((1, 2)))),
        ({"discriminators": (1, 2, 3)}, (0, 0, heads_csm((1, 2, 3)))),
        ({"augment": False}, (0, 0, heads_csm(all4))),
    ]


def test_every_ablation_switch_builds_runs_and_changes_only_its_part(tmp_path_factory):
    torch.manual_seed(0)
    base = build()
    base_shapes = {name: {k: tuple(v.shape) for k, v in part.state_dict(keep_vars=True).items()}
                   | {k: tuple(v.shape) for k, v in part.named_buffers()} for name, part in base.parts().items()}
    for kw, (n_backbone, n_projection, n_heads) in ablation_rows(tmp_path_factory):
        D = build(**kw)
        counts = D.trainable_parameter_counts()
        assert counts == {"backbone": n_backbone, "projection": n_projection, "discriminators": n_heads}, kw
        x = images(n=2).requires_grad_(True)
        logits = D(x, generator=torch.Generator().manual_seed(0))
        assert len(logits) == len(kw.get("discriminators", (1, 2, 3, 4)))
        assert all(tuple(t.shape) == (2, 1, 4, 4) for t in logits), kw
        hinge_g_loss(logits).backward()
        assert x.grad.abs().sum() > 0
        assert all(p.grad is not None for p in D.parameters() if p.requires_grad)
        # the parts a switch does not name keep the baseline's layout
        shapes = {name: {k: tuple(v.shape) for k, v in part.state_dict(keep_vars=True).items()}
                  | {k: tuple(v.shape) for k, v in part.named_buffers()} for name, part in D.parts().items()}
        names_backbone = {"backbone", "backbone_weights", "unfreeze_backbone"} & set(kw)
        names_projection = {"projection", "trainable_projection"} & set(kw)
        if not names_backbone:
            assert shapes["backbone"] == base_shapes["backbone"], kw
        if not names_projection and not names_backbone:
            assert shapes["projection"] == base_shapes["projection"], kw
        if "discriminators" not in kw and kw.get("projection") != "none" and not (names_projection and kw.get("projection")):
            assert shapes["discriminators"] == base_shapes["discriminators"], kw
        assert (D.diffaug is None) == (kw.get("augment") is False)


def test_default_heads_have_upstream_widths():
    D = ProjectedDiscriminator(resolution=32)
    assert D.trainable_parameter_counts()["discriminators"] == sum(
        head_params(c, s) for c, s in zip([64, 64, 128, 256], [128, 64, 32, 16]))


def test_augmentation_is_drawn_from_the_generator():
    D = build(discriminators=(4,)).eval()
    x = images(n=2)
    a = D(x, generator=torch.Generator().manual_seed(1))[0]
    assert torch.equal(a, D(x, generator=torch.Generator().manual_seed(1))[0])
    assert not torch.equal(a, D(x, augment=False)[0])
    assert not torch.equal(a, D(x, generator=torch.Generator().manual_seed(2))[0])


def test_grey_images_are_repeated_to_rgb_and_resized_only_below_224():
    x = images(n=1)
    small = build().prepare(x, augment=False)
    assert small.shape == (1, 3, 224, 224) and torch.equal(small[:, 0], small[:, 2])
    flat = build().prepare(torch.full((1, 1, 32, 32), 0.3), augment=False)
    torch.testing.assert_close(flat, torch.full((1, 3, 224, 224), 0.3))
    big = torch.rand(1, 1, 256, 256)
    assert torch.equal(build(resolution=256).prepare(big, augment=False), big.repeat(1, 3, 1, 1))


def test_a_smaller_feature_input_resizes_to_it_and_shrinks_the_logit_maps():
    import torch.nn.functional as F

    x = images(n=1)
    D = build(feature_input=128, discriminators=(1, 4)).eval()
    prepared = D.prepare(x, augment=False)
    expected = F.interpolate(x.repeat(1, 3, 1, 1), size=(128, 128), mode="bilinear", align_corners=False)
    assert torch.equal(prepared, expected)
    # heads planned for 256 px: 128 px gives maps half as wide as at 256 (5x5 there, 4x4 at 224)
    assert [tuple(t.shape[-2:]) for t in D(x, augment=False)] == [(1, 1), (1, 1)]
    assert [tuple(t.shape[-2:]) for t in build(discriminators=(1, 4)).eval()(x, augment=False)] == [(4, 4), (4, 4)]
    assert ProjectedDiscriminator.from_config(D.config).feature_input == 128
    for bad in (64, 256):
        with pytest.raises(HeliogenError, match="feature_input must be from 128 to 224"):
            build(feature_input=bad)


def test_full_size_input_gives_upstream_five_by_five_logits():
    # at 256 px the coarsest tap is 8x8 and the head's 4x4 valid convolution leaves 5x5
    D = build(resolution=256, projection="ccm", discriminators=(4,)).eval()
    assert D(torch.rand(1, 1, 256, 256) * 2 - 1, augment=False)[0].shape == (1, 1, 5, 5)


@pytest.mark.parametrize("kw, saved_backbone", [({}, False), ({"backbone": "random"}, True), ({"unfreeze_backbone": True}, True)])
def test_save_pretrained_rebuilds_the_same_discriminator(tmp_path, kw, saved_backbone):
    torch.manual_seed(0)
    D = build(discriminators=(1, 4), **kw)
    if kw.get("unfreeze_backbone"):
        d_step(D)
    D.eval()
    D.save_pretrained(tmp_path)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "diffusion_pytorch_model.safetensors"), framework="pt") as fh:
        keys = list(fh.keys())
    assert any(k.startswith("feature_network.") for k in keys) == saved_backbone
    assert any(k.startswith("projector.ccm.") for k in keys)  # random CCM weights are the only copy
    x = images(n=2)
    want = D(x, augment=False)
    for low in (True, False):
        E = ProjectedDiscriminator.from_pretrained(tmp_path, low_cpu_mem_usage=low).eval()
        assert E.config.discriminators in ((1, 4), [1, 4])
        assert E.trainable_parameter_counts() == D.trainable_parameter_counts()
        saved, loaded = snapshot(D), snapshot(E)  # non-persistent (rebuilt) buffers included
        assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
        # equal tensors; BLAS may still round differently at other addresses, hence no torch.equal
        for a, b in zip(want, E(x, augment=False)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert model_class("ProjectedDiscriminator") is ProjectedDiscriminator


def test_frozen_pretrained_backbone_is_left_out_of_checkpoints_to_keep_them_small(tmp_path):
    D = build(discriminators=(4,), projection="ccm")
    D.save_pretrained(tmp_path)
    size = (tmp_path / "diffusion_pytorch_model.safetensors").stat().st_size
    stored = sum(v.numel() for v in D.state_dict().values() if v.is_floating_point())
    assert stored < 0.2 * lite0_trunk_params()
    assert size < 4 * stored + 100_000


@pytest.mark.parametrize("kw, match", [
    ({"backbone": "lite9"}, "unknown backbone"),
    ({"projection": "csm"}, "unknown projection"),
    ({"projection": "none", "trainable_projection": True}, "needs a projection"),
    ({"discriminators": (0, 1)}, "distinct scales"),
    ({"discriminators": (1, 1)}, "distinct scales"),
    ({"discriminators": ()}, "distinct scales"),
    ({"in_channels": 2}, "1 or 3 channels"),
])
def test_bad_options_are_one_line_errors(kw, match):
    with pytest.raises(HeliogenError, match=match):
        build(**kw)


def test_wrong_channel_count_is_refused():
    with pytest.raises(HeliogenError, match="expects 1-channel"):
        build()(torch.zeros(1, 3, 32, 32))
