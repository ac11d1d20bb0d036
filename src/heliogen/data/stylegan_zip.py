"""A store as the dataset zip NVlabs' StyleGAN2-ADA and StyleGAN3 code reads.

Their ``training/dataset.py`` (``ImageFolderDataset``) opens every PNG member of the zip with
PIL, turns it into a uint8 ``H x W x C`` array, and requires square images of one power-of-two
side; ``dataset.json`` at the zip's root holds ``{"labels": [[member, class_index], ...]}`` or
``{"labels": null}``, and integer labels become one-hot class vectors. This module writes such a
zip, plus ``heliogen.json``, which says how to turn the pixels back into stored values.

The pixel mapping is the one heliogen feeds its feature extractors and quantises to 8 bits
(``heliogen evaluate --legacy-uint8``): the store's normalisation takes stored values to model
space ``m`` in the kind's range ``[lo, hi]`` (EUV ``[0, 1]``, magnetograms and granulation
``[-1, 1]``), and::

    q = floor(255 * clip((m - lo) / (hi - lo), 0, 1) + 0.5)        (uint8)
    m' = lo + (hi - lo) * q / 255,  stored' = normalisation.inverse(m')

NaN pixels (off-disk magnetogram pixels) count as ``m = 0``, as heliogen's readers do.

Physical units do not survive as such: 256 levels span the model range, so one step is
``(hi - lo) / 255`` in model space, ``max ln I / 255`` in ln(DN/s) for EUV (a fixed *relative*
intensity step), ``6000 / 255`` G for magnetograms, ``(hi - lo) / 255`` of I/<I> for
granulation. ``heliogen.json`` keeps the normalisation constants, so a generated PNG maps back
to stored values (and, through the normalisation, to physical units) within half a step.

PNG rows are written top-down with the store's *last* row first: stored images keep FITS order
(row 0 at the bottom, solar north up as heliogen displays them), so the PNGs show the Sun the
same way in any viewer. Flip the rows back (``q[::-1]``) before inverting.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import default_file_mode
from ..errors import HeliogenError
from .goes import GOES_CLASSES
from .normalise import Normalisation
from .splits import SPLITS, split_by_time
from .store import open_store

__all__ = ["export_stylegan_zip", "check_stylegan_shape", "to_uint8", "from_uint8", "member_name", "EXPORT_FORMAT"]

log = logging.getLogger("heliogen.data")

EXPORT_FORMAT = "heliogen-stylegan-zip/1"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # a fixed member time: the same store gives the same zip, byte for byte
PNG_MODES = {1: "L", 3: "RGB"}  # the modes NVlabs' dataset_tool writes


def member_name(k: int) -> str:
    """Zip member of image ``k`` as NVlabs' dataset_tool names it: ``00000/img00000000.png``
    (a folder per thousand images)."""
    digits = f"{int(k):08d}"
    return f"{digits[:5]}/img{digits}.png"


def check_stylegan_shape(channels: int, height: int, width: int) -> None:
    """Refuse image shapes NVlabs' StyleGAN code cannot train on, with the reason.

    Raises
    ------
    HeliogenError
        Unless the images are square, of a power-of-two side of at least 4, with 1 or 3 channels.
    """
    if height != width:
        raise HeliogenError(f"StyleGAN needs square images, and these are {height}x{width}; "
                            "rebuild the store with a square --size")
    if height < 4 or height & (height - 1):
        lower = 1 << (max(int(height), 4).bit_length() - 1)
        raise HeliogenError(f"StyleGAN needs a power-of-two image side (its generator doubles 4x4 up to the "
                            f"resolution), and these are {height}x{width}; rebuild the store with --size {lower} or {lower * 2}")
    if channels not in PNG_MODES:
        raise HeliogenError(f"StyleGAN's dataset format holds 1 (grey) or 3 (RGB) channels, and these images have {channels}")


def to_uint8(stored: np.ndarray, normalisation: Normalisation) -> np.ndarray:
    """Stored values to uint8 through model space (see the module docstring), same shape."""
    lo, hi = normalisation.data_range
    model = np.nan_to_num(normalisation.forward(np.asarray(stored, dtype=np.float64)), nan=0.0)
    unit = np.clip((model - lo) / (hi - lo), 0.0, 1.0)
    return np.floor(unit * 255.0 + 0.5).astype(np.uint8)


def from_uint8(q: np.ndarray, normalisation: Normalisation) -> np.ndarray:
    """uint8 pixels back to stored values (float64): the inverse of :func:`to_uint8` within
    half a quantisation step, for stored values inside the model range."""
    lo, hi = normalisation.data_range
    return normalisation.inverse(lo + (hi - lo) * np.asarray(q, dtype=np.float64) / 255.0)


def _png_bytes(q: np.ndarray) -> bytes:
    """One (C, S, S) uint8 image as PNG bytes, rows flipped so north is up in a viewer."""
    from PIL import Image

    hwc = np.ascontiguousarray(np.moveaxis(q, 0, -1)[::-1])
    image = Image.fromarray(hwc[..., 0] if hwc.shape[-1] == 1 else hwc)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _select(store, split: str) -> np.ndarray:
    """Store rows of ``split`` ("all" or a default time-block split)."""
    if split == "all":
        return np.arange(store.n)
    if split not in SPLITS:
        raise HeliogenError(f"unknown split {split!r}; choose all, {', '.join(SPLITS)}")
    try:
        times = store.times()
    except HeliogenError as err:
        raise HeliogenError(f"--split {split} needs an observation time per image, and {err}; use --split all") from None
    return split_by_time(times)[split]


def _labels(store, rows: np.ndarray, want: bool):
    """Class indices (A=0 ... X=4) of ``rows``, or None when the store has no flare labels."""
    if not want or "goes_class" not in store.columns():
        return None
    classes = store.column("goes_class")[rows]
    missing = int((classes == "").sum())
    if missing:
        raise HeliogenError(f"{missing} of {len(rows)} images to export have no GOES class (no X-ray coverage); "
                            "export without labels (--no-labels) or label them first")
    return np.array([GOES_CLASSES.index(c) for c in classes], dtype=np.int64)


def _metadata(store, rows, labels, split: str, quantum: float) -> dict:
    """The contents of ``heliogen.json``: how the pixels were made and how to invert them."""
    norm = store.normalisation
    lo, hi = norm.data_range
    times = store.column("time")[rows] if "time" in store.columns() else [""] * len(rows)
    return {
        "format": EXPORT_FORMAT,
        "store": str(store.path), "kind": store.kind, "unit": norm.unit, "split": split, "n": len(rows),
        "size": store.size, "channels": int(store.group["images"].shape[1]),
        "normalisation": norm.to_dict(), "model_range": [lo, hi],
        "to_uint8": "m = normalisation.forward(stored) (NaN -> 0); q = floor(255 * clip((m - lo) / (hi - lo), 0, 1) + 0.5)",
        "from_uint8": "flip the PNG rows back (q[::-1]); m = lo + (hi - lo) * q / 255; stored = normalisation.inverse(m)",
        "rows": "PNG row 0 is the store's last row (stored images are in FITS order, north up when row 0 is at the bottom)",
        "to_physical": f"exp(stored) in {norm.unit}" if norm.kind == "log_max" else f"stored, in {norm.unit}",
        "quantisation_step": {"model": (hi - lo) / 255.0, "stored": quantum},
        "note": "8 bits over the model range: physical values come back only to within half a step",
        "labels": None if labels is None else {"column": "goes_class", "classes": list(GOES_CLASSES),
                                                "meaning": "dataset.json label k is GOES class classes[k]"},
        "members": [{"file": member_name(k), "store_index": int(j), "time": str(t)} for k, (j, t) in enumerate(zip(rows, times))],
    }


def _stored_step(norm: Normalisation) -> float:
    """One uint8 step in stored units (the normalisations are linear in stored values)."""
    lo, hi = norm.data_range
    return float(abs(norm.inverse(np.float64(hi)) - norm.inverse(np.float64(lo)))) / 255.0


def _check_out(out: Path, overwrite: bool) -> None:
    if out.suffix.lower() != ".zip":
        raise HeliogenError(f"--out must end in .zip (NVlabs' loader reads a folder or a .zip file), not {out.name}")
    if out.is_dir():
        raise HeliogenError(f"cannot write {out}: it is a directory")
    if out.exists() and not overwrite:
        raise HeliogenError(f"{out} exists; pass --overwrite to replace it")


def _write_zip(tmp, store, rows, labels, meta, progress: bool, batch: int) -> None:
    from tqdm.auto import tqdm

    from ..progress import bars_off

    norm = store.normalisation
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf, \
            tqdm(total=len(rows), desc="export", unit="img", disable=bars_off(progress)) as bar:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            for k, q in enumerate(to_uint8(store.images(chunk), norm), start=start):
                zf.writestr(zipfile.ZipInfo(member_name(k), ZIP_TIME), _png_bytes(q))
            bar.update(len(chunk))
        dataset = {"labels": None if labels is None else [[member_name(k), int(c)] for k, c in enumerate(labels)]}
        zf.writestr(zipfile.ZipInfo("dataset.json", ZIP_TIME), json.dumps(dataset))
        zf.writestr(zipfile.ZipInfo("heliogen.json", ZIP_TIME), json.dumps(meta, indent=1))


def export_stylegan_zip(store_path, out, split: str = "all", labels: bool = True, overwrite: bool = False,
                        progress: bool = True, batch: int = 64) -> dict:
    """Write a store (or one of its time-block splits) as an NVlabs StyleGAN dataset zip.

    Parameters
    ----------
    store_path : path-like
        A store built by ``heliogen data build``.
    out : path-like
        The ``.zip`` to write; written under a temporary name and renamed into place.
    split : {"all", "train", "val", "test"}
        All images, or one split of :func:`~heliogen.data.splits.split_by_time` with its
        default settings (80/10/10 % of 20 time blocks, seed 0), as ``heliogen evaluate
        classify`` cuts them.
    labels : bool
        Write the GOES classes (A=0, B=1, C=2, M=3, X=4) to ``dataset.json`` when the store has
        them (``heliogen data labels``); every exported image must then be labelled.
    overwrite : bool
        Replace an existing ``out``; without it an existing file is an error.
    progress : bool
        Show a progress bar.
    batch : int
        Images read from the store at a time.

    Returns
    -------
    dict
        ``heliogen.json``'s summary: n, split, size, channels, labelled, quantisation step, out.
    """
    out = Path(out)
    _check_out(out, overwrite)
    store = open_store(store_path)
    check_stylegan_shape(*store.group["images"].shape[1:])
    rows = _select(store, split)
    if len(rows) == 0:
        raise HeliogenError(f"{store.path} holds no images{'' if split == 'all' else f' in the {split} split'} to export")
    classes = _labels(store, rows, labels)
    meta = _metadata(store, rows, classes, split, _stored_step(store.normalisation))
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{out.name}-", dir=out.parent)
    os.close(fd)
    try:
        _write_zip(tmp, store, rows, classes, meta, progress, max(int(batch), 1))
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"out": str(out), "n": len(rows), "split": split, "size": store.size, "channels": meta["channels"],
            "labelled": classes is not None, "step_stored": meta["quantisation_step"]["stored"], "kind": store.kind}
