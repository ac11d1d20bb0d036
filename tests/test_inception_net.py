"""The eager Inception port (heliogen.models.backbones.inception_tf) against the TorchScript original."""

import re

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the shared 2-core machine: see conftest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def ts_trained():
    from heliogen.models.backbones.inception_tf import load_torchscript_inception

    return load_torchscript_inception()


@pytest.fixture(scope="module")
def ts_random():
    from heliogen.models.backbones.inception_tf import RANDOM_SEED, load_torchscript_inception, randomise_weights

    ts = load_torchscript_inception()
    randomise_weights(ts, RANDOM_SEED)
    return ts


@pytest.fixture(scope="module")
def images():
    """Two uniform-noise and two smooth images in the graph's input range [-1, 1], channels-last."""
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(2, 3, 299, 299, generator=g) * 2 - 1
    y, x = torch.meshgrid(torch.linspace(0, 1, 299), torch.linspace(0, 1, 299), indexing="ij")
    smooth = torch.stack([torch.stack([0.9 * torch.sin(6 * x * (i + 1) + c) * torch.cos(4 * y - c) for c in range(3)])
                          for i in range(2)])
    return torch.cat([noise, smooth]).contiguous(memory_format=torch.channels_last)


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("which", ["trained", "random"])
def test_eager_port_equals_torchscript(which, ts_trained, ts_random, images):
    from heliogen.models.backbones.inception_tf import InceptionTF

    ts = ts_trained if which == "trained" else ts_random
    net = InceptionTF.from_torchscript(ts)
    with torch.inference_mode():
        ref = ts(images)
        out = net(images)
        out_nchw = net(images.contiguous())
    assert out.shape == ref.shape == (4, 2048) and out.dtype == torch.float32
    assert ref.abs().max() > 0 and ref.std() > 0
    assert _rel(out, ref) < 1e-5
    for i in range(4):  # each image on its own scale (noise and smooth differ)
        assert _rel(out[i], ref[i]) < 1e-5
    assert _rel(out_nchw, ref) < 1e-5


def test_features_are_independent_of_batch_size(ts_random, images):
    from heliogen.models.backbones.inception_tf import InceptionTF

    net = InceptionTF.from_torchscript(ts_random)
    with torch.inference_mode():
        whole = net(images)
        one_by_one = torch.cat([net(images[i : i + 1]) for i in range(len(images))])
    assert _rel(one_by_one, whole) < 1e-5


def test_every_torchscript_tensor_is_used_once(ts_trained):
    from heliogen.models.backbones.inception_tf import TS_PREFIX, ConvReLU, InceptionTF

    net = InceptionTF()
    sd = ts_trained.state_dict()
    convs = net.conv_layers()
    assert len(convs) == 94
    keys = [f"{TS_PREFIX}{n}.{leaf}" for n in convs for leaf in ("weight", "beta", "mean", "var")]
    assert len(keys) == len(set(keys)) == len(sd) == 376 and set(keys) == set(sd)
    # No gamma in the graph: every batch norm has beta, mean and var only.
    assert not any(k.endswith("gamma") for k in sd)
    # Folded: weight + bias per convolution, nothing else; one bias per output channel.
    esd = net.state_dict()
    assert set(esd) == {f"{n}.{leaf}" for n in convs for leaf in ("weight", "bias")}
    for n, conv in convs.items():
        assert isinstance(conv, ConvReLU)
        assert tuple(esd[f"{n}.weight"].shape) == tuple(sd[f"{TS_PREFIX}{n}.weight"].shape)
        assert esd[f"{n}.bias"].shape == sd[f"{TS_PREFIX}{n}.beta"].shape
    n_ts = sum(t.numel() for t in sd.values())
    n_out = sum(c.out_channels for c in convs.values())
    assert sum(p.numel() for p in net.parameters()) == n_ts - 2 * n_out == 21_768_352
    # The module tree mirrors the TorchScript one, name for name.
    ts_names = {n[len(TS_PREFIX):] for n, _ in ts_trained.named_modules() if n.startswith(TS_PREFIX)}
    assert ts_names == {n for n, _ in net.named_modules() if n}


def test_pools_match_the_graph(ts_trained):
    """Kernel, stride, padding, ceil_mode, count_include_pad and max/avg per pool, read from the graph's code."""
    from torch import nn

    from heliogen.models.backbones.inception_tf import TS_PREFIX, InceptionTF

    eager = dict(InceptionTF().named_modules())
    n_pools = 0
    for name, m in ts_trained.named_modules():
        if "Pool" not in m.original_name:
            continue
        n_pools += 1
        e = eager[name[len(TS_PREFIX):]]
        code = m.code
        ints = lambda s: [int(v) for v in re.findall(r"-?\d+", s)]  # noqa: E731
        if "max_pool2d" in code:
            # _0 = __torch__.torch.nn.functional._max_pool2d; _0(input, kernel, stride, padding, dilation, ceil_mode, return_indices)
            args = re.search(r"_0\(input, (\[.*?\]), (\[.*?\]), (\[.*?\]), (\[.*?\]), (\w+), (\w+)", code).groups()
            assert isinstance(e, nn.MaxPool2d), name
            k, s, p, d = (ints(a) for a in args[:4])
            assert k[0] == k[1] and s[0] == s[1] and p[0] == p[1] and d == [1, 1]
            assert (e.kernel_size, e.stride, e.padding, e.dilation) == (k[0], s[0], p[0], 1)
            assert e.ceil_mode is (args[4] == "True") and not e.return_indices
        else:
            m_ = re.search(r"avg_pool2d\(input, (\[.*?\]), (\[.*?\]), (\[.*?\])(?:, (\w+), (\w+))?\)", code)
            assert m_ and isinstance(e, nn.AvgPool2d), name
            k, s, p = (ints(a) for a in m_.groups()[:3])
            assert k[0] == k[1] and s[0] == s[1] and p[0] == p[1]
            assert (e.kernel_size, e.stride, e.padding) == (k[0], s[0], p[0])
            ceil, incl = (m_.group(4) or "False") == "True", (m_.group(5) or "True") == "True"
            assert e.ceil_mode is ceil
            assert e.count_include_pad is incl or p[0] == 0  # irrelevant without padding
    assert n_pools == 4 + 8 + 1 + 1  # 4 stride-2 max, 8 branch avg, mixed_10's branch max, pool2
    assert isinstance(eager["layers.mixed_10.tower_2_pool"], nn.MaxPool2d)
    assert eager["layers.mixed_9.tower_2_pool"].count_include_pad is False


def test_extractor_runs_the_eager_port():
    from heliogen.evaluate.features.inception import InceptionExtractor
    from heliogen.models.backbones.inception_tf import InceptionTF

    ext = InceptionExtractor(random=True)
    assert isinstance(ext.net, InceptionTF)
    assert "batch norm folded" in ext.describe()["weights"] and "seed" in ext.describe()["weights"]
    f = ext(np.linspace(0, 1, 2 * 40 * 40, dtype=np.float32).reshape(2, 1, 40, 40))
    assert f.shape == (2, 2048) and np.isfinite(f).all()


def test_fold_batch_norm_matches_batch_norm():
    import torch.nn.functional as F

    from heliogen.models.backbones.inception_tf import BN_EPS, fold_batch_norm

    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 3, 3, 3, generator=g)
    beta, mean, var = torch.randn(5, generator=g), torch.randn(5, generator=g), torch.rand(5, generator=g) + 0.1
    x = torch.randn(2, 3, 9, 9, generator=g)
    ref = F.batch_norm(F.conv2d(x, w), mean, var, None, beta, False, 0.1, BN_EPS)
    wf, bf = fold_batch_norm(w, beta, mean, var)
    torch.testing.assert_close(F.conv2d(x, wf, bf), ref, rtol=1e-5, atol=1e-5)


def test_wrong_input_size_is_refused():
    import torch

    from heliogen.models.backbones.inception_tf import InceptionTF

    net = InceptionTF()
    with pytest.raises(ValueError, match="299"):
        net(torch.zeros(1, 3, 320, 320))
