"""The image-kind registry: one place that says, per kind, how it is built, normalised, shown."""

import numpy as np
import pytest

from heliogen.data.kinds import KINDS, default_normalisation, fit_normalisation, kind_of_normalisation, kind_spec
from heliogen.data.normalise import Normalisation
from heliogen.errors import HeliogenError


def test_registry_holds_the_three_kinds_and_the_cli_offers_them():
    from heliogen.cli.data import BUILD_KINDS, SYNTH_KINDS

    assert tuple(KINDS) == ("euv", "magnetogram", "granulation")
    assert BUILD_KINDS == (*KINDS, "magnetogram-pairs") and SYNTH_KINDS == (*KINDS, "goes")  # pairs: a magnetogram store
    for name, spec in KINDS.items():
        assert spec.name == name and kind_spec(name) is spec
        assert set(spec.identity_options) <= set(spec.options)
    with pytest.raises(HeliogenError, match="unknown kind 'radio'; choose from euv, magnetogram, granulation"):
        kind_spec("radio")


def test_default_sizes_normalisations_and_model_ranges():
    assert {k: s.default_size for k, s in KINDS.items()} == {"euv": 256, "magnetogram": None, "granulation": 128}
    assert default_normalisation("euv").to_dict() == {"kind": "log_max", "params": {}}
    assert default_normalisation("magnetogram").to_dict() == {"kind": "linear", "params": {"scale": 3000.0}}
    assert default_normalisation("granulation").to_dict() == {"kind": "minmax", "params": {}}
    first = default_normalisation("magnetogram")
    first.params["scale"] = 1.0
    assert default_normalisation("magnetogram").params["scale"] == 3000.0  # each call is a fresh copy
    assert kind_spec("euv").data_range == (0.0, 1.0)
    assert kind_spec("magnetogram").data_range == kind_spec("granulation").data_range == (-1.0, 1.0)
    # the range is where stored extremes land
    rng = np.random.default_rng(0)
    stored = {"euv": rng.uniform(0, 9, 50), "magnetogram": np.r_[-3000.0, rng.uniform(-3000, 3000, 48), 3000.0],
              "granulation": rng.uniform(0.6, 1.4, 50)}
    for kind, values in stored.items():
        norm = default_normalisation(kind)
        norm.update(values)
        x = norm.forward(values)
        lo, hi = kind_spec(kind).data_range
        assert norm.data_range == (lo, hi)
        assert x.min() >= lo - 1e-12 and x.max() == pytest.approx(hi)
        assert x.min() == pytest.approx(lo) if kind != "euv" else x.min() >= lo


def test_one_unit_per_kind_and_granulation_is_intensity_over_its_mean():
    assert {k: s.unit for k, s in KINDS.items()} == {"euv": "DN/s", "magnetogram": "G", "granulation": "I/<I>"}
    assert {k: s.fits_bunit for k, s in KINDS.items()} == {"euv": "DN/s", "magnetogram": "Gauss", "granulation": ""}
    for kind, spec in KINDS.items():
        assert default_normalisation(kind).unit == spec.unit
        assert kind_of_normalisation(spec.normalisation) is spec
    with pytest.raises(HeliogenError):
        kind_of_normalisation("sqrt")


def test_quicklook_colour_bar_reads_the_registry_unit(monkeypatch, tmp_path):
    from heliogen.viz import quicklook

    seen = {}
    monkeypatch.setattr(quicklook, "plot_image_grid", lambda images, output, **kw: seen.update(kw) or output)
    quicklook.plot_grid(np.ones((2, 8, 8)) + np.arange(64).reshape(8, 8), "granulation", tmp_path / "g.png")
    assert seen["colorbar_label"] == "I/<I>"
    assert not hasattr(quicklook, "UNITS")


def test_fit_normalisation_matches_a_store_built_from_the_same_images():
    rng = np.random.default_rng(1)
    euv = np.exp(rng.normal(4, 2, (3, 8, 8)))
    euv[0, 0, 0] = np.nan
    euv[0, 0, 1] = 0.2  # below 1 DN/s: clipped as the preprocessing does
    assert fit_normalisation("euv", euv).params == {"max": pytest.approx(float(np.log(np.nanmax(euv))))}
    gran = rng.uniform(0.5, 1.5, (3, 8, 8))
    gran[1, 1, 1] = np.inf
    finite = gran[np.isfinite(gran)]
    assert fit_normalisation("granulation", gran).params == {"lo": finite.min(), "hi": finite.max()}
    assert fit_normalisation("magnetogram", rng.normal(0, 5000, 10)).params == {"scale": 3000.0}


@pytest.mark.parametrize("kind, physical", [
    ("euv", np.array([0.5, 1.0, 10.0, 3e4])), ("magnetogram", np.array([-5000.0, -10.0, 0.0, 2999.0, 4000.0])),
    ("granulation", np.array([0.7, 1.0, 1.3]))])
def test_stored_from_physical_inverts_physical_inside_the_preprocessing_clips(kind, physical):
    norm = fit_normalisation(kind, physical)
    back = norm.physical(norm.forward(norm.stored_from_physical(physical)))
    clipped = {"euv": np.clip(physical, 1.0, None), "magnetogram": np.clip(physical, -3000, 3000)}.get(kind, physical)
    np.testing.assert_allclose(back, clipped, rtol=1e-12)


def test_rows_per_file_and_options():
    assert kind_spec("euv").rows_per_file({}) == 1
    assert kind_spec("granulation").rows_per_file({}) == 10
    assert kind_spec("granulation").rows_per_file({"augmentations": ["identity"]}) == 1
    mag = kind_spec("magnetogram")
    assert mag.rows_per_file({"crop": 32, "crop_mode": "random", "n_random": 3}) == 3
    assert mag.rows_per_file({"crop": 32, "crop_mode": "list", "positions": {"a": [[0, 0]] * 4, "*": [[1, 1]]}}) == 4
    assert mag.rows_per_file({"crop_mode": "random", "n_random": 3}) == 1  # no crop: the whole image
    assert set(mag.options) == {"crop", "crop_mode", "n_random", "positions", "pairs", "seed", "partners", "pair_tolerance", "reproject"}


def test_build_store_refuses_another_kinds_option(tmp_path):
    from heliogen.data.build import build_store

    with pytest.raises(HeliogenError, match="granulation takes no build option 'wavelength'; it takes augmentations"):
        build_store(tmp_path, tmp_path / "s.zarr", "granulation", 32, wavelength=193)


def test_colormaps_and_display_ranges_come_from_the_registry():
    import sunpy.visualization.colormaps as sunpy_cm

    from heliogen.viz.colormaps import colormap_for, norm_for

    assert kind_spec("euv").colormap_names(171.0, "AIA")[0] == "sdoaia171"
    assert kind_spec("euv").colormap_names(195.0, "EIT")[0] == "sohoeit195"
    assert kind_spec("euv").colormap_names(None) == ["gray"]
    assert colormap_for("euv", 171.0, "AIA") is sunpy_cm.cmlist["sdoaia171"]
    assert colormap_for("euv", 1234.0) is sunpy_cm.cmlist["sdoaia193"]  # a channel without its own map
    assert colormap_for("euv").name == "gray"
    assert colormap_for("magnetogram") is sunpy_cm.cmlist["hmimag"]
    assert colormap_for("granulation") is sunpy_cm.cmlist["hinodesotintensity"]
    assert colormap_for("radio").name == "gray"
    images = np.linspace(-4000, 4000, 100)
    mag = norm_for("magnetogram", images)
    assert (mag.vmin, mag.vmax) == (-1500.0, 1500.0)
    euv = norm_for("euv", np.linspace(1, 1000, 1001))
    assert (euv.vmin, euv.vmax) == pytest.approx(tuple(np.percentile(np.linspace(1, 1000, 1001), [0.5, 99.9])))
    assert type(euv.stretch).__name__ == "AsinhStretch" and type(mag.stretch).__name__ == "LinearStretch"
    gran = norm_for("granulation", np.linspace(0, 1, 201))
    assert (gran.vmin, gran.vmax) == pytest.approx((0.005, 0.995))


def test_normalisation_kinds_keep_their_own_ranges():
    assert Normalisation("log_max").data_range == (0.0, 1.0)
    assert Normalisation("linear", {"scale": 1.0}).data_range == Normalisation("minmax").data_range == (-1.0, 1.0)
