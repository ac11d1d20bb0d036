"""``heliogen data labels``: attach GOES flare labels to each image of a store.

For each image time t the label is the peak XRS-B (1-8 Angstrom) flux within
``[t - window/2, t + window/2]`` (flare-class diffusion poster, "Data sources"), its GOES
class letter, and its log10. XRS light curves are the primary source; a flare list (SWPC
layout) adds the events it lists, and the larger flux wins. Images neither covers stay
unlabelled (class "" and flux NaN) and are counted in the summary; a training run that
needs labels refuses them.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import BadInput, HeliogenError
from .goes import goes_class, peak_flux, read_flare_list, read_xrs
from .store import Store

__all__ = ["attach_labels", "LABEL_COLUMNS"]

log = logging.getLogger("heliogen.data")

LABEL_COLUMNS = {"goes_flux": "float64", "goes_class": "str", "log10_flux": "float64", "label_source": "str"}


def attach_labels(store_path, goes_files=(), flare_list=None, window_minutes: float = 60.0) -> dict:
    """Compute and store flare labels; return counts per class (and ``unlabelled``).

    Parameters
    ----------
    store_path : path
        A store built by ``heliogen data build``.
    goes_files : sequence of path
        GOES XRS files (FITS, netCDF or CSV); unreadable ones are skipped with a reason.
    flare_list : path, optional
        SWPC-style flare list CSV.
    window_minutes : float
        Full width of the window centred on each image time.
    """
    import pandas as pd

    if not goes_files and flare_list is None:
        raise HeliogenError("give at least one --goes file or a --flare-list")
    if not window_minutes > 0:
        raise HeliogenError("--window must be positive")
    store = Store(store_path, mode="r+")
    if store.n == 0:
        raise HeliogenError(f"{store_path} holds no images to label")
    curves = []
    for path in goes_files:
        try:
            curves.append(read_xrs(path))
        except BadInput as err:
            log.warning("skip %s: %s", path, err.reason)
    if goes_files and not curves and flare_list is None:
        raise HeliogenError("none of the --goes files could be read")
    xrs = pd.concat(curves).sort_index() if curves else None
    flares = read_flare_list(flare_list) if flare_list is not None else None

    store.times()  # raises if any sample lacks a time
    times = list(store.column("time"))
    flux, source = peak_flux(times, xrs=xrs, flares=flares, window_minutes=window_minutes)
    classes = goes_class(flux)
    with np.errstate(invalid="ignore", divide="ignore"):
        logflux = np.where(np.isfinite(flux), np.log10(flux), np.nan)
    for name, values in (("goes_flux", flux), ("goes_class", classes), ("log10_flux", logflux), ("label_source", source)):
        store.write_column(name, values, LABEL_COLUMNS[name])
    counts = {c: int((classes == c).sum()) for c in ("A", "B", "C", "M", "X")}
    counts["unlabelled"] = int((classes == "").sum())
    store.commit(labels={"window_minutes": window_minutes, "goes_files": [str(p) for p in goes_files],
                         "flare_list": str(flare_list) if flare_list else None, "counts": counts})
    return counts
