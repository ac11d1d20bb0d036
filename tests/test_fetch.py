"""Real-data fetching: the queries offline, the download itself only with a network."""

import os

import pytest
from sunpy.net import attrs as a

from heliogen.data.fetch import JSOC_SERIES, build_query, fetch
from heliogen.errors import HeliogenError


def _names(query):
    return {type(q).__name__ for q in query}


def test_fido_queries():
    q = build_query("aia", "2011-01-01", "2011-01-02", "6h", wavelength=193)
    assert {"Time", "Sample", "Instrument", "Wavelength"} <= _names(q)
    sample = next(x for x in q if isinstance(x, a.Sample))
    assert sample.value == pytest.approx(6 * 3600)
    wave = next(x for x in q if isinstance(x, a.Wavelength))
    assert wave.min.to_value("Angstrom") == 193
    q = build_query("mdi", "2009-01-01", "2009-01-02", "96min")
    assert any(isinstance(x, a.Physobs) and x.value.lower() == "los_magnetic_field" for x in q)


def test_jsoc_queries_need_email():
    q = build_query("hmi", "2015-01-01", "2015-01-02", "12h", via="jsoc", email="someone@example.org")
    series = next(x for x in q if isinstance(x, a.jsoc.Series))
    assert series.value == JSOC_SERIES["hmi"]
    with pytest.raises(HeliogenError, match="JSOC_EMAIL"):
        build_query("hmi", "2015-01-01", "2015-01-02", "12h", via="jsoc", email=None)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"instrument": "eit"}, "unknown instrument"),
    ({"cadence": "often"}, "cannot read cadence"),
    ({"start": "not a time"}, "cannot read the time range"),
    ({"via": "ftp"}, "unknown route"),
])
def test_bad_requests(kwargs, fragment):
    args = {"instrument": "aia", "start": "2011-01-01", "end": "2011-01-02", "cadence": "6h", **kwargs}
    with pytest.raises(HeliogenError, match=fragment):
        build_query(**args)


@pytest.mark.remote
@pytest.mark.skipif(not os.environ.get("HELIOGEN_REMOTE"), reason="needs the network (set HELIOGEN_REMOTE=1)")
def test_real_fetch_resumes(tmp_path):
    first = fetch("aia", "2011-06-07T06:00", "2011-06-07T06:01", "1min", tmp_path, wavelength=193)
    assert first and all(p.exists() for p in first)
    again = fetch("aia", "2011-06-07T06:00", "2011-06-07T06:01", "1min", tmp_path, wavelength=193)
    assert sorted(again) == sorted(first)
