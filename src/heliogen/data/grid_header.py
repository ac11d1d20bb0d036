"""FITS headers for images on a store's grid: stored samples, and generated images.

A stored sample's header (:func:`sample_header`) carries its own helioprojective WCS: the
store table records, per sample, the reference of the sample's grid (``crpix1/2``,
``crval1/2``; see :func:`heliogen.data.record.window_pointing`), so a magnetogram crop maps
each pixel to the sky position of the source pixels it holds, wherever on the disk it was cut.

A generated image has no observation of its own; its header (:func:`grid_header_from_store`)
carries the instrument, units, plate scale and the training set's median observer. It claims
a solar position only where every training image shows the same one (to within one pixel):
EUV grids are disk centred by construction, whole-image and centre-cropped magnetograms are
centred on the disk to within a pixel. Stores whose samples lie at different places or have
no pointing (random, AR or listed magnetogram crops; granulation, whose mirrored and rotated
tiles have none) give headers with linear ``XOFFSET``/``YOFFSET`` axes: arcsec from the image
centre, no helioprojective position.
"""

from __future__ import annotations

import numpy as np

from .kinds import KINDS

__all__ = ["grid_header_from_store", "grid_map", "sample_header", "header_from_fields", "NO_POINTING_WCSNAME"]

NO_POINTING_WCSNAME = "offsets from the image centre; no solar position"


def _wcs_cards(cdelt: float, size: int, crpix, crval, roll: float = 0.0) -> dict:
    """Helioprojective (TAN) axes with the given reference, or linear offsets when it is NaN.

    ``roll`` (deg) is the grid's residual rotation after an exact re-orientation (orient.py);
    it is written as a PCi_j matrix so every pixel keeps its exact sky position.
    """
    cards = {"CUNIT1": "arcsec", "CUNIT2": "arcsec", "CDELT1": cdelt, "CDELT2": cdelt}
    if np.all(np.isfinite(list(crpix) + list(crval))):
        if np.isfinite(roll) and roll != 0.0:
            c, s = np.cos(np.radians(roll)), np.sin(np.radians(roll))
            cards.update({"PC1_1": c, "PC1_2": -s, "PC2_1": s, "PC2_2": c})
        return {"CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", **cards, "CRPIX1": float(crpix[0]), "CRPIX2": float(crpix[1]),
                "CRVAL1": float(crval[0]), "CRVAL2": float(crval[1])}
    return {"CTYPE1": "XOFFSET", "CTYPE2": "YOFFSET", **cards, "CRPIX1": (size + 1) / 2, "CRPIX2": (size + 1) / 2,
            "CRVAL1": 0.0, "CRVAL2": 0.0, "WCSNAME": NO_POINTING_WCSNAME}


def _num(value, default=np.nan) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return v if np.isfinite(v) else default


def header_from_fields(fields, kind: str, size: int) -> dict:
    """The header (dict) of one stored sample from its table fields (a row, or ``Record.fields``).

    The WCS is the sample's own (its ``crpix``/``crval``; offsets only where it has none), the
    time and observer are its own. BUNIT is given for magnetograms only, whose stored values
    are physical (Gauss); EUV and granulation store transformed values (normalise.py).
    """
    size = int(size)
    crpix = (_num(fields.get("crpix1")), _num(fields.get("crpix2")))
    crval = (_num(fields.get("crval1")), _num(fields.get("crval2")))
    header = {
        "TELESCOP": str(fields.get("observatory") or "unknown"),
        "INSTRUME": str(fields.get("instrument") or "unknown"),
        **_wcs_cards(_num(fields.get("cdelt"), 1.0), size, crpix, crval, _num(fields.get("roll"), 0.0)),
        "HGLN_OBS": _num(fields.get("hgln_obs"), 0.0), "HGLT_OBS": _num(fields.get("hglt_obs"), 0.0),
        "DSUN_OBS": _num(fields.get("dsun_obs"), 1.495978707e11), "RSUN_OBS": _num(fields.get("rsun_obs"), 959.6),
    }
    if fields.get("time"):
        header["DATE-OBS"] = str(fields["time"])
    wl = _num(fields.get("wavelength"))
    if np.isfinite(wl):
        header.update({"WAVELNTH": wl, "WAVEUNIT": "angstrom"})
    if kind == "magnetogram":
        header.update({"BUNIT": KINDS["magnetogram"].fits_bunit, "CONTENT": "MAGNETOGRAM"})
    if fields.get("source"):
        header["HGSOURCE"] = str(fields["source"])[-68:]
    if int(_num(fields.get("crop_x"), -1)) >= 0:
        header.update({"HGCROPX": int(fields["crop_x"]), "HGCROPY": int(fields["crop_y"])})
    if fields.get("augment"):
        header["HGAUGMEN"] = str(fields["augment"])
    return header


def sample_header(store, index: int) -> dict:
    """The header (dict) of stored sample ``index``: its own WCS, time and observer."""
    return header_from_fields(store.row(index), store.kind, store.size)


def _common_pointing(table, size: int):
    """``(crval1, crval2)`` of the image centre shared by every sample (within a pixel), or None."""
    cols = ("crpix1", "crpix2", "crval1", "crval2", "cdelt")
    if len(table) == 0 or any(c not in table for c in cols):
        return None
    crpix1, crpix2, crval1, crval2, cdelt = (table[c].to_numpy(dtype=float) for c in cols)
    if not np.isfinite(np.stack([crpix1, crpix2, crval1, crval2, cdelt])).all():
        return None
    centre = (size + 1) / 2
    # sky position of each image's centre; linear in the TAN plane (its distortion is < 0.02" within 20')
    cx, cy = crval1 + (centre - crpix1) * cdelt, crval2 + (centre - crpix2) * cdelt
    tol = float(np.median(cdelt))
    mx, my = float(np.median(cx)), float(np.median(cy))
    if np.abs(cx - mx).max() > tol or np.abs(cy - my).max() > tol:
        return None
    return mx, my


def _mode(values):
    values = [v for v in values if v]
    return max(set(values), key=values.count) if values else ""


def grid_header_from_store(store) -> dict:
    """A header template (dict) for generated images on the store's grid (see the module notes).

    Helioprojective axes centred on the training images' common position where they share one,
    else linear offset axes that claim no solar position.
    """
    table = store.table()
    size = store.size

    def med(col, default):
        v = table[col].to_numpy(dtype=float) if col in table else np.array([])
        v = v[np.isfinite(v)]
        return float(np.median(v)) if v.size else default

    times = sorted(t for t in table["time"] if t)
    # EUV grids are disk centred by construction (also in stores built before the pointing columns)
    pointing = (0.0, 0.0) if store.kind == "euv" else _common_pointing(table, size)
    header = {
        "TELESCOP": _mode(list(table["observatory"])) or "unknown",
        "INSTRUME": _mode(list(table["instrument"])) or "unknown",
        "DATE-OBS": times[len(times) // 2] if times else "2011-01-01T00:00:00",
        **_wcs_cards(med("cdelt", 1.0), size, ((size + 1) / 2, (size + 1) / 2), pointing or (np.nan, np.nan)),
        "BUNIT": KINDS[store.kind].fits_bunit if store.kind in KINDS else "",
        "HGLN_OBS": med("hgln_obs", 0.0), "HGLT_OBS": med("hglt_obs", 0.0),
        "DSUN_OBS": med("dsun_obs", 1.495978707e11), "RSUN_OBS": med("rsun_obs", 959.6),
    }
    wl = med("wavelength", np.nan)
    if np.isfinite(wl):
        header.update({"WAVELNTH": wl, "WAVEUNIT": "angstrom"})
    if store.kind == "euv":
        header["EXPTIME"] = 1.0  # values are already per second
    if store.kind == "magnetogram":
        header["CONTENT"] = "MAGNETOGRAM"
    return header


def grid_map(data: np.ndarray, template: dict, **extra):
    """A sunpy map of ``data`` on the template's grid, with extra keywords."""
    import sunpy.map

    header = dict(template)
    header.update({k.upper(): v for k, v in extra.items() if v is not None})
    ny, nx = data.shape
    header["CRPIX1"], header["CRPIX2"] = (nx + 1) / 2, (ny + 1) / 2
    return sunpy.map.Map(np.asarray(data, dtype=np.float32), header)
