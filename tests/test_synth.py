"""Tests of heliogen's synthetic Sun (all data here are synthetic)."""

import numpy as np
import pandas as pd
import pytest
import sunpy.map
from sunpy.map.sources import AIAMap, HMIMap, MDIMap

import heliogen
from heliogen.data.goes import goes_class as goes_class_letter
from heliogen.data.synth import (SyntheticSun, synth_euv, synth_goes,
                                 synth_granulation, synth_magnetogram, write_synth)
from heliogen.data.synth.flares import flares_between
from heliogen.data.synth.geometry import project, sphere_vectors
from heliogen.data.synth.goes import FLARELIST_COLUMNS
from heliogen.data.synth.timeutil import isot


def _radius(smap):
    """Pixel-centre distance from disk centre in solar radii (linear WCS, CROTA=0)."""
    n = smap.data.shape[0]
    axis = (np.arange(n) - (n - 1) / 2.0) * smap.meta["cdelt1"] + smap.meta["crval1"]
    return np.hypot(axis[None, :], axis[:, None]) / smap.meta["rsun_obs"]


def _pixel(smap, lat, lon):
    """(row, col) of a Stonyhurst position on the image (orthographic, as rendered)."""
    xn, yn, _ = project(sphere_vectors(lat, lon), smap.meta["hglt_obs"])
    n = smap.data.shape[0]
    col = xn * smap.meta["rsun_obs"] / smap.meta["cdelt1"] + (n - 1) / 2.0
    row = yn * smap.meta["rsun_obs"] / smap.meta["cdelt2"] + (n - 1) / 2.0
    return int(round(row)), int(round(col))


@pytest.mark.parametrize("make", [
    lambda s: synth_euv(s, 64).data,
    lambda s: synth_magnetogram(s, 64).data,
    lambda s: synth_granulation(s, 64).data,
    lambda s: synth_goes(s, "2011-01-01", "2011-01-02")[0].to_numpy(),
])
def test_deterministic_per_seed(make):
    a, b, c = make(4), make(4), make(5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.nan_to_num(a), np.nan_to_num(c))


@pytest.mark.parametrize("kind, options, cls, unit", [
    ("euv", {}, AIAMap, "DN"),
    ("euv", {"wavelength": 171}, AIAMap, "DN"),
    ("magnetogram", {}, HMIMap, "G"),
    ("magnetogram", {"instrument": "mdi"}, MDIMap, "G"),
    ("granulation", {}, sunpy.map.GenericMap, ""),
])
def test_fits_round_trip(tmp_path, kind, options, cls, unit):
    paths = write_synth(kind, 2, 64, 7, tmp_path / "x", cadence="12h", **options)
    assert paths == sorted(paths) and len(paths) == 2
    assert paths[1].name.endswith("_20110101T120000_0001.fits")
    smap = sunpy.map.Map(paths[1])
    assert type(smap) is cls
    assert smap.data.dtype.kind == "f" and smap.data.shape == (64, 64)
    assert smap.wcs.wcs.ctype[0] == "HPLN-TAN" and smap.wcs.wcs.ctype[1] == "HPLT-TAN"
    assert smap.reference_pixel.x.value == pytest.approx(31.5)   # 0-based centre
    assert str(smap.unit or "") == unit
    meta = smap.meta
    assert meta["syntheti"] is True and meta["hgseed"] == 7 and meta["hgver"] == heliogen.__version__
    assert meta["origin"] == "heliogen synthetic Sun" and "SYNTHETIC" in str(meta["comment"])
    assert meta["date-obs"].startswith("2011-01-01T12:00:00")
    assert smap.observer_coordinate is not None
    if cls is AIAMap:
        assert smap.exposure_time.value == 2.0 and smap.wavelength.value == options.get("wavelength", 193)
        assert meta["instrume"] == ("AIA_3" if options else "AIA_2") and meta["lvl_num"] == 1.0
        assert meta["cdelt1"] == pytest.approx(0.6 * 4096 / 64)
    if cls is HMIMap:
        assert smap.measurement == "magnetogram" and meta["hgflux"] > 0


def test_aiapy_register_runs(tmp_path):
    register = pytest.importorskip("aiapy.calibrate").register
    smap = sunpy.map.Map(write_synth("euv", 1, 64, 1, tmp_path)[0])
    assert register(smap).meta["lvl_num"] == 1.5


def test_euv_limb_brightening_and_off_limb_falloff():
    smap = synth_euv(3, 256, activity=0.0, flare_flux=1e-8)
    r, d = _radius(smap), smap.data
    centre, limb = d[r < 0.5].mean(), d[(r > 0.93) & (r < 0.99)].mean()
    assert limb > 1.3 * centre
    near, far = d[(r > 1.03) & (r < 1.08)].mean(), d[(r > 1.18) & (r < 1.23)].mean()
    assert far < 0.4 * near
    assert 100 < np.median(d[r < 0.5]) / 2.0 < 300          # quiet-Sun DN/s for 193
    assert d.max() <= 16383


def test_euv_activity_controls_regions():
    sun = SyntheticSun(3)
    low, high = synth_euv(3, 128, activity=0.05), synth_euv(3, 128, activity=0.95)
    assert len(sun.regions(sun.start, activity=0.95)) > len(sun.regions(sun.start, activity=0.05))
    assert (high.data > 3000).sum() > (low.data > 3000).sum()
    assert high.data.sum() > low.data.sum()


def _front_regions(sun, t, max_lon=60.0):
    return [s for s in sun.regions(t) if abs(s.lon) < max_lon and s.flux > 3e21]


def test_magnetogram_range_nan_and_balance():
    smap = synth_magnetogram(2, 256, date_obs="2011-01-09")
    d, r = smap.data, _radius(smap)
    np.testing.assert_array_equal(np.isnan(d), r > 1.0)
    assert np.nanmax(np.abs(d)) <= 3000.0 and np.nanmax(np.abs(d)) > 1000.0
    assert abs(np.nansum(d)) / np.nansum(np.abs(d)) < 0.15


def test_magnetogram_hale_and_joy():
    sun = SyntheticSun(2)
    signs = {}
    tilts = []
    for k in range(0, 40, 4):
        t = sun.time_of(k)
        smap = synth_magnetogram(2, 512, date_obs=isot(t))
        for s in _front_regions(sun, t):
            (llon, llat, lsign), (flon, flat, _) = s.poles
            lead, follow = smap.data[_pixel(smap, llat, llon)], smap.data[_pixel(smap, flat, flon)]
            assert np.sign(lead) == lsign and np.sign(follow) == -lsign
            signs.setdefault(np.sign(s.lat), set()).add(np.sign(lead))
            tilts.append(abs(flat) - abs(llat))      # > 0: leading spot nearer the equator
    assert signs[1.0] == {-1.0} and signs[-1.0] == {1.0}  # Hale's law, opposite hemispheres
    assert np.mean(np.array(tilts) > 0) > 0.8          # Joy's law


def test_magnetogram_partial_field_of_view():
    part = synth_magnetogram(2, 64, date_obs="2011-01-09", cdelt=2.0, center=(-200.0, 100.0))
    assert part.meta["crval1"] == -200.0 and part.scale[0].value == 2.0
    assert np.isfinite(part.data).all()


def _power_peak_per_mm(img, cdelt_km):
    d = img - img.mean()
    power = np.abs(np.fft.fftshift(np.fft.fft2(d))) ** 2
    n = d.shape[0]
    ky, kx = np.indices(power.shape) - n // 2
    k = np.hypot(kx, ky).astype(int)
    prof = np.bincount(k.ravel(), power.ravel()) / np.bincount(k.ravel())
    i = np.argmax(prof[1:n // 2]) + 1
    return i / (n * cdelt_km) * 1000.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_granulation_spectrum_and_contrast(seed):
    smap = synth_granulation(seed, 256, 48.0)
    img = smap.data.astype(float)
    assert 0.5 < _power_peak_per_mm(img, 48.0) < 1.6
    assert img.mean() == pytest.approx(1.0, abs=1e-3)
    assert 0.10 < img.std() < 0.20
    assert smap.meta["cdelt1"] == pytest.approx(48.0 / 725.0)
    # No tiling: the two halves of the patch are unrelated.
    left, right = img[:, :128] - 1, img[:, 128:] - 1
    assert abs(np.corrcoef(left.ravel(), right.ravel())[0, 1]) < 0.2


def test_goes_classes_match_curve(tmp_path):
    curve, flares = synth_goes(3, "2011-01-01", "2011-01-03")
    assert list(curve.columns) == ["xrsa", "xrsb"] and curve.index.name == "time"
    assert (curve.index[1] - curve.index[0]) == pd.Timedelta("60s") and len(curve) == 2 * 1440
    assert curve["xrsb"].min() > 5e-9 and (curve["xrsa"] < curve["xrsb"]).all()
    assert len(flares) > 10
    for row in flares.itertuples():
        at_peak = curve["xrsb"].loc[row.peak]
        assert row.peak_flux == pytest.approx(at_peak)
        assert row.goes_class[0] == goes_class_letter(at_peak)
        assert row.start < row.peak < row.end

    paths = write_synth("goes", 8, seed=3, out=tmp_path)
    assert [p.name for p in paths] == ["flarelist_synthetic.csv", "goes_xrs_synthetic.csv"]
    listing = pd.read_csv(paths[0], index_col=0)
    assert list(listing.columns) == FLARELIST_COLUMNS
    assert set(listing["goes_class_ind"]) <= {"C", "M", "X"} and (listing["goes_sat"] == "SYN").all()
    xrs = pd.read_csv(paths[1], parse_dates=["time"])
    assert len(xrs) == 8 * 6 * 60 and list(xrs.columns) == ["time", "xrsa", "xrsb"]


def test_class_distribution_of_default_images():
    counts = dict.fromkeys("ABCMX", 0)
    for seed in (0, 1):
        sun = SyntheticSun(seed)
        curve, _ = synth_goes(seed, isot(sun.time_of(0) - 1800), isot(sun.time_of(64)))
        for k in range(64):
            t = pd.Timestamp(isot(sun.time_of(k)))
            window = curve["xrsb"].loc[t - pd.Timedelta("30min"): t + pd.Timedelta("30min")]
            counts[goes_class_letter(window.max())] += 1
    frac = {k: v / 128 for k, v in counts.items()}
    assert all(frac[k] > 0 for k in "ABCMX")
    assert 0.15 < frac["C"] < 0.55 and frac["X"] < 0.15


def test_flare_visible_in_euv():
    sun = SyntheticSun(1)
    flares = [f for f in flares_between(sun, sun.time_of(0), sun.time_of(40)) if f.amplitude > 1e-5]
    by_noaa = None
    for f in flares:
        host = {s.region.noaa: s for s in sun.regions(f.peak)}.get(f.noaa)
        if host is not None and abs(host.lon) < 60:
            by_noaa = (f, host)
            break
    assert by_noaa is not None
    flare, host = by_noaa
    when = isot(flare.peak)
    on = synth_euv(1, 256, date_obs=when)
    off = synth_euv(1, 256, date_obs=when, flare_flux=1e-8)
    row, col = _pixel(on, host.lat, host.lon)
    box = np.s_[row - 4:row + 5, col - 4:col + 5]
    assert on.data[box].max() > 1.5 * off.data[box].max()
    assert on.data[box].sum() > off.data[box].sum()
