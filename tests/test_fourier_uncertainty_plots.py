"""What the Fourier and uncertainty figures show: the 2" circle (an ellipse in bins on a
non-square map), the spectra drawn, the panels of the uncertainty figure.

The figure each function builds is kept (the real ``save_figure`` still writes the PNG) so
that its artists can be compared with values computed here.
"""

import numpy as np
import pytest

from heliogen.evaluate.metrics import fourier, uncertainty
from heliogen.viz import figures


@pytest.fixture
def built(monkeypatch):
    """Figures passed to ``save_figure`` by the two modules, in order."""
    kept = []

    def keep(fig, path, *args, **kwargs):
        kept.append(fig)
        return figures.save_figure(fig, path, *args, **kwargs)

    monkeypatch.setattr(fourier, "save_figure", keep)
    monkeypatch.setattr(uncertainty, "save_figure", keep)
    return kept


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _tone(shape, ky=0, kx=0):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return np.cos(2 * np.pi * (ky * y / shape[0] + kx * x / shape[1]))


def test_amplitude_spectrum_circle_passes_through_cutoff_tones_on_a_non_square_map(built, tmp_path):
    # 16 x 24 px of 0.5": 0.25 cycles/arcsec is 2 bins down and 3 across. Tones at exactly that
    # frequency along each axis put their peaks on the drawn curve.
    shape = (16, 24)
    img = _tone(shape, ky=2) + _tone(shape, kx=3)
    path = fourier.plot_amplitude_spectrum(img, 0.5, tmp_path / "sub" / "amp.png")
    assert path == tmp_path / "sub" / "amp.png" and _is_png(path)
    (ax,) = built[0].axes
    (curve,) = ax.patches
    amp = np.abs(np.fft.fftshift(np.fft.fft2(img)))
    peaks = np.argwhere(amp > amp.max() / 2)                  # (row, column) of the 4 peaks
    assert len(peaks) == 4
    cx, cy = curve.center
    rx, ry = curve.width / 2, curve.height / 2
    assert (cx, cy) == (12, 8) and (rx, ry) == pytest.approx((3.0, 2.0))
    np.testing.assert_allclose(((peaks[:, 1] - cx) / rx) ** 2 + ((peaks[:, 0] - cy) / ry) ** 2, 1.0)
    assert not curve.get_fill() and curve.get_linewidth() > 0
    # Odd sides: fftshift puts the zero frequency at bin (nx // 2, ny // 2) = (10, 7) of 21 x 15.
    fourier.plot_amplitude_spectrum(np.ones((15, 21)), 0.5, tmp_path / "odd.png")
    odd = built[1].axes[0].patches[0]
    assert odd.center == (10, 7) and (odd.width, odd.height) == pytest.approx((2 * 2.625, 2 * 1.875))


def test_amplitude_spectrum_image_title_and_saturation(built, tmp_path):
    rng = np.random.default_rng(0)
    img = rng.normal(size=(12, 12))
    img[:] -= img.mean()                                      # DC bin exactly 0: floored, not -inf
    import matplotlib

    with matplotlib.rc_context({"image.cmap": "gray"}):     # the user's default colour map is not used
        fourier.plot_amplitude_spectrum(img, 0.5, tmp_path / "a.png")
    fourier.plot_amplitude_spectrum(img, 0.25, tmp_path / "b.png", scale=4.0, title="SR sample", saturate=50.0)
    expected = np.log10(np.abs(np.fft.fftshift(np.fft.fft2(img))) + 1e-12)
    assert expected.min() < -11                                # the floored DC bin
    for fig, pct in zip(built, (99.5, 50.0)):
        (ax,) = fig.axes
        (im,) = ax.get_images()
        np.testing.assert_allclose(im.get_array(), expected, rtol=1e-12)
        assert im.get_clim()[1] == pytest.approx(np.percentile(expected, pct))
        assert im.origin == "lower" and list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
        assert im.get_cmap().name == "magma"
    assert built[0].axes[0].get_title() == '|FFT|, circle at 2" (CDELT 0.5")'
    assert built[1].axes[0].get_title() == "SR sample"
    # 12 px of 0.25" at a 4" scale: radius 12 * 0.25 / 8 = 0.375 bins.
    assert (built[1].axes[0].patches[0].width, built[1].axes[0].patches[0].height) == pytest.approx((0.75, 0.75))


def test_radial_spectra_plot_draws_each_spectrum_and_the_cutoff(built, tmp_path):
    rng = np.random.default_rng(1)
    images = {"target": rng.normal(size=(16, 16)), "prediction": 3.0 * rng.normal(size=(16, 16))}
    path = fourier.plot_radial_spectra(images, 0.5, tmp_path / "radial.png", scale=4.0)
    assert _is_png(path)
    (ax,) = built[0].axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["target", "prediction", '4"']
    for line, img in zip(lines, images.values()):
        f, p = fourier.radial_power_spectrum(img, 0.5)
        np.testing.assert_allclose(line.get_xdata(), np.arange(1, 9) / 8.0)   # ring k at k / (16 * 0.5)
        np.testing.assert_allclose(line.get_ydata(), p[1:])
    np.testing.assert_allclose(lines[2].get_xdata(), [1 / 8, 1 / 8])        # 1 / (2 * 4")
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlabel() == "spatial frequency (cycles/arcsec)" and ax.get_ylabel() == "azimuthal mean power"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["target", "prediction", '4"']


def test_uncertainty_figure_panels(built, tmp_path):
    rng = np.random.default_rng(2)
    split = uncertainty.split_uncertainty(rng.normal(size=(3, 16, 16)), 0.5)
    path = uncertainty.plot_uncertainty(split, tmp_path / "unc.png", unit="Mx", title="ten samples")
    assert _is_png(path)
    fig = built[0]
    panels, bars = fig.axes[:3], fig.axes[3:]
    assert [ax.get_title() for ax in panels] == ["per-pixel std", "high-pass (small scales)", "mask over std"]
    np.testing.assert_array_equal(panels[0].get_images()[0].get_array(), split["std"])
    np.testing.assert_array_equal(panels[1].get_images()[0].get_array(), split["small"])
    base, overlay = panels[2].get_images()
    np.testing.assert_array_equal(base.get_array(), split["std"])
    shown = overlay.get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(shown), ~split["mask"])   # only masked pixels drawn
    assert (shown.compressed() == 1.0).all()
    assert [b.get_ylabel() for b in bars] == ["std (Mx)", ""]
    assert fig._suptitle.get_text() == "ten samples"
    for ax in panels:
        assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    uncertainty.plot_uncertainty(split, tmp_path / "plain.png")
    assert built[1].axes[3].get_ylabel() == "std (G)" and built[1]._suptitle is None


def test_uncertainty_figure_layout_north_up_and_colour_scales(built, tmp_path):
    # Three maps side by side, north up (row 0 at the bottom, as the magnetograms are shown),
    # each colour bar beside its own map, as tall as it and spanning that map's values; the
    # mask is translucent over the std map. Colours do not follow the user's default cmap.
    import matplotlib

    rng = np.random.default_rng(3)
    split = uncertainty.split_uncertainty(rng.normal(size=(3, 16, 16)), 0.5)
    with matplotlib.rc_context({"image.cmap": "magma"}):
        uncertainty.plot_uncertainty(split, tmp_path / "unc.png")
    fig = built[0]
    panels, bars = fig.axes[:3], fig.axes[3:]
    boxes = [ax.get_position() for ax in panels]
    assert boxes[0].x1 < boxes[1].x0 and boxes[1].x1 < boxes[2].x0
    assert boxes[0].y0 == pytest.approx(boxes[1].y0, abs=0.05) and boxes[1].y0 == pytest.approx(boxes[2].y0, abs=0.05)
    for bar, left, right in zip(bars, boxes, boxes[1:]):
        b = bar.get_position()
        assert left.x1 <= b.x0 and b.x1 <= right.x0
        assert b.height == pytest.approx(left.height, rel=0.05)
    assert bars[0].get_ylim() == pytest.approx((split["std"].min(), split["std"].max()))
    assert bars[1].get_ylim() == pytest.approx((split["small"].min(), split["small"].max()))
    images = [im for ax in panels for im in ax.get_images()]
    assert all(im.origin == "lower" for im in images)
    assert [im.get_cmap().name for im in images] == ["viridis", "RdBu_r", "gray", "autumn"]
    assert 0 < images[3].get_alpha() < 1
