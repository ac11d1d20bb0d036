"""Streaming mosaic writers: FITS, TIFF or Zarr, written row block by row block, plus a
downsampled PNG preview, so memory stays at one row of tiles whatever the mosaic's size.

FITS uses astropy's :class:`~astropy.io.fits.StreamingHDU` (header first, then the data
rows, then the padding to 2880 bytes); TIFF uses tifffile with an iterator of one-row strips
(BigTIFF); Zarr uses a (rows, 4096) chunked float32 array. Row 0 of the mosaic is the first
row in every format (FITS readers show it at the bottom).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import HeliogenError

__all__ = ["output_format", "check_writable", "write_stream", "PreviewAccumulator"]

FORMATS = {".fits": "fits", ".fit": "fits", ".fts": "fits", ".tif": "tiff", ".tiff": "tiff", ".zarr": "zarr"}


def output_format(path) -> str:
    """'fits', 'tiff' or 'zarr' from the file name."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise HeliogenError(f"cannot tell the format of {path}; name it .fits, .tif/.tiff or .zarr")
    return FORMATS[suffix]


def check_writable(path) -> Path:
    """Fail at once, with one line, if ``path`` cannot be written (before any work is done)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HeliogenError(f"cannot write {path}: cannot create {parent} ({err.strerror or err})") from None
    if path.is_dir() and output_format(path) != "zarr":
        raise HeliogenError(f"cannot write {path}: it is a directory")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise HeliogenError(f"cannot write {path}: permission denied")
    return path


def _fits_header(height: int, width: int, cards: dict):
    from astropy.io import fits

    h = fits.Header()
    h["SIMPLE"] = True
    h["BITPIX"] = -32
    h["NAXIS"] = 2
    h["NAXIS1"] = width
    h["NAXIS2"] = height
    for k, v in cards.items():
        h[k] = v
    return h


def write_stream(path, height: int, width: int, blocks: Iterable[np.ndarray], cards: dict | None = None) -> Path:
    """Write row blocks (each (h, width), in order, heights summing to ``height``) to ``path``.

    The file is written under a temporary name and renamed when complete, so an interrupted
    build never leaves a truncated mosaic under the final name.
    """
    path = check_writable(path)
    fmt = output_format(path)
    tmp = path.with_name(f".tmp-{path.name}")
    cards = dict(cards or {})
    rows_written = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal rows_written
        for block in blocks:
            block = np.asarray(block, dtype=np.float32)
            if block.ndim != 2 or block.shape[1] != width:
                raise ValueError(f"row block of shape {block.shape} does not fit width {width}")
            rows_written += len(block)
            if rows_written > height:
                raise ValueError("more rows than the mosaic's height")
            yield block

    try:
        if fmt == "fits":
            from astropy.io import fits

            if tmp.exists():
                tmp.unlink()
            shdu = fits.StreamingHDU(str(tmp), _fits_header(height, width, cards))
            try:
                for block in counted():
                    shdu.write(block)
            finally:
                shdu.close()
        elif fmt == "tiff":
            import tifffile

            def rows():
                for block in counted():
                    yield from block

            tifffile.imwrite(str(tmp), data=rows(), shape=(height, width), dtype="float32", bigtiff=True, rowsperstrip=1,
                             metadata={k: str(v) for k, v in cards.items()})
        else:
            import zarr

            if tmp.exists():
                shutil.rmtree(tmp)
            step = max(1, int(cards.get("TILESTEP", 256)))
            arr = zarr.open_array(str(tmp), mode="w", shape=(height, width), chunks=(step, min(width, 4096)), dtype="float32", fill_value=0.0)
            y = 0
            for block in counted():
                arr[y:y + len(block)] = block
                y += len(block)
            arr.attrs.update({k: (v if isinstance(v, (int, float, bool)) else str(v)) for k, v in cards.items()})
        if rows_written != height:
            raise ValueError(f"wrote {rows_written} rows of {height}")
        if path.exists() and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise HeliogenError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists():
        p.unlink()


class PreviewAccumulator:
    """Area-averaged preview, at most ``max_side`` px a side, built from streamed row blocks."""

    def __init__(self, height: int, width: int, max_side: int = 2048):
        self.factor = max(1, math.ceil(max(height, width) / max_side))
        self.width = width
        self.out_w = math.ceil(width / self.factor)
        self.rows: list[np.ndarray] = []
        self.buffer = np.zeros((0, width), dtype=np.float32)

    def _pool(self, rows: np.ndarray) -> np.ndarray:
        f = self.factor
        pad = self.out_w * f - self.width
        if pad:
            rows = np.concatenate([rows, np.repeat(rows[:, -1:], pad, axis=1)], axis=1)
        return rows.reshape(len(rows), self.out_w, f).mean(axis=(0, 2))

    def update(self, block: np.ndarray) -> None:
        self.buffer = np.concatenate([self.buffer, np.asarray(block, dtype=np.float32)])
        f = self.factor
        while len(self.buffer) >= f:
            self.rows.append(self._pool(self.buffer[:f]))
            self.buffer = self.buffer[f:]

    def image(self) -> np.ndarray:
        rows = list(self.rows)
        if len(self.buffer):
            rows.append(self._pool(self.buffer))
        return np.stack(rows)

    def save(self, path, title: str | None = None) -> Path:
        """Grey-scale PNG, 0.5-99.5 percentile stretch, row 0 at the top as in the arrays."""
        from PIL import Image

        path = check_writable(path)
        img = self.image()
        lo, hi = np.percentile(img, [0.5, 99.5])
        hi = hi if hi > lo else lo + 1
        # 8-bit grey (one channel, not matplotlib's RGBA): a quarter of the bytes to compress
        grey = np.round(np.clip((img - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)
        Image.fromarray(grey).save(path, format="PNG")
        return path
