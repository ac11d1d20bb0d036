"""Patch-FD: the Fréchet distance over random crops at several scales.

The full-disk EUV study (sec. 2, point (c), and appendix D's FID-p64/p128/p256 table)
computes FID on patches so that fine-scale structure, lost when a 1024^2 disk is resized
to 299, is measured. Each image gives ``crops_per_image`` crops of side s at uniformly
random positions (seeded numpy generator), for s in ``sizes`` (64, 128, 256 px by
default); sizes larger than the images are skipped. Crops go through the extractor like
whole images (resized to its input size).
"""

from __future__ import annotations

import numpy as np

from ...errors import HeliogenError
from .fd import fd_from_features

__all__ = ["random_crops", "patch_fd", "PATCH_SIZES"]

PATCH_SIZES = (64, 128, 256)


def random_crops(images: np.ndarray, size: int, per_image: int, seed: int = 0) -> np.ndarray:
    """``per_image`` random ``size`` x ``size`` crops of each image, (N * per_image, C, size, size)."""
    n, c, h, w = images.shape
    if size > h or size > w:
        raise HeliogenError(f"crop size {size} is larger than the images ({h}x{w})")
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, h - size + 1, size=(n, per_image))
    xs = rng.integers(0, w - size + 1, size=(n, per_image))
    out = np.empty((n * per_image, c, size, size), dtype=images.dtype)
    for i in range(n):
        for j in range(per_image):
            out[i * per_image + j] = images[i, :, ys[i, j] : ys[i, j] + size, xs[i, j] : xs[i, j] + size]
    return out


def patch_fd(real, fake, extractor, sizes=PATCH_SIZES, crops_per_image: int = 4, seed: int = 0, batch_size: int = 32,
             real_features=None) -> dict:
    """Patch-FD per crop size: ``{"64": fd, ...}`` plus ``"skipped"`` sizes.

    Parameters
    ----------
    real, fake : numpy.ndarray
        Unit-range images (N, C, H, W).
    extractor : callable
        A :class:`~heliogen.evaluate.features.FeatureExtractor`.
    real_features : callable, optional
        ``real_features(size, crops) -> features``, to let the caller cache real crops.
    """
    out, skipped = {}, []
    for s in sizes:
        if s > min(real.shape[-1], real.shape[-2], fake.shape[-1], fake.shape[-2]):
            skipped.append(int(s))
            continue
        rc = random_crops(real, s, crops_per_image, seed)
        fc = random_crops(fake, s, crops_per_image, seed + 1)
        fr = real_features(s, rc) if real_features else extractor(rc, batch_size=batch_size)
        out[str(s)] = fd_from_features(fr, extractor(fc, batch_size=batch_size))
    if not out:
        raise HeliogenError(f"no patch size in {list(sizes)} fits the images ({real.shape[-1]} px)")
    return {"fd": out, "skipped_sizes": skipped, "crops_per_image": int(crops_per_image)}
