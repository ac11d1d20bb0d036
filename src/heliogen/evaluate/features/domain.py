"""Domain encoders: feature extractors trained by heliogen (e.g. a later autoencoder).

The full-disk EUV study computes Fréchet distances in the feature spaces of encoders
pre-trained on solar data (MAE, VicReg; appendix D, table 5). heliogen's interface:

* in Python, wrap any ``torch.nn.Module`` that maps a model-space batch
  ``(B, C, S, S)`` to ``(B, D)`` (or ``(B, D, h, w)``, averaged over space) in
  :class:`DomainExtractor` and :func:`~heliogen.evaluate.features.register_extractor` it;
* on the command line, ``--features domain:PATH`` loads a TorchScript file saved with
  ``torch.jit.save(module, PATH, _extra_files={"heliogen.json": json.dumps({...})})``,
  whose JSON gives ``input_size`` and ``range`` (the model space it was trained on,
  default [-1, 1]) and optionally ``name``.

Unlike the ImageNet networks, domain encoders see the channels they were trained on
(no grey-to-RGB repeat) and model-space values, not the unit range.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import HeliogenError
from .registry import FeatureExtractor, as_batch, resize_batch

__all__ = ["DomainExtractor"]


class DomainExtractor(FeatureExtractor):
    """A heliogen-trained encoder as a feature extractor.

    Parameters
    ----------
    module : torch.nn.Module
    name : str
    input_size : int
    value_range : tuple of float
        Model-space range the encoder expects; unit-range input u becomes lo + u (hi - lo).
    """

    scaling = "model space: lo + u * (hi - lo)"

    def __init__(self, module, name: str, input_size: int, value_range=(-1.0, 1.0), device: str = "cpu", weights: str = ""):
        super().__init__(device)
        self.net = module.eval().to(device)
        self.name, self.input_size, self.range = name, int(input_size), tuple(float(v) for v in value_range)
        self.weights = weights or "in-memory module"
        self.scaling = f"model space: {self.range[0]:g} + u * {self.range[1] - self.range[0]:g}"
        import torch

        with torch.inference_mode():
            probe = self._forward(torch.zeros(1, 1, self.input_size, self.input_size, device=device) + 0.5)
        self.dim = int(probe.shape[1])

    @classmethod
    def from_path(cls, path, device: str = "cpu") -> "DomainExtractor":
        import torch

        path = Path(path)
        if not path.is_file():
            raise HeliogenError(f"no domain encoder at {path}")
        extra = {"heliogen.json": ""}
        try:
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        except Exception as err:  # noqa: BLE001
            raise HeliogenError(f"{path} is not a TorchScript encoder ({str(err).splitlines()[0]})") from None
        meta = json.loads(extra["heliogen.json"] or "{}")
        if "input_size" not in meta:
            raise HeliogenError(f"{path} lacks heliogen.json with its input_size (see heliogen.evaluate.features.domain)")
        return cls(module, meta.get("name", f"domain:{path.name}"), meta["input_size"], meta.get("range", (-1.0, 1.0)), device,
                   weights=str(path))

    def _forward(self, x):
        lo, hi = self.range
        f = self.net(lo + x * (hi - lo))
        if f.dim() == 4:
            f = f.mean(dim=(2, 3))
        return f.reshape(f.shape[0], -1)

    def __call__(self, images, batch_size: int = 32) -> np.ndarray:
        import torch

        images = as_batch(images)
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size], dtype=np.float32)).to(self.device)
                f = self._forward(resize_batch(x, self.input_size))
                if not torch.isfinite(f).all():
                    raise HeliogenError(f"{self.name}: the encoder produced non-finite features")
                out.append(f.double().cpu().numpy())
        return np.concatenate(out)
