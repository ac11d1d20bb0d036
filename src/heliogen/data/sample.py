"""One preprocessed sample: the image(s) a store row holds and its table fields."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Sample", "map_fields", "TABLE_COLUMNS"]

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
}


@dataclass
class Sample:
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
    }
