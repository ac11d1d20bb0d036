"""Fetching real AIA, HMI and MDI data with sunpy's Fido.

``via="fido"`` searches the VSO (no account needed); ``via="jsoc"`` makes a JSOC export
request through Fido's JSOC client (which uses drms) and needs a JSOC-registered e-mail,
taken from ``JSOC_EMAIL``. Downloads go through parfive with ``overwrite=False``: files
already in the output directory are kept, so an interrupted fetch resumes where it stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import HeliogenError

__all__ = ["build_query", "search", "fetch", "JSOC_SERIES"]

log = logging.getLogger("heliogen.data")

JSOC_SERIES = {"aia": "aia.lev1_euv_12s", "hmi": "hmi.M_720s", "mdi": "mdi.fd_M_96m_lev182"}


def _cadence(cadence: str):
    import astropy.units as u
    import pandas as pd

    try:
        seconds = pd.Timedelta(cadence).total_seconds()
    except ValueError:
        raise HeliogenError(f"cannot read cadence {cadence!r}; use e.g. 6h, 12min, 720s") from None
    if seconds <= 0:
        raise HeliogenError("cadence must be positive")
    return seconds * u.s


def build_query(instrument: str, start: str, end: str, cadence: str, wavelength: int = 193, via: str = "fido", email: str | None = None) -> list:
    """The Fido attributes for one request (a list to be and-ed together).

    Raises
    ------
    HeliogenError
        For an unknown instrument or route, unreadable times, or a JSOC request without e-mail.
    """
    import astropy.units as u
    from astropy.time import Time
    from sunpy.net import attrs as a

    if instrument not in JSOC_SERIES:
        raise HeliogenError(f"unknown instrument {instrument!r}; choose from {', '.join(JSOC_SERIES)}")
    try:
        t0, t1 = Time(start), Time(end)
    except ValueError as err:
        raise HeliogenError(f"cannot read the time range: {err}") from None
    if t1 <= t0:
        raise HeliogenError("--end must be after --start")
    query = [a.Time(t0, t1), a.Sample(_cadence(cadence))]
    if via == "jsoc":
        if not email:
            raise HeliogenError("a JSOC export needs a registered e-mail: set JSOC_EMAIL or pass --email")
        query += [a.jsoc.Series(JSOC_SERIES[instrument]), a.jsoc.Notify(email)]
        if instrument == "aia":
            query += [a.Wavelength(wavelength * u.AA), a.jsoc.Segment("image")]
        else:
            query += [a.jsoc.Segment("magnetogram" if instrument == "hmi" else "data")]
    elif via == "fido":
        query += [getattr(a.Instrument, instrument)]
        query += [a.Wavelength(wavelength * u.AA)] if instrument == "aia" else [a.Physobs.los_magnetic_field]
    else:
        raise HeliogenError(f"unknown route {via!r}; choose fido or jsoc")
    return query


def search(instrument, start, end, cadence, wavelength=193, via="fido", email=None):
    """Run the Fido search; return the result table collection."""
    from sunpy.net import Fido

    query = build_query(instrument, start, end, cadence, wavelength, via, email)
    try:
        result = Fido.search(*query)
    except Exception as err:  # noqa: BLE001 - network stacks raise many types
        raise HeliogenError(f"data search failed ({type(err).__name__}: {err}); is the network reachable?") from None
    log.info("found %d record(s)", sum(len(r) for r in result))
    return result


def fetch(instrument, start, end, cadence, out, wavelength=193, via="fido", email=None) -> list[Path]:
    """Search and download into ``out``; return the files now present for the request."""
    from sunpy.net import Fido

    result = search(instrument, start, end, cadence, wavelength, via, email)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HeliogenError(f"cannot create {out}: {err.strerror}") from None
    files = Fido.fetch(result, path=str(out / "{file}"), overwrite=False, progress=True)
    if getattr(files, "errors", None):
        raise HeliogenError(f"{len(files.errors)} download(s) failed; run the same command again to resume")
    return sorted(Path(f) for f in files)
