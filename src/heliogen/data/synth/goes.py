"""Synthetic GOES XRS light curves and SWPC-style flare lists of the seeded Sun.

All values are synthetic. Flares come from `flares`, so their host regions are the
ones seen in the synthetic EUV images and magnetograms of the same seed.
"""

import numpy as np
import pandas as pd

from .flares import flares_between, xrs_flux
from ..goes import flux_to_class
from .history import SyntheticSun
from .timeutil import to_datetime64, to_seconds

__all__ = ["synth_goes", "write_flarelist", "FLARELIST_COLUMNS"]

#: Header of the SWPC flare list (rows carry an extra leading integer index).
FLARELIST_COLUMNS = ["date", "event_no", "start_time", "max_time", "end_time", "goes_sat",
                     "goes_channel", "goes_class_ind", "goes_class", "integrated_flux",
                     "noaa_ar", "ts"]


def synth_goes(seed, start, end, cadence_s=60):
    """Synthetic GOES XRS curve and flare table between two times.

    Parameters
    ----------
    seed : int
        Seed of the synthetic history.
    start, end : str or time-like
        Interval (UTC), end exclusive.
    cadence_s : float
        Sampling cadence in seconds.

    Returns
    -------
    curve : pandas.DataFrame
        Index ``time`` (DatetimeIndex, UTC naive), columns ``xrsa`` (0.5-4 A) and
        ``xrsb`` (1-8 A) in W/m^2.
    flares : pandas.DataFrame
        One row per flare peaking in the interval: ``start``, ``peak``, ``end``,
        ``goes_class`` (e.g. ``'M2.5'``, from the curve value at the peak),
        ``peak_flux`` (W/m^2, the XRS-B curve at the peak), ``integrated_flux``
        (J/m^2) and ``noaa_ar`` (host region).
    """
    sun = SyntheticSun(seed)
    t0, t1 = to_seconds(start), to_seconds(end)
    times = np.arange(t0, t1, float(cadence_s))
    xrsa, xrsb = xrs_flux(sun, times)
    curve = pd.DataFrame({"xrsa": xrsa, "xrsb": xrsb},
                         index=pd.DatetimeIndex(to_datetime64(times), name="time"))
    found = flares_between(sun, t0, t1)
    # The class is that of the curve itself at the peak (background + overlaps included).
    peak_flux = xrs_flux(sun, np.array([f.peak for f in found]))[1] if found else np.array([])
    flares = pd.DataFrame({
        "start": pd.DatetimeIndex(to_datetime64([f.start for f in found])).floor("min"),
        "peak": pd.DatetimeIndex(to_datetime64([f.peak for f in found])),
        "end": pd.DatetimeIndex(to_datetime64([f.end for f in found])).ceil("min"),
        "goes_class": [flux_to_class(p) for p in peak_flux],
        "peak_flux": peak_flux,
        "integrated_flux": [f.integrated() for f in found],
        "noaa_ar": [f.noaa for f in found],
    })
    return curve, flares


def write_flarelist(flares, path, min_class="C"):
    """Write flares in the SWPC flare-list CSV layout (C class and above by default).

    Parameters
    ----------
    flares : pandas.DataFrame
        Flare table from `synth_goes`.
    path : pathlib.Path
    min_class : str
        Smallest class letter listed (SWPC lists C and above).
    """
    keep = flares[flares["goes_class"].str[0].map("ABCMX".index) >= "ABCMX".index(min_class)]
    # As in the real file, rows carry one more field (an index) than the header.
    lines = [",".join(FLARELIST_COLUMNS)]
    for i, row in enumerate(keep.itertuples(index=False)):
        lines.append(",".join([
            str(i), row.start.strftime("%Y%m%d"), str(i + 1), row.start.strftime("%H%M"),
            row.peak.strftime("%H%M"), row.end.strftime("%H%M"), "SYN", "1-8A",
            row.goes_class[0], row.goes_class, f"{row.integrated_flux:.1E}", str(row.noaa_ar),
            row.start.strftime("%Y%m%d%H%M")]))
    path.write_text("\n".join(lines) + "\n")
