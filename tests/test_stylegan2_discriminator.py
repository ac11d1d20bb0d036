"""StyleGAN2 residual discriminator: minibatch std, blur-downsampling and residual blocks against
independent numpy computations, parameter counts from the architecture, resolutions, saving and
loading, and gradients to the input for R1."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from heliogen.errors import HeliogenError
from heliogen.models import model_class
from heliogen.models.stylegan2.discriminator import (BlurDownsample, MinibatchStdGroup, ResidualBlock,
                                                     StyleGAN2Discriminator)

torch.set_num_threads(1)
TINY = dict(channel_base=256, channel_max=32)  # 8 channels at 32 px, 32 at 8 and 4 px


def tiny(resolution=32, **kw):
    torch.manual_seed(0)
    return StyleGAN2Discriminator(resolution=resolution, **{**TINY, **kw})


def numpy_mbstd(x, group, nfeat, eps=1e-8):
    """Grouped minibatch std written with explicit loops over groups: group j holds samples j, j + M, j + 2M, ..."""
    n, c, h, w = x.shape
    m = n // group
    extra = np.empty((n, nfeat, h, w))
    for j in range(m):
        members = [j + k * m for k in range(group)]
        xs = x[members].astype(np.float64)
        std = np.sqrt(((xs - xs.mean(axis=0)) ** 2).mean(axis=0) + eps)  # (c, h, w)
        for f in range(nfeat):
            value = std[f * (c // nfeat):(f + 1) * (c // nfeat)].mean()
            for i in members:
                extra[i, f] = value
    return np.concatenate([x, extra], axis=1)


@pytest.mark.parametrize("n,group,nfeat,used", [(8, 4, 1, 4), (8, 4, 2, 4), (4, 4, 1, 4), (6, 4, 1, 3), (2, 4, 1, 2)])
def test_minibatch_std_matches_numpy(n, group, nfeat, used):
    rng = np.random.default_rng(n + group + nfeat)
    x = rng.normal(size=(n, 6, 4, 4)).astype(np.float32) * rng.uniform(0.5, 2, size=(n, 1, 1, 1)).astype(np.float32)
    layer = MinibatchStdGroup(group, nfeat)
    assert layer.effective_group(n) == used
    out = layer(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, numpy_mbstd(x, used, nfeat), rtol=1e-5, atol=1e-6)


def test_minibatch_std_of_identical_samples_is_sqrt_eps():
    x = torch.ones(4, 3, 4, 4)
    out = MinibatchStdGroup(4, 1, eps=1e-4)(x)
    assert torch.allclose(out[:, 3], torch.full((4, 4, 4), 1e-2))


def numpy_blur_down(x, stride, pad):
    f = np.array([1.0, 3.0, 3.0, 1.0])
    k = np.outer(f, f) / 64.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = (xp.shape[2] - 4) // stride + 1
    out = np.zeros(x.shape[:2] + (ho, ho))
    for i in range(ho):
        for j in range(ho):
            out[:, :, i, j] = (xp[:, :, i * stride:i * stride + 4, j * stride:j * stride + 4] * k).sum(axis=(2, 3))
    return out


def test_blur_downsample_matches_numpy_and_keeps_constants():
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype(np.float32)
    out = BlurDownsample(2, 1)(torch.from_numpy(x)).numpy()
    assert out.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(out, numpy_blur_down(x, 2, 1), rtol=1e-5, atol=1e-6)
    # the filter sums to one: a constant image stays constant away from the zero-padded border
    const = BlurDownsample(2, 1)(torch.full((1, 1, 16, 16), 3.0))
    assert torch.allclose(const[0, 0, 1:-1, 1:-1], torch.tensor(3.0))


def numpy_conv(x, w, b, pad, stride=1):
    """Cross-correlation (what torch calls convolution) with loops over output pixels."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[-1]
    ho = (xp.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, ho))
    for i in range(ho):
        for j in range(ho):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out + (0 if b is None else b[None, :, None, None])


def test_residual_block_matches_numpy():
    torch.manual_seed(3)
    block = ResidualBlock(2, 3, 4)
    with torch.no_grad():
        for conv in (block.conv0, block.conv1):
            conv.bias.normal_()
    x = np.random.default_rng(2).normal(size=(2, 2, 8, 8))
    out = block(torch.from_numpy(x).float()).detach().numpy()

    def act(v):
        return np.where(v > 0, v, 0.2 * v) * math.sqrt(2)

    w0 = block.conv0.weight.detach().numpy() / math.sqrt(2 * 9)
    w1 = block.conv1.weight.detach().numpy() / math.sqrt(3 * 9)
    ws = block.skip.weight.detach().numpy() / math.sqrt(2)
    h = act(numpy_conv(x, w0, block.conv0.bias.detach().numpy(), pad=1))
    h = act(numpy_conv(numpy_blur_down(h, 1, 2), w1, block.conv1.bias.detach().numpy(), pad=0, stride=2))
    skip = numpy_conv(numpy_blur_down(x, 2, 1), ws, None, pad=0)
    np.testing.assert_allclose(out, (h + skip) / math.sqrt(2), rtol=1e-4, atol=1e-5)
    assert block.skip.bias is None


def expected_param_count(resolution, in_ch, base, cmax, nfeat=1):
    """Count StyleGAN2's layers by hand: fromRGB, per block conv0/conv1/skip, epilogue conv/fc/out."""
    def ch(r):
        return min(base // r, cmax)

    total = in_ch * ch(resolution) + ch(resolution)
    r = resolution
    while r > 4:
        ci, co = ch(r), ch(r // 2)
        total += 9 * ci * ci + ci + 9 * ci * co + co + ci * co
        r //= 2
    c4 = ch(4)
    return total + 9 * (c4 + nfeat) * c4 + c4 + 16 * c4 * c4 + c4 + c4 + 1


@pytest.mark.parametrize("resolution", [32, 64])
def test_output_shape_and_parameter_count(resolution):
    d = tiny(resolution)
    assert d.block_resolutions == [resolution >> i for i in range(int(math.log2(resolution)) - 2)]
    assert d.channels[resolution] == 256 // resolution and d.channels[4] == 32
    assert sum(p.numel() for p in d.parameters()) == expected_param_count(resolution, 1, 256, 32)
    with torch.no_grad():
        out = d(torch.randn(6, 1, resolution, resolution))
    assert out.shape == (6, 1) and torch.isfinite(out).all()


def test_full_size_parameter_count():
    d = StyleGAN2Discriminator(resolution=256, in_channels=3)
    assert sum(p.numel() for p in d.parameters()) == expected_param_count(256, 3, 32768, 512)


@pytest.mark.parametrize("bad", [16, 48, 2048, 100, 32.5])
def test_bad_resolution(bad):
    with pytest.raises(HeliogenError, match="power of two from 32 to 1024"):
        StyleGAN2Discriminator(resolution=bad, **TINY)


def test_wrong_input_shape_is_a_clear_error():
    d = tiny(32)
    with pytest.raises(HeliogenError, match=r"expects images \(N, 1, 32, 32\), got \(2, 1, 64, 64\)"):
        d(torch.zeros(2, 1, 64, 64))


def test_samples_are_coupled_only_through_minibatch_std():
    # mbstd groups samples i and i + N/G: changing sample 0 moves the logits of its group only
    d = tiny(32).eval()
    x = torch.randn(8, 1, 32, 32)
    y = x.clone()
    y[0] += 1.0
    with torch.no_grad():
        changed = (d(x) - d(y)).abs().view(-1) > 0
    assert changed.tolist() == [True, False, True, False, True, False, True, False]


def test_save_and_load_bit_identical(tmp_path):
    d = tiny(32, in_channels=2, mbstd_group=2)
    d.save_pretrained(tmp_path / "d")
    loaded = model_class("StyleGAN2Discriminator").from_pretrained(tmp_path / "d")
    assert loaded.config.in_channels == 2 and loaded.config.mbstd_group == 2 and loaded.config.resolution == 32
    x = torch.randn(4, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(d(x), loaded(x))
    assert all(torch.equal(a, b) for a, b in zip(d.state_dict().values(), loaded.state_dict().values()))


def test_gradients_reach_the_input_for_r1():
    d = tiny(32)
    x = torch.randn(4, 1, 32, 32, requires_grad=True)
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    assert (grad.flatten(1).abs().sum(1) > 0).all()
    r1 = grad.square().sum(dim=(1, 2, 3)).mean()  # R1 penalty, computed here as the trainer would
    r1.backward()
    # the penalty is differentiable in every weight (double backward through every layer); biases
    # after the minibatch std only switch the piecewise-linear LeakyReLU, so they get none
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in d.named_parameters() if n.endswith("weight"))
    assert d.out.bias.grad is None and float(d.epilogue_fc.bias.grad.abs().sum()) == 0.0
    # finite-difference check of one input pixel's gradient, in float64: a float32 difference of
    # two large sums, or a step across a LeakyReLU kink, differs between CPUs by a few percent
    d64, x64 = d.double(), x.detach().double().requires_grad_(True)
    (grad64,) = torch.autograd.grad(d64(x64).sum(), x64)
    with torch.no_grad():
        e = torch.zeros_like(x64)
        e[1, 0, 10, 12] = 1e-6
        fd = (d64(x64 + e).sum() - d64(x64 - e).sum()) / 2e-6
    assert float(fd) == pytest.approx(float(grad64[1, 0, 10, 12]), rel=5e-3, abs=1e-8)
    assert float(grad64[1, 0, 10, 12]) == pytest.approx(float(grad[1, 0, 10, 12].detach()), rel=1e-3, abs=1e-6)
