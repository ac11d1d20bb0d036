"""Paired MDI/HMI stores: matching by time, co-registration through WCS, the CLI build."""

import shutil
import warnings

import numpy as np
import pytest
import sunpy.map
from astropy.io import fits
from scipy import ndimage

from heliogen.cli import main
from heliogen.data.pairs import coregister, match_pairs
from heliogen.data.store import open_store
from heliogen.data.synth import synth_magnetogram, write_synth
from heliogen.errors import HeliogenError

pytestmark = pytest.mark.filterwarnings("ignore:'datfix' made the change")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    hmi = write_synth("magnetogram", 4, 256, 7, root / "hmi", instrument="hmi", start="2010-06-01T00:00:00", cadence="6h")
    mdi = write_synth("magnetogram", 3, 64, 7, root / "mdi", instrument="mdi", start="2010-06-01T00:10:00", cadence="6h")
    far = write_synth("magnetogram", 1, 64, 7, root / "far", instrument="mdi", start="2010-07-01T00:00:00")
    return root, hmi, mdi, far


def test_files_pair_by_time_one_to_one(files, tmp_path):
    _, hmi, mdi, far = files
    near = shutil.copy(mdi[0], tmp_path / "mdi_second_look.fits")  # 5 min after mdi[0]: the farther of two claims
    fits.setval(near, "DATE-OBS", value="2010-06-01T00:15:00")
    broken = tmp_path / "broken.fits"
    broken.write_text("not FITS")
    pairs, skipped = match_pairs(hmi, [*mdi, *far, near, broken], tolerance_min=30)
    assert [(h.name, m.name, dt) for h, m, dt in pairs] == [(h.name, m.name, 600.0) for h, m in zip(hmi[:3], mdi)]
    assert skipped[str(hmi[3].resolve())].startswith("no low-resolution file within 30 min (nearest ")
    assert skipped[str(far[0].resolve())].startswith("no high-resolution file within 30 min (nearest 42120.0 min)")
    assert "pairs with" in skipped[str(near.resolve())] and str(broken.resolve()) in skipped
    assert match_pairs(hmi, mdi, tolerance_min=5)[0] == []  # 10 min apart
    with pytest.raises(HeliogenError, match="positive"):
        match_pairs(hmi, mdi, tolerance_min=0)


def _upside_down(smap):
    """The same observation written as HMI writes it: rotated by 180 deg, CROTA2 = 180."""
    meta = smap.meta.copy()
    ny, nx = smap.data.shape
    meta["crota2"] = 180.0
    meta["crpix1"], meta["crpix2"] = nx + 1 - meta["crpix1"], ny + 1 - meta["crpix2"]
    return sunpy.map.Map(np.rot90(smap.data, 2), meta)


def test_coregistered_mdi_is_the_hmi_field_through_mdis_psf():
    """Known answer: noiseless MDI, reprojected onto HMI's 4x-coarsened grid, equals HMI's field
    blurred by MDI's 3.32" PSF and block-averaged, whatever MDI's offset, roll and vantage."""
    date, centre = "2011-01-09T12:00:00", (-380.0, 330.0)
    hmi = synth_magnetogram(2, 192, "hmi", date_obs=date, cdelt=1.0, center=centre, noise=0)
    mdi = synth_magnetogram(2, 72, "mdi", date_obs=date, cdelt=2.0, center=centre, noise=0)
    _, hr, lr, how = coregister(hmi, mdi, factor=4, algorithm="exact")
    assert how == "" and lr.shape == (48, 48)
    truth = ndimage.gaussian_filter(hr, 3.32 / 2.3548, mode="nearest").reshape(48, 4, 48, 4).mean(axis=(1, 3))
    inner = (slice(3, -3), slice(3, -3))
    a, b = truth[inner].ravel(), lr[inner].ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.99
    assert np.polyfit(a, b, 1)[0] == pytest.approx(1.0, abs=0.05)  # MDI's 1.4 undone
    # HMI as written (upside down): the same pixels and the same partner, exactly
    turned, hr2, lr2, how2 = coregister(_upside_down(hmi), mdi, factor=4, algorithm="exact")
    assert how2 == "exact" and abs(turned.meta["crota2"] if "crota2" in turned.meta else 0.0) < 1e-9
    np.testing.assert_array_equal(hr2, hr)
    np.testing.assert_allclose(lr2, lr, rtol=0, atol=1e-6 * np.abs(lr).max())


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_cli_builds_a_paired_store_skips_the_unpaired_and_resumes(files, tmp_path, capsys):
    root, hmi, mdi, far = files
    lr = tmp_path / "lr"
    lr.mkdir()
    for f in [*mdi, *far]:
        shutil.copy(f, lr)
    # the partner of the third HMI file has a good header but no finite pixel
    with fits.open(lr / mdi[2].name, mode="update") as hdus:
        hdu = hdus[0] if hdus[0].data is not None else hdus[1]
        hdu.data = np.full_like(hdu.data, np.nan)
    out = tmp_path / "pairs.zarr"
    argv = ["-q", "data", "build", "--kind", "magnetogram-pairs", "--hr", str(root / "hmi"), "--lr", str(lr),
            "--out", str(out), "--crop", "64"]
    code, text, err = _run(argv, capsys)
    assert code == 0, err
    assert "2 samples" in text and "skipped 1 x its low-resolution partner" in text
    assert "skipped 1 x no low-resolution file within 30 min" in text and "skipped 1 x no high-resolution file" in text
    store = open_store(out)
    assert store.n == 2 and store.group["lowres"].shape[1:] == (1, 16, 16)
    table = store.table()
    assert list(table["pair_dt"]) == [600.0, 600.0]
    assert [p.split("/")[-1] for p in table["pair_source"]] == [mdi[0].name, mdi[1].name]
    assert store.attrs["config"]["pair_tolerance"] == 30.0
    # the crops sit on the strongest field, with the block grid shared by both images
    assert all(x % 4 == 0 and y % 4 == 0 for x, y in zip(table["crop_x"], table["crop_y"]))
    images, lowres = store.group["images"][:2, 0], store.group["lowres"][:2, 0]
    assert np.abs(images).max() > 1000
    for k in range(2):  # each twin is MDI / 1.4 reprojected onto HMI's grid coarsened 4x, recomputed here
        hmi_map, mdi_map = sunpy.map.Map(hmi[k]), sunpy.map.Map(mdi[k])
        np.testing.assert_array_equal(images[k], np.nan_to_num(hmi_map.data)[table["crop_y"][k]:][:64, table["crop_x"][k]:][:, :64])
        meta = dict(hmi_map.meta, cdelt1=hmi_map.meta["cdelt1"] * 4, cdelt2=hmi_map.meta["cdelt2"] * 4, naxis1=64, naxis2=64,
                    crpix1=(hmi_map.meta["crpix1"] - 0.5) / 4 + 0.5, crpix2=(hmi_map.meta["crpix2"] - 0.5) / 4 + 0.5)
        coarse = sunpy.map.Map(np.zeros((64, 64)), meta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = np.nan_to_num(mdi_map.reproject_to(coarse.wcs, algorithm="adaptive").data / 1.4)
        y, x = table["crop_y"][k] // 4, table["crop_x"][k] // 4
        np.testing.assert_allclose(lowres[k], want[y:y + 16, x:x + 16], rtol=1e-5, atol=1e-3)
    code, text, _ = _run(argv, capsys)  # resumed: nothing to add, the same skips
    assert code == 0 and "(+0 from 0 files, 2 files already done" in text


@pytest.mark.parametrize("extra, message", [
    (["--crop", "64"], "needs both --hr"),
    (["--crop", "62", "--lr", "LR"], "not divisible by the factor 4"),
    (["--lr", "LR"], "needs --crop"),
    (["--crop", "64", "--lr", "LR", "--size", "32"], "leave --size and --pairs out"),
])
def test_cli_pair_mistakes_are_one_line_errors(files, tmp_path, capsys, extra, message):
    root = files[0]
    argv = ["data", "build", "--kind", "magnetogram-pairs", "--hr", str(root / "hmi"), "--out", str(tmp_path / "x.zarr")]
    code, _, err = _run(argv + [a.replace("LR", str(root / "mdi")) for a in extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(["data", "build", "--kind", "euv", "--hr", str(root / "hmi"), "--out", str(tmp_path / "y.zarr")], capsys)
    assert code == 2 and "--hr and --lr apply to --kind magnetogram-pairs only" in err


def test_closest_pairs_first_self_pairs_refused_and_times_from_any_header(tmp_path):
    def f(name, **cards):
        path = tmp_path / f"{name}.fits"
        fits.PrimaryHDU(np.zeros((4, 4), np.float32), fits.Header(cards)).writeto(path)
        return path

    h0, h10 = f("h0", **{"DATE-OBS": "2010-06-01T00:00:00"}), f("h10", **{"DATE-OBS": "2010-06-01T00:10:00"})
    l1, l2 = f("l1", **{"DATE-OBS": "2010-06-01T00:01:00"}), f("l2", **{"DATE-OBS": "2010-06-01T00:02:00"})
    pairs, skipped = match_pairs([h0, h10], [l1, l2], tolerance_min=30)
    assert [(h.name, lo.name, dt) for h, lo, dt in pairs] == [("h0.fits", "l1.fits", 60.0), ("h10.fits", "l2.fits", 480.0)]
    assert skipped == {}
    pairs, skipped = match_pairs([h0], [l1, l2], tolerance_min=30)
    assert skipped[str(l2.resolve())] == "every high-resolution file within 30 min pairs with one nearer in time"
    pairs, skipped = match_pairs([h0, h10], [l1], tolerance_min=30)  # one low-resolution file serves one pair
    assert [(h.name, lo.name) for h, lo, _ in pairs] == [("h0.fits", "l1.fits")]
    assert skipped[str(h10.resolve())] == "every low-resolution file within 30 min pairs with one nearer in time"
    pairs, skipped = match_pairs([h0, l1], [l1], tolerance_min=30)
    assert pairs == [] and skipped[str(l1.resolve())] == "given as both a high- and a low-resolution file"
    # JSOC's T_OBS (TAI: 34 s ahead of UTC in 2010), and a date with its time in TIME-OBS
    tai = f("tai", T_OBS="2010.06.01_00:00:34_TAI")
    split = f("split", **{"DATE-OBS": "2010-06-01", "TIME-OBS": "00:05:00"})
    bad = f("bad", **{"DATE-OBS": "yesterday"})
    pairs, skipped = match_pairs([h0], [tai, split, bad], tolerance_min=30)
    assert [(lo.name, dt) for _, lo, dt in pairs] == [("tai.fits", 0.0)]
    assert "every high-resolution file" in skipped[str(split.resolve())]
    assert skipped[str(bad.resolve())].startswith("no readable observation time") and "\n" not in skipped[str(bad.resolve())]


def test_non_magnetograms_are_refused_as_either_side(files, tmp_path, capsys):
    root, hmi, mdi, _ = files
    write_synth("euv", 1, 64, 7, tmp_path / "euv", start="2010-06-01T00:05:00")
    code, text, err = _run(["-q", "data", "build", "--kind", "magnetogram-pairs", "--hr", str(tmp_path / "euv"), "--lr", str(mdi[0]),
                            "--out", str(tmp_path / "x.zarr"), "--crop", "16"], capsys)
    assert code == 2 and "not a magnetogram" in text + err
    code, text, err = _run(["-q", "data", "build", "--kind", "magnetogram-pairs", "--hr", str(hmi[0]), "--lr", str(tmp_path / "euv"),
                            "--out", str(tmp_path / "y.zarr"), "--crop", "16"], capsys)
    assert code == 2 and "its low-resolution partner: not a magnetogram" in text + err
