"""LPIPS (Zhang et al. 2018, "The unreasonable effectiveness of deep features as a
perceptual metric", eq. 1) with the AlexNet backbone, without torchvision.

The super-resolution paper uses LPIPS-Alex (sec. 5). The ``lpips`` package cannot be
imported here (it imports torchvision, which fails beside torch 2.13), so heliogen builds
torchvision's AlexNet ``features`` stack itself (:mod:`heliogen.models.backbones.alexnet`)
and reads the linear heads ``v0.1/alex.pth`` from the installed ``lpips==0.1.4`` package
files without importing it. The backbone weights are NOT shipped anywhere offline: pass
``backbone=PATH`` or set ``HELIOGEN_LPIPS_BACKBONE`` (a torchvision
``alexnet-owt-7be5be79.pth`` or any state dict with ``features.N.*`` keys).

d(x, y) = sum_l mean_hw || w_l * (f^l_x / |f^l_x| - f^l_y / |f^l_y|) ||^2 over the
five ReLU outputs, inputs in [-1, 1] shifted and scaled by LPIPS's ScalingLayer.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ...errors import HeliogenError
from ...models.backbones.alexnet import alexnet_features, load_alexnet_features

__all__ = ["LPIPS", "lpips_heads_path", "image_batches"]

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_TAPS = (1, 4, 7, 9, 11)  # ReLU outputs of torchvision's alexnet.features


def lpips_heads_path() -> Path:
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise HeliogenError("LPIPS needs the linear heads of the package lpips==0.1.4 (pip install --no-deps lpips==0.1.4)")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1" / "alex.pth"
    if not path.is_file():
        raise HeliogenError(f"the LPIPS heads {path} are missing")
    return path


def image_batches(pred, target, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Two equal (N, 1|3, H, W) float batches from (N, H, W) or (N, 1|3, H, W) arrays, or one clear error."""
    from .pairwise import check_pair

    p, t = check_pair(pred, target)
    if p.ndim == 3:
        p, t = p[:, None], t[:, None]
    if p.ndim != 4 or p.shape[1] not in (1, 3):
        raise HeliogenError(f"{name} takes (N, H, W) or (N, 1|3, H, W) arrays, not shape {p.shape}")
    return p, t


class LPIPS:
    """LPIPS-Alex distance between image batches in [-1, 1].

    Parameters
    ----------
    backbone : path-like, optional
        AlexNet weights (state dict); default ``$HELIOGEN_LPIPS_BACKBONE``. Required unless
        ``random_backbone`` (tests only: the distances then mean nothing perceptually).
    random_backbone : bool
        Use a seeded random backbone (the code path runs without weights; for tests).
    """

    def __init__(self, backbone=None, random_backbone: bool = False, device: str = "cpu", seed: int = 0):
        import torch

        self.device = device
        if random_backbone:
            torch.manual_seed(seed)
            self.net = alexnet_features()
            self.backbone = "random (torch seed %d)" % seed
        else:
            backbone = backbone or os.environ.get("HELIOGEN_LPIPS_BACKBONE")
            if not backbone:
                raise HeliogenError("LPIPS needs AlexNet backbone weights: pass --lpips-backbone PATH or set HELIOGEN_LPIPS_BACKBONE "
                                    "(torchvision's alexnet-owt-7be5be79.pth); they cannot be downloaded here")
            path = Path(backbone)
            if not path.is_file():
                raise HeliogenError(f"no LPIPS backbone weights at {path}")
            self.net = load_alexnet_features(path)
            self.backbone = str(path)
        heads = torch.load(lpips_heads_path(), map_location="cpu", weights_only=True)
        self.heads = [heads[f"lin{i}.model.1.weight"].to(device) for i in range(5)]
        self.net = self.net.eval().to(device)
        self.shift = torch.tensor(_SHIFT, device=device).view(1, 3, 1, 1)
        self.scale = torch.tensor(_SCALE, device=device).view(1, 3, 1, 1)

    def _taps(self, x):
        feats, h = [], (x - self.shift) / self.scale
        for i, layer in enumerate(self.net):
            h = layer(h)
            if i in _TAPS:
                feats.append(h)
            if i == _TAPS[-1]:
                break
        return feats

    def __call__(self, pred, target, batch_size: int = 16) -> np.ndarray:
        """Per-image LPIPS between (N, C, H, W) batches in [-1, 1] (C = 1 is repeated to 3)."""
        import torch
        import torch.nn.functional as F

        p, t = image_batches(pred, target, "LPIPS")
        if min(p.shape[-2:]) < 32:
            raise HeliogenError(f"LPIPS-Alex needs images of at least 32 px, not {p.shape[-2]}x{p.shape[-1]}")
        out = []
        with torch.inference_mode():
            for i in range(0, len(p), batch_size):
                a = torch.from_numpy(p[i : i + batch_size]).float().to(self.device).expand(-1, 3, -1, -1)
                b = torch.from_numpy(t[i : i + batch_size]).float().to(self.device).expand(-1, 3, -1, -1)
                d = 0.0
                for fa, fb, w in zip(self._taps(a), self._taps(b), self.heads):
                    na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                    nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                    d = d + F.conv2d((na - nb) ** 2, w).mean(dim=(1, 2, 3))
                out.append(d.double().cpu().numpy())
        return np.concatenate(out)
