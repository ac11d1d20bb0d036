"""Reading solar FITS images into sunpy maps, with checks that name what is wrong, and
writing maps back with heliogen's provenance keywords.

Any image that :func:`sunpy.map.Map` understands is accepted (AIA, HMI, MDI, EIT, TRACE,
SWAP, EUI, ...). Files are opened with astropy first so that each failure mode gets its
own reason: not FITS, truncated, a 3-D cube, all NaN.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..atomic import default_file_mode
from ..errors import BadInput, HeliogenError

__all__ = ["read_map", "write_map", "require_keywords", "provenance_cards"]

_FITS_MAGIC = b"SIMPLE  ="


def _looks_like_fits(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(len(_FITS_MAGIC))
    if head[:2] == b"\x1f\x8b":  # gzip: let astropy decide
        return True
    return head == _FITS_MAGIC


def _image_hdu(hdul: fits.HDUList):
    """The first HDU holding an image (compressed HDUs count)."""
    for hdu in hdul:
        if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and hdu.header.get("NAXIS", 0) >= 2:
            return hdu
    return None


def read_map(path: str | os.PathLike):
    """Read one FITS image as a :class:`sunpy.map.GenericMap` (the instrument's subclass).

    Parameters
    ----------
    path : path-like
        A FITS file, optionally gzipped, with a 2-D image in its primary or a later
        (possibly tile-compressed) HDU.

    Returns
    -------
    sunpy.map.GenericMap

    Raises
    ------
    BadInput
        With a one-line reason: missing file, not FITS, truncated, no image, a 3-D cube,
        or no finite pixel.
    """
    import sunpy.map

    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise BadInput("no such file", src)
    if path.stat().st_size == 0 or not _looks_like_fits(path):
        raise BadInput("not a FITS file", src)
    unpadded = path.stat().st_size % 2880 != 0  # FITS files come in 2880-byte blocks
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if _declares_more_than(path):
            raise BadInput("truncated FITS file", src)
        try:
            with fits.open(path, memmap=False) as hdul:
                hdu = _image_hdu(hdul)
                if hdu is None:
                    raise BadInput("truncated FITS file" if unpadded else "no image HDU in the FITS file", src)
                header = hdu.header.copy()
                data = hdu.data
        except BadInput:
            raise
        except (OSError, ValueError, TypeError, IndexError) as err:
            reason = "truncated FITS file" if unpadded or _is_truncation(str(err)) else f"unreadable FITS file ({err})"
            raise BadInput(reason, src) from None
    if any(_is_truncation(str(w.message)) for w in caught) or data is None:
        raise BadInput("truncated FITS file", src)
    data = np.squeeze(np.asarray(data))  # a length-1 third axis is still an image
    if data.ndim == 3:
        raise BadInput(f"3-D data cube of shape {data.shape}, expected a 2-D image", src)
    if data.ndim != 2:
        raise BadInput(f"{data.ndim}-D data, expected a 2-D image", src)
    if data.dtype.kind == "f" and not np.isfinite(data).any():
        raise BadInput("no finite pixel (all NaN)", src)
    for key in ("NAXIS3", "ZNAXIS3"):
        header.remove(key, ignore_missing=True)
    header["NAXIS"] = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return sunpy.map.Map(data, header)
        except Exception as err:  # sunpy raises many types for broken WCS headers
            # sunpy's messages run to several lines (and a link): the reason stays one line
            first = " ".join(str(err).split("\n")[:2]).strip()
            raise BadInput(f"header sunpy cannot read as a map ({first})", src) from None


def _declares_more_than(path: Path) -> bool:
    """True when some HDU's header declares more data than the file holds.

    Compressed images are checked through their binary tables (heap included).
    """
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    if gzipped:
        return False  # gzip: astropy's own errors tell
    size = path.stat().st_size
    try:
        with fits.open(path, memmap=False, disable_image_compression=True, lazy_load_hdus=False) as raw:
            return any(info["datLoc"] + hdu.size > size for hdu, info in ((h, h.fileinfo()) for h in raw) if info)
    except (OSError, ValueError, TypeError, IndexError):
        return size % 2880 != 0  # FITS files come in 2880-byte blocks


def _is_truncation(message: str) -> bool:
    message = message.lower()
    return any(s in message for s in ("truncated", "buffer is too small", "not enough data", "missing end card"))


def require_keywords(smap, keywords, source: str | None = None) -> None:
    """Raise :class:`BadInput` naming every keyword in ``keywords`` missing from the map's header."""
    missing = [k for k in keywords if k.lower() not in smap.meta]
    if missing:
        raise BadInput(f"missing keyword{'s' if len(missing) > 1 else ''} {', '.join(missing)}", source)


def provenance_cards(**fields) -> dict:
    """heliogen's provenance keywords: version plus the caller's fields (model, seed, ...).

    Keys are truncated to FITS' 8 characters, upper case.
    """
    from .. import __version__

    cards = {"HGVER": __version__, "ORIGIN": "heliogen"}
    for key, value in fields.items():
        if value is None:
            continue
        cards[key.upper()[:8]] = value if isinstance(value, (int, float, bool)) else str(value)
    return cards


def write_map(smap, path: str | os.PathLike, overwrite: bool = True, **provenance) -> Path:
    """Write a map as FITS with provenance keywords, atomically (temp file, fsync, replace).

    Parameters
    ----------
    smap : sunpy.map.GenericMap
    path : path-like
    overwrite : bool
        Refuse to replace an existing file when False.
    **provenance
        Extra keywords recorded in the header (e.g. ``model=...``, ``seed=...``).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise HeliogenError(f"{path} exists; pass overwrite to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HeliogenError(f"cannot create {path.parent}: {err.strerror}") from None
    header = fits.Header()
    for key, value in smap.fits_header.items():
        if key in ("COMMENT", "HISTORY", "") or key.startswith("NAXIS") or key in ("SIMPLE", "BITPIX", "EXTEND"):
            continue
        header[key] = value
    for key, value in provenance_cards(**provenance).items():
        header[key] = value
    hdu = fits.PrimaryHDU(np.asarray(smap.data), header=header)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".fits", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            hdu.writeto(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())  # mkstemp's 0600 would hide results from colleagues
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
