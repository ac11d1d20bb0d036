"""Photosphere granulation preprocessing, as in the tile thesis (sec. 3.1).

Each input becomes ten samples: the original, a horizontal and a vertical mirror, and
rotations by 45, 90, ..., 315 degrees. Corners: a 45-degree rotation of a square leaves
empty triangles; rather than invent pixels there, every variant is centre-cropped to the
largest square inscribed in the rotated frame, side ``floor(n / sqrt(2))``, so all ten
share one plate scale and hold only observed pixels. The crop is then area-averaged to
the tile size. Stored values are intensity over its mean; the scaling to [-1, 1] uses the
dataset's min/max on read (``minmax`` normalisation).

Pointing: granulation tiles are textures, placed nowhere in particular. The ``identity`` tile
records its source's helioprojective pointing when the source has one (CRVAL1/2 with
HPLN/HPLT axes, north up), moved to the tile's own grid, so its pixels map to the sky where
the source pixels do; mirrored and rotated tiles, and tiles of sources without a pointing,
record none (NaN ``crpix``/``crval``). Headers then claim no solar position
(:mod:`heliogen.data.grid_header`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import BadInput
from .resample import area_resample
from .record import NO_POINTING, Record, map_fields, window_pointing

__all__ = ["preprocess_granulation", "AUGMENTATIONS", "augment"]

AUGMENTATIONS = ("identity", "flipx", "flipy", "rot45", "rot90", "rot135", "rot180", "rot225", "rot270", "rot315")


def augment(image: np.ndarray, name: str) -> np.ndarray:
    """Apply one of :data:`AUGMENTATIONS` (right angles exactly, others by cubic spline)."""
    if name == "identity":
        return image
    if name == "flipx":
        return image[:, ::-1]
    if name == "flipy":
        return image[::-1, :]
    angle = int(name[3:])
    if angle % 90 == 0:
        return np.rot90(image, angle // 90)
    return ndimage.rotate(image, angle, reshape=False, order=3, mode="nearest")


def _centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    ny, nx = image.shape
    y0, x0 = (ny - side) // 2, (nx - side) // 2
    return image[y0 : y0 + side, x0 : x0 + side]


def preprocess_granulation(smap, size: int, source: str = "", augmentations=AUGMENTATIONS) -> list[Record]:
    """Ten augmented tiles of size ``size x size`` from one granulation image.

    Parameters
    ----------
    smap : sunpy.map.GenericMap
        A photosphere intensity image (square or not; the centre is used).
    size : int
        Tile side S.
    augmentations : sequence of str
        Subset of :data:`AUGMENTATIONS`.

    Returns
    -------
    list of Record
        Images (1, S, S), intensity over the image mean, float32.
    """
    data = np.asarray(smap.data, dtype=np.float64)
    if not np.isfinite(data).all():
        data = np.where(np.isfinite(data), data, np.nanmean(data))
    side = int(np.floor(min(data.shape) / np.sqrt(2)))
    if side < size:
        raise BadInput(f"image {data.shape[0]}x{data.shape[1]} is too small for {size}px tiles after augmentation cropping")
    mean = data.mean()
    if not mean > 0:
        raise BadInput("mean intensity is not positive")
    data = data / mean
    base = map_fields(smap, source)
    samples = []
    ny, nx = data.shape
    for name in augmentations:
        crop = _centre_crop(augment(data, name), side)
        tile = area_resample(np.ascontiguousarray(crop), size)
        # only the unaugmented tile lies on the sky as its source does (north up); mirrored or
        # rotated tiles claim no pointing rather than a false one
        pointing = window_pointing(smap, (nx - side) // 2, (ny - side) // 2, side, size) if name == "identity" else NO_POINTING
        fields = dict(base, augment=name, cdelt=base["cdelt"] * side / size, **pointing)
        samples.append(Record(image=tile.astype(np.float32)[None], fields=fields))
    return samples
