"""GOES soft X-ray flux: reading XRS light curves and flare lists, and flare classes.

Classes follow NOAA's decades of the 1-8 Angstrom (XRS-B) peak flux, as in the
flare-class diffusion poster: A below 1e-7 W/m^2, B to 1e-6, C to 1e-5, M to 1e-4,
X at 1e-4 and above.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import BadInput, HeliogenError

__all__ = ["GOES_CLASSES", "goes_class", "class_to_flux", "flux_to_class", "class_midpoint_log10_flux",
           "class_midpoint_flux", "read_xrs", "read_flare_list", "peak_flux"]

GOES_CLASSES = ("A", "B", "C", "M", "X")
_EDGES = np.array([1e-7, 1e-6, 1e-5, 1e-4])  # W/m^2, lower edges of B, C, M, X
_LOG10_A = -8.0  # log10 W/m^2 where the A decade starts; each later class starts one decade up


def goes_class(flux) -> np.ndarray | str:
    """GOES class letter(s) of XRS-B flux(es) in W/m^2 ("" for non-finite or non-positive)."""
    flux = np.asarray(flux, dtype=np.float64)
    letters = np.asarray(GOES_CLASSES)[np.searchsorted(_EDGES, flux, side="right")]
    letters = np.where(np.isfinite(flux) & (flux > 0), letters, "")
    return str(letters) if letters.ndim == 0 else letters


def class_to_flux(label: str) -> float:
    """Peak flux in W/m^2 of a class string such as ``"M2.5"`` (a bare letter means 1.0)."""
    label = str(label).strip().upper()
    if not label or label[0] not in GOES_CLASSES:
        raise HeliogenError(f"unknown GOES class {label!r}; use A, B, C, M or X with an optional number")
    base = 10.0 ** (_LOG10_A + GOES_CLASSES.index(label[0]))
    try:
        return base * (float(label[1:]) if label[1:] else 1.0)
    except ValueError:
        raise HeliogenError(f"unknown GOES class {label!r}") from None


def flux_to_class(flux: float) -> str:
    """The full class string of one flux, e.g. ``"M2.5"``; the mantissa is rounded down so the
    printed class never exceeds the flux (C9.96 gives C9.9), and X keeps counting (X12.0)."""
    letter = goes_class(float(flux))
    if not letter:
        raise HeliogenError(f"no GOES class for flux {flux!r}")
    mantissa = float(flux) / 10.0 ** (_LOG10_A + GOES_CLASSES.index(letter))
    return f"{letter}{np.floor(mantissa * 10.0 + 1e-9) / 10.0:.1f}"


def class_midpoint_log10_flux(label):
    """log10 of the flux (W/m^2) in the middle of a class's decade: A -7.5, B -6.5, C -5.5,
    M -4.5, X -3.5. A class given without a flux stands for this value.

    Parameters
    ----------
    label : str, int or integer array (numpy or torch)
        A class letter (a number after it is ignored: ``"M2.5"`` is M), or class indices into
        :data:`GOES_CLASSES`; arrays come back as arrays of the same library.
    """
    if isinstance(label, str):
        letter = label.strip().upper()[:1]
        if letter not in GOES_CLASSES:
            raise HeliogenError(f"unknown GOES class {label!r}; use A, B, C, M or X")
        label = GOES_CLASSES.index(letter)
    return _LOG10_A + label + 0.5


def class_midpoint_flux(label: str) -> float:
    """The flux (W/m^2) in the middle of a class's decade in log10, ``10 ** (log10 floor + 0.5)``:
    B gives 10**-6.5 = 3.16e-7 (:func:`class_midpoint_log10_flux`)."""
    return float(10.0 ** class_midpoint_log10_flux(label))


def read_xrs(path) -> "pandas.DataFrame":
    """An XRS light curve as a DataFrame indexed by UTC time with ``xrsa`` and ``xrsb`` in W/m^2.

    Real GOES files (the FITS of GOES 1-15, netCDF of GOES-R) go through
    ``sunpy.timeseries.TimeSeries``; CSV files need ``time``, ``xrsa`` and ``xrsb`` columns
    (heliogen's synthetic curves are written so). Negative and flagged values are dropped.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise BadInput("no such file", str(path))
    if path.suffix.lower() == ".csv":
        try:
            df = pd.read_csv(path, parse_dates=["time"], index_col="time")
        except (ValueError, KeyError) as err:
            raise BadInput(f"not an XRS CSV with time, xrsa, xrsb columns ({err})", str(path)) from None
    else:
        import sunpy.timeseries

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                df = sunpy.timeseries.TimeSeries(str(path)).to_dataframe()
            except Exception as err:  # noqa: BLE001 - sunpy raises many types for unknown files
                raise BadInput(f"not a GOES XRS file sunpy can read ({type(err).__name__})", str(path)) from None
    missing = {"xrsa", "xrsb"} - set(df.columns)
    if missing:
        raise BadInput(f"no {', '.join(sorted(missing))} column in the light curve", str(path))
    if "xrsb_quality" in df.columns:  # GOES-R: keep only unflagged samples
        df = df[df["xrsb_quality"] == 0]
    df = df[["xrsa", "xrsb"]].astype(float)
    df.index = pd.to_datetime(df.index, utc=True).tz_localize(None)
    df = df[np.isfinite(df["xrsb"]) & (df["xrsb"] > 0)]
    return df.sort_index()


def read_flare_list(path) -> "pandas.DataFrame":
    """A SWPC-style flare list as a DataFrame with ``start, peak, end`` (UTC), ``goes_class``, ``flux``.

    The layout is NOAA SWPC's event list as distributed in CSV (``date`` yyyymmdd and
    ``start_time, max_time, end_time`` as HHMM, ``goes_class`` like ``M2.5``). Events that end
    before they start are taken to cross midnight.
    """
    import pandas as pd

    path = Path(path)
    try:
        raw = pd.read_csv(path, index_col=0, dtype=str)
        date = pd.to_datetime(raw["date"].str.strip(), format="%Y%m%d")
    except (OSError, KeyError, ValueError) as err:
        raise HeliogenError(f"{path} is not a SWPC-style flare list ({err})") from None

    def at(col):
        # SWPC writes "////" for an unknown time: NaT here, filled from the others below.
        hhmm = pd.to_numeric(raw[col].str.strip(), errors="coerce")
        return date + pd.to_timedelta(hhmm // 100, unit="h") + pd.to_timedelta(hhmm % 100, unit="m")

    start, peak, end = at("start_time"), at("max_time"), at("end_time")
    peak = peak.fillna(start)
    start, end = start.fillna(peak), end.fillna(peak)
    peak = peak.where(peak >= start, peak + pd.Timedelta("1D"))
    end = end.where(end >= start, end + pd.Timedelta("1D"))
    classes = raw["goes_class"].str.strip()
    return pd.DataFrame(
        {"start": start, "peak": peak, "end": end, "goes_class": classes, "flux": [class_to_flux(c) for c in classes]}
    ).reset_index(drop=True)


def peak_flux(times, xrs=None, flares=None, window_minutes: float = 60.0):
    """Peak XRS-B flux in a window centred on each time.

    Parameters
    ----------
    times : sequence of datetime-like (UTC)
    xrs : DataFrame, optional
        From :func:`read_xrs`; several files may be concatenated.
    flares : DataFrame, optional
        From :func:`read_flare_list`; a flare counts when ``[start, end]`` meets the window.
    window_minutes : float
        Full width of the window, centred on each time.

    Returns
    -------
    flux : ndarray
        W/m^2; NaN where neither source covers the window.
    source : ndarray of str
        ``"xrs"``, ``"flare-list"`` or ``""`` for each time.
    """
    import pandas as pd

    t = pd.to_datetime(pd.Index(times), utc=True, format="ISO8601" if len(times) and isinstance(times[0], str) else None).tz_localize(None)
    half = pd.Timedelta(minutes=window_minutes / 2)
    flux = np.full(len(t), np.nan)
    source = np.full(len(t), "", dtype=object)
    if xrs is not None and len(xrs):
        idx = xrs.index.values
        b = xrs["xrsb"].to_numpy()
        lo = np.searchsorted(idx, (t - half).values, side="left")
        hi = np.searchsorted(idx, (t + half).values, side="right")
        for i, (a, z) in enumerate(zip(lo, hi)):
            if z > a:
                flux[i] = b[a:z].max()
                source[i] = "xrs"
    if flares is not None and len(flares):
        for i, ti in enumerate(t):
            hit = flares[(flares["start"] <= ti + half) & (flares["end"] >= ti - half)]
            if len(hit) and not (hit["flux"].max() <= flux[i]):
                flux[i] = hit["flux"].max()
                source[i] = "flare-list"
    return flux, source.astype(str)
