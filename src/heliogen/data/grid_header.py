"""FITS headers for images on a store's grid (generated samples, super-resolved outputs).

A generated image has no observation of its own; its header carries the instrument, units
and the helioprojective WCS of the training grid (disk centred, the store's plate scale)
with the training set's median observer, and says it is generated.
"""

from __future__ import annotations

import numpy as np

__all__ = ["grid_header_from_store", "grid_map"]

BUNIT = {"euv": "DN/s", "magnetogram": "Gauss", "granulation": ""}


def _mode(values):
    values = [v for v in values if v]
    return max(set(values), key=values.count) if values else ""


def grid_header_from_store(store) -> dict:
    """A header template (dict) describing the store's image grid and instrument."""
    table = store.table()
    size = store.size

    def med(col, default):
        v = table[col].to_numpy(dtype=float) if col in table else np.array([])
        v = v[np.isfinite(v)]
        return float(np.median(v)) if v.size else default

    times = sorted(t for t in table["time"] if t)
    header = {
        "TELESCOP": _mode(list(table["observatory"])) or "unknown",
        "INSTRUME": _mode(list(table["instrument"])) or "unknown",
        "DATE-OBS": times[len(times) // 2] if times else "2011-01-01T00:00:00",
        "CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "CUNIT1": "arcsec", "CUNIT2": "arcsec",
        "CDELT1": med("cdelt", 1.0), "CDELT2": med("cdelt", 1.0),
        "CRPIX1": (size + 1) / 2, "CRPIX2": (size + 1) / 2, "CRVAL1": 0.0, "CRVAL2": 0.0,
        "BUNIT": BUNIT.get(store.kind, ""),
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
