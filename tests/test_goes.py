import numpy as np
import pandas as pd
import pytest

from heliogen.data.goes import class_to_flux, flux_to_class, goes_class, peak_flux, read_flare_list, read_xrs
from heliogen.errors import BadInput, HeliogenError


def test_class_edges_known_answers():
    flux = [9.99e-8, 1e-7, 5e-7, 1e-6, 9.9e-6, 1e-5, 2.5e-5, 9.99e-5, 1e-4, 3e-3]
    assert list(goes_class(flux)) == ["A", "B", "B", "C", "C", "M", "M", "M", "X", "X"]
    assert goes_class(np.nan) == "" and goes_class(0.0) == "" and goes_class(-1.0) == ""
    assert class_to_flux("M2.5") == pytest.approx(2.5e-5)
    assert class_to_flux("X") == pytest.approx(1e-4)
    assert class_to_flux("b7.1") == pytest.approx(7.1e-7)
    assert flux_to_class(2.5e-5) == "M2.5" and flux_to_class(9.96e-6) == "C9.9" and flux_to_class(1.2e-3) == "X12.0"
    for f in (3.3e-8, 4.4e-7, 7.7e-6):  # a round trip through the string
        assert class_to_flux(flux_to_class(f)) == pytest.approx(f, rel=0.04)
    for bad in ("Q1.0", "", "MM"):
        with pytest.raises(HeliogenError):
            class_to_flux(bad)


def test_real_goes15_file_gives_class_m_at_0630(goes_file):
    xrs = read_xrs(goes_file)
    assert {"xrsa", "xrsb"} <= set(xrs.columns) and len(xrs) > 10000
    flux, source = peak_flux(["2011-06-07T06:30:00"], xrs=xrs, window_minutes=60)
    assert goes_class(flux)[0] == "M"
    assert flux[0] == pytest.approx(2.56e-5, rel=0.01)  # the M2.5 flare of 2011-06-07 (OFFLINE.md: 2.56e-5)
    assert source[0] == "xrs"
    # an independent computation with pandas slicing
    window = xrs.loc["2011-06-07 06:00":"2011-06-07 07:00", "xrsb"]
    assert flux[0] == window.max()
    # outside the file's day: no coverage, no invented label
    flux, source = peak_flux(["2011-06-09T00:00:00"], xrs=xrs)
    assert np.isnan(flux[0]) and source[0] == ""


def test_real_flare_list(flare_list):
    flares = read_flare_list(flare_list)
    assert len(flares) == 8833
    assert set(flares["goes_class"].str[0]) == {"C", "M", "X"}
    assert (flares["end"] >= flares["start"]).all() and (flares["peak"] >= flares["start"]).all()
    row = flares[flares["peak"] == pd.Timestamp("2011-06-07 06:41")].iloc[0]
    assert row["goes_class"] == "M2.5" and row["flux"] == pytest.approx(2.5e-5)
    flux, source = peak_flux(["2011-06-07T06:30:00", "2011-06-07T12:00:00"], flares=flares, window_minutes=60)
    assert goes_class(flux)[0] == "M" and source[0] == "flare-list"
    assert np.isnan(flux[1])


def test_flare_list_and_xrs_take_the_larger(goes_file, flare_list):
    xrs = read_xrs(goes_file)
    flares = read_flare_list(flare_list)
    flux, source = peak_flux(["2011-06-07T06:30:00"], xrs=xrs, flares=flares)
    assert flux[0] == pytest.approx(2.556e-5, rel=1e-3) and source[0] == "xrs"  # XRS 2.56e-5 > listed 2.5e-5


def test_bad_light_curve_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(BadInput):
        read_xrs(bad)
    with pytest.raises(BadInput, match="no such file"):
        read_xrs(tmp_path / "absent.fits")
    junk = tmp_path / "junk.fits"
    junk.write_text("junk")
    with pytest.raises(BadInput):
        read_xrs(junk)


def test_synthetic_goes_round_trip(tmp_path):
    from heliogen.data.synth import write_synth

    write_synth("goes", 8, 0, 4, tmp_path)
    xrs = read_xrs(tmp_path / "goes_xrs_synthetic.csv")
    flares = read_flare_list(tmp_path / "flarelist_synthetic.csv")
    assert len(xrs) > 60 * 24
    assert len(flares) > 0
    flux, _ = peak_flux([t.isoformat() for t in flares["peak"]], xrs=xrs, window_minutes=4)
    # the curve reaches each listed flux at its peak (overlapping flares may add to it)
    assert (flux >= 0.95 * flares["flux"].to_numpy()).all()
    assert (goes_class(flux) == flares["goes_class"].str[0].to_numpy()).mean() > 0.8


def test_goes_r_quality_flags_drop_samples(tmp_path):
    path = tmp_path / "xrs.csv"
    t = pd.date_range("2020-01-01", periods=5, freq="1min")
    pd.DataFrame({"time": t, "xrsa": 1e-8, "xrsb": [1e-7, 1e-7, 5e-4, 1e-7, 1e-7], "xrsb_quality": [0, 0, 8, 0, 0]}).to_csv(path, index=False)
    xrs = read_xrs(path)
    assert len(xrs) == 4 and xrs["xrsb"].max() == pytest.approx(1e-7)  # the flagged X-class spike is gone


def test_class_midpoint_is_the_middle_of_its_decade_in_log10():
    import torch

    from heliogen.data.goes import GOES_CLASSES, class_midpoint_flux, class_midpoint_log10_flux

    expected = {"A": -7.5, "B": -6.5, "C": -5.5, "M": -4.5, "X": -3.5}
    for letter, log10 in expected.items():
        assert class_midpoint_log10_flux(letter) == log10
        assert class_midpoint_flux(letter) == pytest.approx(10.0 ** log10, rel=1e-15)
        assert goes_class(class_midpoint_flux(letter)) == letter  # the midpoint lies in its class
        assert class_midpoint_log10_flux(GOES_CLASSES.index(letter)) == log10
    assert class_midpoint_flux("B") == pytest.approx(3.1623e-7, rel=1e-4)
    assert class_midpoint_log10_flux(" m2.5") == -4.5  # the number after the letter is not the midpoint's business
    np.testing.assert_array_equal(class_midpoint_log10_flux(np.arange(5)), list(expected.values()))
    idx = torch.arange(8) % len(GOES_CLASSES)
    got = class_midpoint_log10_flux(idx)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    assert torch.equal(got, -8.0 + idx.float() + 0.5)  # what the diffusion trainer's grid conditions on
    for bad in ("", "Q", "7"):
        with pytest.raises(HeliogenError, match="unknown GOES class"):
            class_midpoint_log10_flux(bad)
