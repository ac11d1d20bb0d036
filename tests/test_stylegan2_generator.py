"""StyleGAN2 generator (Karras et al. 2020) in plain PyTorch: modulated convolution against an
explicit per-sample convolution, demodulation statistics, truncation, noise modes, per-seed
reproducibility, resolutions, save/load and gradients. Tiny widths at 32 px keep it fast."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from heliogen.errors import HeliogenError
from heliogen.models import model_class
from heliogen.models.stylegan2 import StyleGAN2Generator, modulated_conv2d
from heliogen.models.stylegan2.modulated_conv import ModulatedConv2d
from heliogen.models.stylegan2.resample import upsample2d

torch.set_num_threads(1)

TINY = dict(z_dim=8, w_dim=16, mapping_layers=2, resolution=32, channels=1, channel_base=256, channel_max=16)


def tiny(seed=0, noise_strength=0.5, **kw):
    """A tiny generator whose noise inputs matter (StyleGAN2 starts them at strength 0)."""
    torch.manual_seed(seed)
    g = StyleGAN2Generator(**{**TINY, **kw}).eval()
    with torch.no_grad():
        for layer in g.synthesis_network.layers():
            layer.noise_strength.fill_(noise_strength)
    return g


def explicit_modulated_conv(x, weight, styles, demodulate):
    """Per sample: build w'_oik = s_i w_oik (and divide by sqrt(sum_ik w'^2 + 1e-8)) with
    explicit loops over output channels, then an ordinary batch-1 conv2d."""
    outs = []
    for n in range(x.shape[0]):
        wn = weight.clone()
        for o in range(weight.shape[0]):
            for i in range(weight.shape[1]):
                wn[o, i] = weight[o, i] * styles[n, i]
            if demodulate:
                wn[o] = wn[o] / math.sqrt(float((wn[o] ** 2).sum()) + 1e-8)
        outs.append(F.conv2d(x[n:n + 1], wn, padding=weight.shape[-1] // 2))
    return torch.cat(outs)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("kernel", [3, 1])
def test_modulated_conv_equals_explicit_per_sample_conv(demodulate, kernel):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 7, 6, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 5, kernel, kernel, generator=gen, dtype=torch.float64)
    styles = torch.rand(3, 5, generator=gen, dtype=torch.float64) * 2 + 0.1  # distinct per sample
    got = modulated_conv2d(x, weight, styles, demodulate=demodulate)
    want = explicit_modulated_conv(x, weight, styles, demodulate)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # the samples really were modulated differently: sample 0's weights on sample 1's input differ
    other = explicit_modulated_conv(x[1:2], weight, styles[0:1], demodulate)
    assert not torch.allclose(other, want[1:2])


def test_modulated_conv_module_styles_come_from_the_affine_of_w():
    torch.manual_seed(0)
    for demod in (True, False):
        m = ModulatedConv2d(6, 3, 3, w_dim=4, demodulate=demod).double()
        x, w = torch.randn(2, 6, 5, 5, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
        # equalised LR: A = W / sqrt(w_dim), bias starts at 1; toRGB (no demod) also scales by 1/sqrt(fan_in)
        s = w @ (m.affine.weight / 2.0).T + m.affine.bias
        assert torch.allclose(m.affine.bias, torch.ones(6, dtype=torch.float64))
        if not demod:
            s = s / math.sqrt(6 * 9)
        with torch.no_grad():
            torch.testing.assert_close(m(x, w), explicit_modulated_conv(x, m.weight, s, demod), rtol=1e-10, atol=1e-10)


def test_demodulation_gives_unit_std_per_channel():
    # y_no = sum_ik w'_oik x_nik with ||w'_o|| = 1: N(0, 1) for i.i.d. N(0, 1) inputs, whatever the
    # style; a 3x3 input without padding gives one output pixel, so the n samples are independent
    gen = torch.Generator().manual_seed(2)
    n, i, o = 2048, 16, 8
    x = torch.randn(n, i, 3, 3, generator=gen, dtype=torch.float64)
    weight = torch.randn(o, i, 3, 3, generator=gen, dtype=torch.float64) * 3.0
    styles = torch.rand(n, i, generator=gen, dtype=torch.float64) * 4
    wn = weight.unsqueeze(0) * styles[:, None, :, None, None]
    wn_d = wn / torch.sqrt(wn.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    # centre pixel of the 'same' convolution sees the full 3x3 window: that is the unpadded output
    y = modulated_conv2d(x, weight, styles, demodulate=True)[:, :, 1, 1]
    torch.testing.assert_close(y, torch.einsum("noikl,nikl->no", wn_d, x))
    std = y.std(dim=0)
    tol = 5 / math.sqrt(2 * (n - 1))  # 5 standard errors of a sample std of n normals
    assert torch.all((std - 1).abs() < tol), (std, tol)
    raw = modulated_conv2d(x, weight, styles, demodulate=False)[:, :, 1, 1].std(dim=0)
    assert torch.all((raw - 1).abs() > 10 * tol)  # without demodulation the scale is the weights'


def test_fir_upsampling_known_answers():
    # a single pixel spreads as the outer product of [1, 3, 3, 1] / 4; a constant stays constant inside
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    x[0, 0, 1, 2] = 1.0
    taps = np.array([1, 3, 3, 1]) / 4
    want = np.zeros((8, 8))
    want[1:5, 3:7] = np.outer(taps, taps)  # output rows 2*1-1 .. 2*1+2, cols 2*2-1 .. 2*2+2
    np.testing.assert_allclose(upsample2d(x)[0, 0].numpy(), want, atol=1e-15)
    ones = upsample2d(torch.ones(2, 3, 5, 5))
    assert ones.shape == (2, 3, 10, 10)
    torch.testing.assert_close(ones[..., 1:-1, 1:-1], torch.ones(2, 3, 8, 8))


def test_w_avg_update_and_truncation():
    g = tiny()
    g.train()
    z = torch.randn(5, 8)
    w = g.mapping(z)  # training mode: w_avg <- lerp(mean w, w_avg, 0.995) from zeros
    torch.testing.assert_close(g.w_avg, 0.005 * w[:, 0].mean(dim=0))
    w2 = g.mapping(z)
    torch.testing.assert_close(g.w_avg, 0.005 * w2[:, 0].mean(0) + 0.995 * 0.005 * w[:, 0].mean(0))
    g.eval()
    before = g.w_avg.clone()
    w1 = g.mapping(z)
    torch.testing.assert_close(g.w_avg, before)  # eval mode leaves it alone
    w0 = g.mapping(z, psi=0.0)
    assert torch.all(w0 == g.w_avg) and g.w_avg.abs().sum() > 0
    torch.testing.assert_close(g.mapping(z, psi=0.5), (w1 + g.w_avg) / 2)
    cut = g.mapping(z, psi=0.0, truncation_cutoff=3)
    assert torch.all(cut[:, :3] == g.w_avg) and torch.equal(cut[:, 3:], w1[:, 3:])
    x = g(torch.randn(4, 8), psi=0.0, noise_mode="const")
    assert torch.equal(x, x[:1].expand_as(x))
    assert not torch.equal(x, g(torch.randn(4, 8), psi=0.0, noise_mode="random"))


def test_noise_modes():
    g = tiny()
    z = torch.randn(2, 8)
    assert torch.equal(g(z, noise_mode="const"), g(z, noise_mode="const"))
    a = g(z, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, g(z, generator=torch.Generator().manual_seed(3)))
    assert not torch.allclose(a, g(z, generator=torch.Generator().manual_seed(4)))
    assert not torch.allclose(a, g(z, noise_mode="const"))
    # 'none' equals zero noise; with zero strength every mode agrees
    zero = [torch.zeros(2, 1, r, r) for r in (layer.resolution for layer in g.synthesis_network.layers())]
    ws = g.mapping(z)
    assert torch.equal(g(z, noise_mode="none"), g.synthesis(ws, noise=zero))
    quiet = tiny(noise_strength=0.0)
    assert torch.equal(quiet(z, noise_mode="random"), quiet(z, noise_mode="none"))
    with pytest.raises(HeliogenError, match="noise_mode"):
        g(z, noise_mode="fixed")


def test_a_sample_does_not_depend_on_its_batch():
    g = tiny()
    alone = g.generate([7])
    for batch in ([5, 7, 9], [7, 2], [11, 13, 17, 19, 7]):
        assert torch.equal(g.generate(batch)[batch.index(7)], alone[0])  # to the bit
    many = g.generate(range(10, 21), eval_batch=4)  # three micro-batches, the last padded
    assert many.shape == (11, 1, 32, 32)
    assert torch.equal(many[9], g.generate([19, 3])[0]) and torch.equal(many[2], g.generate([12], eval_batch=4)[0])
    assert not torch.allclose(g.generate([8]), alone)
    # image k's z is the first draw of its seed's stream, its noise the next ones
    g7 = torch.Generator().manual_seed(7)
    z7 = torch.randn(1, 8, generator=g7)
    assert torch.equal(g.generate([7], eval_batch=1), g(z7, generator=[g7]))
    # with z given by the caller and one generator per sample, equal up to float rounding of the batch shape
    gens = lambda seeds: [torch.Generator().manual_seed(s) for s in seeds]  # noqa: E731
    z = torch.randn(3, 8)
    x = g(z, generator=gens([1, 2, 3]))
    torch.testing.assert_close(g(z[1:], generator=gens([2, 3])), x[1:], rtol=1e-5, atol=1e-5)
    with pytest.raises(HeliogenError, match="3 per-sample generators for a batch of 2"):
        g(z[:2], generator=gens([1, 2, 3]))


@pytest.mark.parametrize("resolution", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_resolutions_build(resolution, channels):
    g = tiny(resolution=resolution, channels=channels, channel_base=512)
    assert g.num_ws == 2 * int(math.log2(resolution)) - 2
    assert g.synthesis_network.resolutions == [2**k for k in range(2, int(math.log2(resolution)) + 1)]
    assert g.synthesis_network.widths[-1] == min(512 // resolution, 16)
    assert g(torch.randn(2, 8)).shape == (2, channels, resolution, resolution)


@pytest.mark.parametrize("resolution", [48, 16, 2048, 32.5])
def test_bad_resolution_fails_clearly(resolution):
    with pytest.raises(HeliogenError, match="power of two from 32 to 1024"):
        StyleGAN2Generator(**{**TINY, "resolution": resolution})


def test_bad_options_fail_clearly():
    with pytest.raises(HeliogenError, match="channels must be a positive integer"):
        StyleGAN2Generator(**{**TINY, "channels": 0})
    with pytest.raises(HeliogenError, match="style_mixing_prob"):
        StyleGAN2Generator(**{**TINY, "style_mixing_prob": 1.5})
    with pytest.raises(HeliogenError, match=r"z must have shape \(N, 8\)"):
        tiny()(torch.randn(2, 9))


def test_stylegan2_ffhq_config_has_the_published_parameter_count():
    # NVlabs' stylegan2-ada-pytorch summary of the 1024 px FFHQ generator (z = w = 512, 8 mapping
    # layers, 3 channels, channel_base 32768, channel_max 512): 30,370,060 parameters
    g = StyleGAN2Generator(z_dim=512, w_dim=512, mapping_layers=8, resolution=1024, channels=3)
    assert sum(p.numel() for p in g.parameters()) == 30_370_060


def test_style_mixing_switches_to_a_second_z_at_one_layer():
    g = tiny(style_mixing_prob=1.0)
    g.train()
    z = torch.randn(3, 8)
    ws = g.mapping(z, update_w_avg=False)
    mixed = g.mix_styles(z, ws, torch.Generator().manual_seed(0))
    same = (mixed == ws).all(dim=2).all(dim=0)  # which layers kept the first z
    cutoff = int(same.sum())
    assert 1 <= cutoff < g.num_ws and same[:cutoff].all() and not same[cutoff:].any()
    # every switched layer holds one and the same second w
    assert torch.equal(mixed[:, cutoff:], mixed[:, cutoff:cutoff + 1].expand_as(mixed[:, cutoff:]))
    assert torch.equal(tiny(style_mixing_prob=0.0).mix_styles(z, ws), ws)
    g.eval()  # mixing is a training regulariser only
    torch.testing.assert_close(g(z, noise_mode="const"), g.synthesis(g.mapping(z), noise_mode="const"))


def test_save_and_load_round_trip(tmp_path):
    g = tiny(noise_strength=0.3)
    g.train()
    g.mapping(torch.randn(4, 8))  # a non-zero w_avg must travel too
    g.eval()
    g.save_pretrained(tmp_path / "g")
    back = model_class("StyleGAN2Generator").from_pretrained(tmp_path / "g").eval()
    assert back.config["z_dim"] == 8 and back.config["resolution"] == 32
    torch.testing.assert_close(back.w_avg, g.w_avg, rtol=0, atol=0)
    z = torch.randn(3, 8)
    assert torch.equal(back(z, psi=0.7, noise_mode="const"), g(z, psi=0.7, noise_mode="const"))
    assert torch.equal(back.generate([1, 2]), g.generate([1, 2]))


def test_gradients_reach_every_parameter():
    g = tiny(style_mixing_prob=0.5)
    g.train()
    g(torch.randn(2, 8), generator=torch.Generator().manual_seed(0)).square().mean().backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
