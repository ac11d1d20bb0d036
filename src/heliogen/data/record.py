"""A store record: the image(s) one store row holds and its table fields, as preprocessing makes them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Record", "map_fields", "window_pointing", "TABLE_COLUMNS", "NO_POINTING"]

# The per-sample table of a store: column name -> numpy dtype ("str" is variable-length).
TABLE_COLUMNS = {
    "source": "str",
    "time": "str",
    "observatory": "str",
    "instrument": "str",
    "wavelength": "float64",  # Angstrom; NaN for magnetograms and granulation
    "exposure": "float64",  # s; NaN where the header has none
    "quality": "int64",  # header QUALITY; -1 where the header has none
    "cdelt": "float64",  # arcsec per stored pixel
    "rsun_obs": "float64",  # arcsec
    "dsun_obs": "float64",  # m
    "hgln_obs": "float64",  # deg
    "hglt_obs": "float64",  # deg
    "crop_x": "int64",  # native-pixel corner of a crop; -1 for whole images
    "crop_y": "int64",
    "augment": "str",  # augmentation applied (granulation); "" otherwise
    # Helioprojective WCS reference of the stored image's own pixel grid (square pixels of
    # ``cdelt``, north up): 1-based FITS pixel CRPIX and its (Tx, Ty) in arcsec, such that a
    # stored pixel maps to the same sky position as the source pixels it holds. NaN where the
    # sample has no such pointing (a source without one, a rotated or mirrored augmentation).
    "crpix1": "float64",
    "crpix2": "float64",
    "crval1": "float64",  # arcsec
    "crval2": "float64",  # arcsec
    "roll": "float64",  # deg: the rotation (PCi_j) of that grid, a residual of a few 0.01 deg at most
    # how the source was brought north up: "" (it was), "exact" (a pixel permutation) or
    # "interpolated order 3" (orient.py); interpolation smooths the finest scales
    "reorient": "str",
    # paired stores (pairs.py): the low-resolution file of the row's lowres image, and the
    # time between the two observations (s); "" and NaN elsewhere
    "pair_source": "str",
    "pair_dt": "float64",
}

NO_POINTING = {"crpix1": np.nan, "crpix2": np.nan, "crval1": np.nan, "crval2": np.nan, "roll": np.nan}


@dataclass
class Record:
    """A stored image (C, S, S) in float32, an optional low-resolution twin, and its fields."""

    image: np.ndarray
    fields: dict = field(default_factory=dict)
    lowres: np.ndarray | None = None


def _num(meta, key, default=np.nan):
    try:
        return float(meta[key])
    except (KeyError, TypeError, ValueError):
        return default


def map_fields(smap, source: str) -> dict:
    """Table fields read from a sunpy map's header (missing ones get NaN / -1 / "")."""
    meta = smap.meta
    try:
        wavelength = float(smap.wavelength.to_value("Angstrom")) if smap.wavelength is not None else np.nan
    except Exception:  # noqa: BLE001 - a WAVELNTH without a length unit (e.g. a continuum "6173")
        wavelength = np.nan
    try:
        time = smap.date.isot
    except Exception:  # noqa: BLE001 - sunpy falls back loudly when DATE-OBS is absent
        time = ""
    quality = meta.get("quality")
    return {
        "source": source,
        "time": time,
        "observatory": str(smap.observatory or ""),
        "instrument": str(smap.instrument or ""),
        "wavelength": wavelength,
        "exposure": float(smap.exposure_time.to_value("s")) if smap.exposure_time is not None else np.nan,
        "quality": int(quality) if quality is not None else -1,
        "cdelt": float(smap.scale.axis1.to_value("arcsec/pix")),
        "rsun_obs": _num(meta, "rsun_obs"),
        "dsun_obs": _num(meta, "dsun_obs"),
        "hgln_obs": _num(meta, "hgln_obs"),
        "hglt_obs": _num(meta, "hglt_obs"),
        "crop_x": -1,
        "crop_y": -1,
        "augment": "",
        "reorient": "",
        "pair_source": "",
        "pair_dt": np.nan,
        **NO_POINTING,
    }


def window_pointing(smap, x0: int, y0: int, side_in: int, side_out: int) -> dict:
    """WCS reference fields of a stored image made from a window of ``smap``.

    The window's ``side_in x side_in`` pixels from 0-based corner ``(x0, y0)`` are area-averaged
    onto ``side_out x side_out`` pixels (stored pixel ``p`` covers source pixels
    ``x0 - 0.5 + [p, p + 1] * side_in / side_out``), so with CDELT scaled by
    ``side_in / side_out`` the stored grid keeps the source's CRVAL and moves CRPIX to

        CRPIX' = 0.5 + (CRPIX - 0.5 - x0) * side_out / side_in     (1-based, per axis)

    which maps every stored pixel to the sky position of the source pixels it averages.
    The grid keeps the source's roll (``roll``, deg), since scaling pixel coordinates about the
    grid commutes with the PCi_j rotation. :data:`NO_POINTING` (NaN) when the source has no
    helioprojective pointing (no CRVAL1/2, or CTYPEs other than HPLN/HPLT) or is not north up
    to within :data:`heliogen.data.orient.ROLL_TOLERANCE_DEG`.
    """
    meta = smap.meta
    ctype = (str(meta.get("ctype1", "")).upper(), str(meta.get("ctype2", "")).upper())
    if "crval1" not in meta or "crval2" not in meta or not (ctype[0].startswith("HPLN") and ctype[1].startswith("HPLT")):
        return dict(NO_POINTING)
    from .orient import ROLL_TOLERANCE_DEG, roll_deg

    roll = roll_deg(smap)
    if abs(roll) > ROLL_TOLERANCE_DEG:
        return dict(NO_POINTING)
    sx, sy = (float(v.to_value("arcsec / pix")) for v in (smap.scale.axis1, smap.scale.axis2))
    if not (sx > 0 and sy > 0 and abs(sx - sy) <= 1e-6 * sx):  # the stored grid has one positive pixel size
        return dict(NO_POINTING)
    ref = smap.reference_pixel  # 0-based
    coord = smap.reference_coordinate
    scale = side_out / side_in
    return {
        "crpix1": 0.5 + (float(ref.x.to_value("pix")) + 0.5 - x0) * scale,
        "crpix2": 0.5 + (float(ref.y.to_value("pix")) + 0.5 - y0) * scale,
        "crval1": float(coord.Tx.to_value("arcsec")),
        "crval2": float(coord.Ty.to_value("arcsec")),
        "roll": roll,
    }
