"""Time helpers for the synthetic Sun: everything is seconds since 2000-01-01 UTC.

A plain float time axis keeps the seeded history cheap to evaluate; leap seconds are
ignored, which is harmless for synthetic data.
"""

import datetime

import numpy as np
import pandas as pd

__all__ = ["EPOCH", "DAY", "to_seconds", "to_datetime64", "parse_cadence", "isot"]

EPOCH = np.datetime64("2000-01-01T00:00:00", "ms")
DAY = 86400.0


def to_seconds(t):
    """Convert a time (or array of times) to float seconds since `EPOCH`.

    Parameters
    ----------
    t : str, datetime, numpy.datetime64, pandas.Timestamp, astropy.time.Time, float or array_like
        Time(s). Floats are taken to already be seconds since `EPOCH`.

    Returns
    -------
    float or numpy.ndarray
    """
    if isinstance(t, (int, float, np.floating, np.integer)):
        return float(t)
    if hasattr(t, "isot") and hasattr(t, "utc"):  # astropy Time
        t = t.utc.isot
    arr = pd.to_datetime(t, utc=True)
    if isinstance(arr, pd.Timestamp):
        return (arr.tz_convert(None).to_datetime64() - EPOCH) / np.timedelta64(1, "s")
    values = np.asarray(arr.tz_convert(None), dtype="datetime64[ms]")
    return (values - EPOCH) / np.timedelta64(1, "s")


def to_datetime64(seconds):
    """Convert seconds since `EPOCH` to ``datetime64[ms]``.

    Parameters
    ----------
    seconds : float or array_like

    Returns
    -------
    numpy.datetime64 or numpy.ndarray
    """
    ms = np.round(np.asarray(seconds, dtype=float) * 1000.0).astype("int64")
    return EPOCH + ms.astype("timedelta64[ms]")


def parse_cadence(cadence):
    """Return a cadence in seconds.

    Parameters
    ----------
    cadence : str, float, datetime.timedelta or pandas.Timedelta
        ``"6h"``, ``"12min"``, a number of seconds, or a timedelta.

    Returns
    -------
    float
    """
    if isinstance(cadence, (int, float, np.floating, np.integer)):
        return float(cadence)
    if isinstance(cadence, datetime.timedelta):
        return cadence.total_seconds()
    return pd.Timedelta(cadence).total_seconds()


def isot(seconds, decimals=3):
    """Format seconds since `EPOCH` as an ISO-8601 UTC string without a zone suffix.

    Parameters
    ----------
    seconds : float
    decimals : int
        Digits kept after the seconds' decimal point.

    Returns
    -------
    str
    """
    text = str(to_datetime64(seconds))  # 'YYYY-MM-DDTHH:MM:SS.mmm'
    return text if decimals >= 3 else text[: 20 + decimals - (decimals == 0)]
