"""Pairwise, physics, Fourier and uncertainty metrics on known cases."""

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from heliogen.errors import HeliogenError
from heliogen.evaluate.metrics import fourier, physics
from heliogen.evaluate.metrics.pairwise import mae, mse, psnr, ssim
from heliogen.evaluate.metrics.uncertainty import butterworth_highpass, pixel_std, split_uncertainty


def test_psnr_known_cases():
    t = np.zeros((8, 8))
    p = np.full((8, 8), 0.1)                    # MSE = 0.01, R = 1 -> 20 dB
    assert psnr(p, t, 1.0) == pytest.approx(20.0)
    assert psnr(p, t, 2.0) == pytest.approx(20.0 + 20 * math.log10(2))
    assert psnr(t, t, 1.0) == math.inf
    assert mse(p, t) == pytest.approx(0.01) and mae(p, t) == pytest.approx(0.1)
    with pytest.raises(HeliogenError, match="data range"):
        psnr(p, t, 0)
    with pytest.raises(HeliogenError, match="shapes differ"):
        psnr(p, t[:4], 1.0)


@pytest.mark.parametrize("shape", [(32, 40), (3, 24, 24)])
def test_ssim_matches_scikit_image(shape):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, shape)
    b = np.clip(a + 0.3 * rng.normal(size=shape), -1, 1)
    ours = ssim(a, b, data_range=2.0, per_image=a.ndim == 3)
    pairs = [(a, b)] if a.ndim == 2 else list(zip(a, b))
    ref = [structural_similarity(x, y, data_range=2.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False) for x, y in pairs]
    np.testing.assert_allclose(ours, ref if a.ndim == 3 else ref[0], atol=1e-6, rtol=0)
    assert ssim(a, a, 2.0) == pytest.approx(1.0)


def test_lpips_runs_with_a_random_backbone_and_matches_its_definition():
    # No AlexNet weights are available offline: random backbone (seeded), real LPIPS heads.
    import torch

    from heliogen.evaluate.metrics.lpips import LPIPS

    m = LPIPS(random_backbone=True)
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-1, 1, (2, 1, 64, 64)), rng.uniform(-1, 1, (2, 1, 64, 64))
    d = m(a, b)
    assert d.shape == (2,) and (d > 0).all()
    np.testing.assert_allclose(m(a, a), 0.0, atol=1e-7)
    np.testing.assert_allclose(m(b, a), d, rtol=1e-5)
    # Independent recomputation of eq. 1 for the first pair with the same layers.
    x = (torch.tensor(a[:1], dtype=torch.float32).expand(-1, 3, -1, -1) - m.shift) / m.scale
    y = (torch.tensor(b[:1], dtype=torch.float32).expand(-1, 3, -1, -1) - m.shift) / m.scale
    total, li = 0.0, 0
    with torch.no_grad():
        for i, layer in enumerate(list(m.net)[:12]):
            x, y = layer(x), layer(y)
            if i in (1, 4, 7, 9, 11):
                nx = x / (x.norm(dim=1, keepdim=True) + 1e-10)
                ny = y / (y.norm(dim=1, keepdim=True) + 1e-10)
                w = m.heads[li].view(1, -1, 1, 1)
                total += float(((nx - ny) ** 2 * w).sum(1).mean())
                li += 1
    assert d[0] == pytest.approx(total, rel=1e-5)


def test_lpips_without_backbone_is_a_clear_error(monkeypatch):
    from heliogen.evaluate.metrics.lpips import LPIPS

    monkeypatch.delenv("HELIOGEN_LPIPS_BACKBONE", raising=False)
    with pytest.raises(HeliogenError, match="backbone"):
        LPIPS()


def _header(size, cdelt, dsun=1.496e11, rsun=959.0):
    return {"CDELT1": cdelt, "CDELT2": cdelt, "CUNIT1": "arcsec", "CUNIT2": "arcsec", "DSUN_OBS": dsun, "RSUN_OBS": rsun,
            "CRPIX1": (size + 1) / 2, "CRPIX2": (size + 1) / 2, "CRVAL1": 0.0, "CRVAL2": 0.0}


def test_flux_of_a_synthetic_magnetogram_with_known_flux():
    # A Gaussian spot B0 exp(-r^2 / 2 s^2) at disk centre, on a synthetic HMI header:
    # its flux is 2 pi s^2 B0 (s in cm). Negative spot beside it: net flux 0.
    from heliogen.data.synth import synth_magnetogram

    m = synth_magnetogram(0, size=128, cdelt=0.5, center=(0.0, 0.0))
    h = m.meta
    side_cm = h["dsun_obs"] * 100 * math.tan(math.radians(0.5 / 3600))
    y, x = np.mgrid[:128, :128]
    s_px, b0 = 6.0, 2000.0
    spot = lambda cx: b0 * np.exp(-((x - cx) ** 2 + (y - 64) ** 2) / (2 * s_px**2))  # noqa: E731
    expected = 2 * math.pi * (s_px * side_cm) ** 2 * b0
    assert physics.unsigned_flux(spot(64), h) == pytest.approx(expected, rel=1e-6)
    field = spot(40) - spot(88)          # opposite polarities: overlapping tails cancel a little
    assert physics.unsigned_flux(field, h) == pytest.approx(2 * expected, rel=1e-3)
    assert abs(physics.net_flux(field, h)) < 1e-9 * expected
    assert physics.header_pixel_area(h) == pytest.approx(side_cm**2, rel=1e-12)
    # The most intense region is found at either spot centre.
    assert physics.locate_active_region(field, 3)[1] == 64


def test_mu_corrected_flux_of_a_uniform_radial_field():
    # B_r = B0 everywhere, seen as B_los = B0 mu. Corrected flux over mu >= 0.1 is
    # B0 * 2 pi R^2 (1 - 0.1) (spherical cap), R the disk radius in cm.
    size, cdelt = 512, 4.0
    h = _header(size, cdelt)
    mu = physics.mu_map((size, size), h)
    field = 100.0 * mu
    r_cm = h["DSUN_OBS"] * 100 * math.tan(math.radians(h["RSUN_OBS"] / 3600))
    expected = 100.0 * 2 * math.pi * r_cm**2 * 0.9
    assert physics.unsigned_flux(field, h, mu_correction=True) == pytest.approx(expected, rel=0.01)
    # Without the correction: sum B0 mu A over the disk = B0 (2/3) pi R^2.
    assert physics.unsigned_flux(field, h) == pytest.approx(100.0 * 2 / 3 * math.pi * r_cm**2, rel=0.01)
    # a crop without a solar pointing (offset axes) cannot be mu-corrected: one clear error
    from heliogen.errors import HeliogenError

    off = dict(h, CTYPE1="XOFFSET", CTYPE2="YOFFSET")
    with pytest.raises(HeliogenError, match="helioprojective"):
        physics.unsigned_flux(field, off, mu_correction=True)


def test_active_region_area_and_percent_error():
    b = np.zeros((40, 40))
    b[5:15, 5:15] = 500.0          # 100 px region
    b[8:12, 8:12] = 0.0            # a hole inside its contour still counts
    b[25:30, 25:35] = -800.0       # 50 px, negative polarity
    got = physics.ar_area(b)
    assert got["pixels"] == 150 and got["regions"] == 2
    assert physics.ar_area(b, threshold=600)["pixels"] == 50
    assert physics.percent_error(110.0, 100.0) == pytest.approx(10.0)
    with pytest.raises(HeliogenError, match="zero target"):
        physics.percent_error(1.0, 0.0)
    res = physics.physics_metrics(b * 1.1, b, pixel_area=1.0)
    assert res["unsigned_flux"]["percent_error"] == pytest.approx(10.0)
    assert res["ar_area"]["percent_error"] == pytest.approx(0.0)


def test_fourier_circle_at_known_cdelt():
    # 0.5"/px, 64 px: the 2" circle (Nyquist of 2" pixels, 0.25 cycles/arcsec) has radius 8 bins.
    assert fourier.cutoff_radius_px(64, 0.5) == pytest.approx(8.0)
    y, x = np.mgrid[:64, :64]
    img = np.cos(2 * np.pi * 8 * x / 64)     # period 4" = 8 px: exactly on the circle
    amp = fourier.amplitude_spectrum(img)
    peaks = np.argwhere(amp > amp.max() / 2)
    radii = np.hypot(peaks[:, 0] - 32, peaks[:, 1] - 32)
    np.testing.assert_allclose(radii, 8.0)
    f, p = fourier.radial_power_spectrum(img, 0.5)
    assert f[np.argmax(p)] == pytest.approx(0.25)


def test_small_scale_power_fraction_closed_form():
    y, x = np.mgrid[:64, :64]
    low = 3.0 * np.cos(2 * np.pi * 2 * x / 64)       # 0.0625 cycles/arcsec
    high = 1.0 * np.sin(2 * np.pi * 20 * y / 64)     # 0.625 cycles/arcsec > 0.25
    frac = fourier.small_scale_power_fraction(low + high + 7.0, 0.5)
    assert frac == pytest.approx(1.0 / (1.0 + 9.0), rel=1e-9)


def test_uncertainty_std_and_butterworth_split():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(5, 32, 32))
    np.testing.assert_allclose(pixel_std(samples), samples.std(axis=0))
    with pytest.raises(HeliogenError, match="at least 2"):
        pixel_std(samples[:1])
    # Butterworth gain 1/sqrt(1 + (fc/f)^(2n)) on pure tones (fc = 0.125 cycles/px at 0.5").
    y, x = np.mgrid[:64, :64]
    for k in (4, 16, 24):
        f = k / 64
        tone = np.cos(2 * np.pi * k * x / 64)
        out = butterworth_highpass(tone, 0.5, order=2)
        gain = np.abs(np.fft.fft2(out)[0, k]) / np.abs(np.fft.fft2(tone)[0, k])
        assert gain == pytest.approx(1 / math.sqrt(1 + (0.125 / f) ** 4), rel=1e-6)
    split = split_uncertainty(samples, 0.5)
    np.testing.assert_allclose(split["small"] + split["large"], split["std"])
    assert split["mask"].mean() == pytest.approx(0.1, abs=0.01)


def test_evaluation_plots_are_written_without_touching_pyplot_or_the_backend(tmp_path):
    # In a fresh interpreter whose backend is "pdf": a library that called matplotlib.use("Agg")
    # or drew through pyplot would change the backend or leave figures registered there.
    import os
    import subprocess
    import sys
    from pathlib import Path

    import heliogen

    code = f"""
import sys
from pathlib import Path

import matplotlib
import numpy as np

from heliogen.data.normalise import Normalisation
from heliogen.evaluate.io import ImageSet
from heliogen.evaluate.metrics.fourier import plot_amplitude_spectrum, plot_radial_spectra
from heliogen.evaluate.metrics.histogram import plot_histograms
from heliogen.evaluate.metrics.uncertainty import plot_uncertainty, split_uncertainty
from heliogen.evaluate.report import write_report

out = Path({str(tmp_path)!r})
rng = np.random.default_rng(0)
img = rng.normal(size=(32, 32))
paths = [plot_histograms(rng.normal(size=(4, 1, 16, 16)), rng.normal(size=(4, 1, 16, 16)), out / "hist.png"),
         plot_amplitude_spectrum(img, 0.5, out / "amp.png"),
         plot_radial_spectra({{"a": img, "b": img * 2}}, 0.5, out / "radial.png"),
         plot_uncertainty(split_uncertainty(rng.normal(size=(3, 32, 32)), 0.5), out / "unc.png")]
s = ImageSet(rng.uniform(-1, 1, (3, 1, 16, 16)).astype(np.float32), Normalisation("linear", {{"scale": 3000.0}}), "magnetogram", "x")
doc = {{"type": "distribution", "metrics": {{"fd": {{"x": 1.0}}}}}}
write_report(doc, out / "r.html", images={{"real": s, "generated": s}}, figures_dir=out / "figs")
paths.append(doc["figures"][0])
assert matplotlib.get_backend().lower() == "pdf", matplotlib.get_backend()
if "matplotlib.pyplot" in sys.modules:
    assert sys.modules["matplotlib.pyplot"].get_fignums() == []
print("\\n".join(str(p) for p in paths))
"""
    env = {**os.environ, "MPLBACKEND": "pdf", "PYTHONPATH": str(Path(heliogen.__file__).resolve().parents[1])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    paths = [Path(p) for p in res.stdout.split()]
    assert [p.name for p in paths] == ["hist.png", "amp.png", "radial.png", "unc.png", "samples.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000
    assert "samples" in (tmp_path / "r.html").read_text()
