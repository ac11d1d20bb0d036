"""heliogen superres: FITS out with the WCS on the 4x grid, uncertainty extensions, tiling that
changes nothing where one tile holds a pixel, batch independence, MDI scaling and bad inputs."""

import numpy as np
import pytest
import sunpy.map
from astropy.io import fits

from heliogen.cli import main
from heliogen.data.build import build_store
from heliogen.data.synth import synth_magnetogram, write_synth
from heliogen.superres.infer import superres_files
from heliogen.superres.tiling import blend_window, position_noise, tile_starts
from heliogen.superres.train import SuperResSettings, train_superres
from heliogen.training.trainer import TrainSettings

pytestmark = pytest.mark.filterwarnings("ignore:'datfix' made the change", "ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("infer")
    write_synth("magnetogram", 2, 256, 5, root / "hmi", start="2011-01-09T00:00:00")
    build_store(root / "hmi", root / "p.zarr", "magnetogram", None, crop=32, crop_mode="random", n_random=4, pairs=4, progress=False)
    out = {}
    for model in ("enhance", "ddpm-res"):
        train_superres(root / "p.zarr", root / model, TrainSettings(steps=1, batch=2, progress=False, checkpoint_every=1),
                       SuperResSettings(model=model, width=8, blocks=2, timesteps=50))
        out[model] = root / model
    mdi = synth_magnetogram(5, 32, "mdi", date_obs="2011-01-09T06:00:00")
    mdi.save(root / "mdi.fits")
    return root, out


def test_tiles_cover_and_windows_blend():
    assert tile_starts(48, 24, 8) == [0, 16, 24] and tile_starts(20, 24, 8) == [0]
    w = blend_window(16, 4, (False, True, True, False))
    assert w[:12, 4:].min() == 1.0 and w[-1, 8] < 0.1 and w[8, 0] < 0.1 and w[0, -1] == 1.0
    # noise is fixed by position: a region cut from a larger draw equals its own draw
    big = position_noise(3, (1, 40, 40), 8, 16)
    np.testing.assert_array_equal(big[:, 5:21, 7:30].numpy(), position_noise(3, (1, 16, 23), 13, 23).numpy())


def test_mdi_full_disk_gives_a_fits_with_wcs_uncertainty_and_provenance(runs, tmp_path):
    root, run = runs
    summary = superres_files([root / "mdi.fits"], tmp_path, run["ddpm-res"], samples=3, steps=3, tile=16, overlap=4, progress=False)
    (path,) = summary["written"]
    with fits.open(path) as hdus:
        names = [h.name for h in hdus]
        assert names == ["PRIMARY", "STD", "STD_SMALL", "STD_LARGE", "UNC_MASK", "PROVENANCE"]
        mean, std, prov = hdus[0].data, hdus["STD"].data, hdus["PROVENANCE"]
        assert list(prov.data["seed"]) == [0, 1, 2] and prov.header["HGMODEL"] == "ddpm-res" and prov.header["HGSTEPS"] == 3
        assert hdus[0].header["HGMDISCL"].startswith("x1/1.4")
    src = sunpy.map.Map(root / "mdi.fits")
    out, std_map, *_ = sunpy.map.Map(path)  # every image extension is a map on the same grid
    assert out.data.shape == (128, 128) and out.meta["bunit"] == "Gauss"
    assert std_map.wcs.wcs.compare(out.wcs.wcs)
    # off-disk NaN stays NaN, on-disk is finite, and the samples differ somewhere
    off = np.repeat(np.repeat(np.isnan(src.data), 4, 0), 4, 1)
    np.testing.assert_array_equal(np.isnan(mean), off)
    assert np.isfinite(std[~off]).all() and std[~off].max() > 0
    # WCS round trip: output pixel centres land where the input's sub-pixel positions are
    import astropy.units as u

    for i, j in ((0, 0), (37, 101), (127, 64)):
        c = out.pixel_to_world(j * u.pix, i * u.pix)
        x, y = src.world_to_pixel(c)
        assert abs(x.value - ((j + 0.5) / 4 - 0.5)) < 1e-3 and abs(y.value - ((i + 0.5) / 4 - 0.5)) < 1e-3
    assert out.observer_coordinate.radius.to_value(u.m) == pytest.approx(src.observer_coordinate.radius.to_value(u.m))


def test_tiled_equals_untiled_where_one_tile_holds_the_pixel(runs, tmp_path):
    root, run = runs
    crop = synth_magnetogram(5, 48, "hmi", date_obs="2011-01-09T06:00:00", cdelt=2.0, center=(-300.0, 200.0))
    crop.save(tmp_path / "crop.fits")
    whole = superres_files([tmp_path / "crop.fits"], tmp_path / "a", run["enhance"], tile=48, progress=False)
    tiled = superres_files([tmp_path / "crop.fits"], tmp_path / "b", run["enhance"], tile=24, overlap=8, progress=False)
    a, b = fits.getdata(whole["written"][0]), fits.getdata(tiled["written"][0])
    # tile 0 alone holds input pixels 0..15 and its receptive field (a few pixels) stays inside it below 10
    np.testing.assert_allclose(b[:40, :40], a[:40, :40], rtol=0, atol=1e-3)
    assert np.abs(b - a).max() > 1e-3  # near the seams the tiles see other context: blending shows


def test_result_does_not_depend_on_the_tile_batch(runs, tmp_path):
    root, run = runs
    one = superres_files([root / "mdi.fits"], tmp_path / "1", run["ddpm-res"], samples=2, steps=2, tile=16, overlap=4, tile_batch=1, progress=False)
    many = superres_files([root / "mdi.fits"], tmp_path / "5", run["ddpm-res"], samples=2, steps=2, tile=16, overlap=4, tile_batch=5, progress=False)
    np.testing.assert_allclose(fits.getdata(one["written"][0]), fits.getdata(many["written"][0]), rtol=0, atol=1e-3, equal_nan=True)


def test_bad_inputs_are_skipped_with_one_line_reasons(runs, tmp_path, capsys):
    root, run = runs
    euv = write_synth("euv", 1, 32, 1, tmp_path / "euv")[0]
    data = np.ones((16, 16), dtype=np.float32)
    fits.PrimaryHDU(data, fits.Header({"CONTENT": "MAGNETOGRAM", "BUNIT": "Gauss"})).writeto(tmp_path / "nounits.fits")
    fits.PrimaryHDU(data, fits.Header({"CONTENT": "MAGNETOGRAM", "BUNIT": "Gauss", "CUNIT1": "arcsec", "CUNIT2": "arcsec",
                                       "CDELT1": 2.0, "CDELT2": 2.0})).writeto(tmp_path / "nowcs.fits")
    fits.PrimaryHDU(np.ones((3, 16, 16), dtype=np.float32)).writeto(tmp_path / "cube.fits")
    bad = [euv, tmp_path / "nowcs.fits", tmp_path / "nounits.fits", tmp_path / "cube.fits"]
    summary = superres_files(bad, tmp_path / "o", run["enhance"], progress=False)
    reasons = summary["skipped"]
    assert all("\n" not in r for r in reasons.values())
    assert "not a magnetogram" in reasons[str(euv)] and "no WCS (CTYPE1, CTYPE2, CRPIX1" in reasons[str(tmp_path / "nowcs.fits")]
    assert "coordinate units" in reasons[str(tmp_path / "nounits.fits")]
    assert "3-D" in reasons[str(tmp_path / "cube.fits")] and summary["written"] == []
    with pytest.raises(SystemExit) as exit_info:
        main(["superres", str(euv), "-o", str(tmp_path / "c"), "--model", str(root / "p.zarr")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err
