"""Fourier and uncertainty metrics against known answers, square and non-square maps.

Expected values come from pure tones (whose FFT is two bins of known height), Parseval's
theorem, hand-counted frequency rings, the Butterworth gain formula and ensembles built
to have a chosen per-pixel standard deviation.
"""

import math

import numpy as np
import pytest

from heliogen.errors import HeliogenError
from heliogen.evaluate.metrics import fourier, uncertainty


def _tone(shape, ky=0, kx=0, amp=1.0, phase=0.0):
    """amp cos(2 pi (ky y / ny + kx x / nx) + phase) on a ny x nx grid."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    return amp * np.cos(2 * np.pi * (ky * y / shape[0] + kx * x / shape[1]) + phase)


# --- input checks ------------------------------------------------------------------------


@pytest.mark.parametrize("img", [np.zeros((2, 4, 4)), np.zeros((1, 8)), np.zeros((8, 1)), np.zeros(8)])
def test_fourier_takes_one_2d_image(img):
    with pytest.raises(HeliogenError) as err:
        fourier.amplitude_spectrum(img)
    assert str(err.value) == f"Fourier analysis takes one 2-D image, not shape {img.shape}"


def test_fourier_rejects_non_finite_pixels_and_bad_cdelt():
    img = np.ones((4, 4))
    img[1, 1] = np.nan
    with pytest.raises(HeliogenError, match=r"^the image contains NaN or infinite values \(fill off-disk pixels first\)$"):
        fourier.small_scale_power_fraction(img, 0.5)
    for cdelt in (0, -0.5, None):
        with pytest.raises(HeliogenError) as err:
            fourier.radial_frequency((4, 4), cdelt)
        assert str(err.value) == f"CDELT must be a positive pixel size in arcsec, not {cdelt!r}"


# --- spectra -----------------------------------------------------------------------------


def test_amplitude_spectrum_of_a_tone_on_a_non_square_map():
    # 6 x 10 map, tone with 2 cycles down and 3 across: |F| = A ny nx / 2 at (+-2, +-3),
    # and the mean sits at the shifted centre (ny // 2, nx // 2) = (3, 5).
    img = 4.0 + _tone((6, 10), ky=2, kx=3, amp=2.0)
    amp = fourier.amplitude_spectrum(img)
    expected = np.zeros((6, 10))
    expected[3, 5] = 4.0 * 60
    expected[3 + 2, 5 + 3] = expected[3 - 2, 5 - 3] = 2.0 * 60 / 2
    np.testing.assert_allclose(amp, expected, atol=1e-9)
    assert fourier.amplitude_spectrum(np.ones((2, 2)))[1, 1] == pytest.approx(4.0)   # smallest accepted map


def test_spectra_of_single_precision_maps_are_computed_in_double_precision():
    # A float32 map's values are exact in float64: its spectrum must match the float64 FFT of
    # the same values to double-precision rounding, not float32's 1e-7.
    rng = np.random.default_rng(5)
    img32 = (1000.0 + rng.normal(size=(16, 16))).astype(np.float32)
    exact = np.abs(np.fft.fftshift(np.fft.fft2(img32.astype(np.float64))))
    np.testing.assert_allclose(fourier.amplitude_spectrum(img32), exact, rtol=1e-12, atol=1e-9)
    _, p = fourier.radial_power_spectrum(img32, 1.0)
    assert p[0] == pytest.approx(exact[8, 8] ** 2, rel=1e-13)


def test_cutoff_radius_is_the_nyquist_of_scale_pixels():
    # N CDELT / (2 scale): 64 px of 0.5" -> 8 bins at 2", 4 bins at 4"; 48 px of 0.25" -> 3 bins.
    assert fourier.cutoff_radius_px(64, 0.5) == pytest.approx(8.0)
    assert fourier.cutoff_radius_px(64, 0.5, scale=4.0) == pytest.approx(4.0)
    assert fourier.cutoff_radius_px(48, 0.25) == pytest.approx(3.0)
    with pytest.raises(HeliogenError, match="CDELT must be a positive"):
        fourier.cutoff_radius_px(64, 0.0)


def test_radial_frequency_per_axis_on_a_non_square_grid():
    # 4 rows x 8 columns of 0.5": one bin is 1 / (4 * 0.5) = 0.5 cycles/arcsec down and
    # 1 / (8 * 0.5) = 0.25 across; bins past the middle are negative frequencies.
    f = fourier.radial_frequency((4, 8), 0.5)
    assert f.shape == (4, 8)
    assert f[0, 0] == 0.0 and f[1, 0] == pytest.approx(0.5) and f[0, 1] == pytest.approx(0.25)
    assert f[3, 0] == pytest.approx(0.5) and f[0, 7] == pytest.approx(0.25) and f[2, 4] == pytest.approx(math.hypot(1.0, 1.0))
    assert f[1, 3] == pytest.approx(math.hypot(0.5, 0.75))


def _ring_counts(n):
    """Number of FFT bins of an n x n map whose radius rounds to k, counted by brute force."""
    ks = [k if k <= n // 2 else k - n for k in range(n)]      # signed bin indices (numpy order)
    counts = {}
    for ky in ks:
        for kx in ks:
            k = int(math.floor(math.hypot(ky, kx) + 0.5))
            counts[k] = counts.get(k, 0) + 1
    return counts


@pytest.mark.parametrize("n", [16, 15])
def test_radial_power_spectrum_of_a_tone_peaks_at_its_ring(n):
    # cos(2 pi 5 x / n): |F|^2 = (n^2 / 2)^2 in 2 bins of ring 5, so ring 5's mean power is
    # 2 (n^2 / 2)^2 / count_5; the mean (3.0) puts (3 n^2)^2 alone in ring 0.
    img = 3.0 + _tone((n, n), kx=5)
    f, p = fourier.radial_power_spectrum(img, 0.25)
    counts = _ring_counts(n)
    assert len(f) == len(p) == n // 2 + 1
    np.testing.assert_allclose(f, np.arange(n // 2 + 1) / (n * 0.25))
    expected = np.zeros(n // 2 + 1)
    expected[0] = (3.0 * n * n) ** 2
    expected[5] = 2 * (n * n / 2) ** 2 / counts[5]
    np.testing.assert_allclose(p, expected, atol=1e-6 * expected.max())
    assert f[np.argmax(p[1:]) + 1] == pytest.approx(5 / (n * 0.25))


@pytest.mark.parametrize("n, height", [(16, 16.0**4), (15, 2 * (15.0**2 / 2) ** 2)])
def test_radial_power_spectrum_keeps_the_outermost_ring(n, height):
    # A tone at k = n // 2: for even n the Nyquist bin alone holds |F|^2 = (n^2)^2; for odd n
    # the two bins +-7 hold (n^2 / 2)^2 each. Either way it lands in the last ring.
    img = _tone((n, n), kx=n // 2)
    _, p = fourier.radial_power_spectrum(img, 1.0)
    assert p[-1] == pytest.approx(height / _ring_counts(n)[n // 2], rel=1e-9)
    np.testing.assert_allclose(p[:-1], 0.0, atol=1e-9 * height)


def test_radial_power_spectrum_obeys_parseval_for_a_band_limited_map():
    # Only |k| <= 3 in each axis: every bin lies in a ring, so sum_k count_k P_k = n^2 sum x^2.
    n = 16
    rng = np.random.default_rng(3)
    spec = np.zeros((n, n), complex)
    for ky in range(-3, 4):
        for kx in range(-3, 4):
            spec[ky, kx] = rng.normal() + 1j * rng.normal()
    img = np.fft.ifft2(spec).real
    _, p = fourier.radial_power_spectrum(img, 1.0)
    counts = _ring_counts(n)
    total = sum(counts[k] * p[k] for k in range(n // 2 + 1))
    assert total == pytest.approx(n * n * np.sum(img**2), rel=1e-9)


def test_radial_power_spectrum_needs_a_square_map():
    with pytest.raises(HeliogenError, match=r"^the radial spectrum needs a square image, not \(8, 6\)$"):
        fourier.radial_power_spectrum(np.ones((8, 6)), 0.5)


def test_small_scale_power_fraction_on_a_non_square_map():
    # 32 x 64 of 0.5": a tone 6 cycles down is 6 / 16 = 0.375 cycles/arcsec (> 0.25, small
    # scale); 3 cycles across is 3 / 32 = 0.094 (large scale). Power goes as amplitude^2.
    img = 50.0 + _tone((32, 64), ky=6, amp=1.0) + _tone((32, 64), kx=3, amp=2.0)
    assert fourier.small_scale_power_fraction(img, 0.5) == pytest.approx(1 / (1 + 4), rel=1e-9)
    # At 8" scale the cutoff is 1/16 = 0.0625 cycles/arcsec: both tones are small scale.
    assert fourier.small_scale_power_fraction(img, 0.5, scale=8.0) == pytest.approx(1.0, rel=1e-9)
    # A tone exactly at the cutoff (8 cycles across 64 px of 0.5" = 0.25 cycles/arcsec) is not above it.
    at_cut = _tone((32, 64), kx=8, amp=1.0) + _tone((32, 64), ky=6, amp=1.0)
    assert fourier.small_scale_power_fraction(at_cut, 0.5) == pytest.approx(0.5, rel=1e-9)


def test_small_scale_power_fraction_of_a_constant_map_is_an_error():
    with pytest.raises(HeliogenError, match=r"^the image is constant: no power to split$"):
        fourier.small_scale_power_fraction(np.full((8, 8), 7.0), 0.5)


# --- uncertainty -------------------------------------------------------------------------


def test_pixel_std_of_an_ensemble_with_known_spread():
    # Four samples mean +- s at every pixel: the population std (ddof 0) is exactly s.
    rng = np.random.default_rng(0)
    mean, s = rng.normal(size=(5, 7)), rng.uniform(0.5, 2.0, size=(5, 7))
    samples = np.stack([mean + s, mean - s, mean - s, mean + s])
    np.testing.assert_allclose(uncertainty.pixel_std(samples), s, rtol=1e-12)
    np.testing.assert_allclose(uncertainty.pixel_std(samples[:, None]), s, rtol=1e-12)    # (N, 1, H, W)
    np.testing.assert_allclose(uncertainty.pixel_std([[[1.0]], [[2.0]], [[3.0]], [[4.0]]]), [[math.sqrt(1.25)]])
    # float32 samples near 1e4 G: the std of the stored values, computed in double precision.
    samples32 = (1e4 + samples).astype(np.float32)
    exact = samples32.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(uncertainty.pixel_std(samples32), exact, rtol=1e-12)


@pytest.mark.parametrize("samples, message", [
    (np.zeros((3, 2, 4, 4)), "uncertainty needs samples shaped (N, H, W), not (3, 2, 4, 4)"),
    (np.zeros((4, 4)), "uncertainty needs samples shaped (N, H, W), not (4, 4)"),
    (np.zeros((1, 4, 4)), "uncertainty needs at least 2 samples of one input, not 1"),
    (np.full((2, 1, 4, 4), np.inf), "the samples contain NaN or infinite values"),
])
def test_pixel_std_rejects_bad_ensembles(samples, message):
    with pytest.raises(HeliogenError) as err:
        uncertainty.pixel_std(samples)
    assert str(err.value) == message


def _gain(f, fc, order):
    """Classic Butterworth high-pass amplitude response."""
    return 1.0 / math.sqrt(1.0 + (fc / f) ** (2 * order))


def test_butterworth_highpass_gain_on_a_non_square_map():
    # 32 x 48 px of 0.5": fc = 0.5 / 4 = 0.125 cycles/px. A tone 4 cycles down (0.125) and
    # one 12 across (0.25) are each scaled by the gain at their own frequency; the mean goes.
    shape = (32, 48)
    img = 9.0 + _tone(shape, ky=4, amp=2.0) + _tone(shape, kx=12, amp=1.0)
    for order in (2.0, 1.0):
        out = uncertainty.butterworth_highpass(img, 0.5, order=order)
        expected = _tone(shape, ky=4, amp=2.0 * _gain(0.125, 0.125, order)) + _tone(shape, kx=12, amp=_gain(0.25, 0.125, order))
        np.testing.assert_allclose(out, expected, atol=1e-9)
    # A float32 map is filtered in double precision: the gain applied bin by bin to the FFT of
    # its (exactly representable) values, here by hand.
    img32 = img.astype(np.float32)
    f = np.hypot(np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :])
    gain = np.zeros(shape)
    gain[f > 0] = [_gain(v, 0.125, 2.0) for v in f[f > 0]]
    expected = np.fft.ifft2(np.fft.fft2(img32.astype(np.float64)) * gain).real
    out = uncertainty.butterworth_highpass(img32, 0.5)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, expected, atol=1e-12)
    # A 4" scale halves the cutoff: 0.0625 cycles/px.
    out = uncertainty.butterworth_highpass(img, 0.5, scale=4.0)
    expected = _tone(shape, ky=4, amp=2.0 * _gain(0.125, 0.0625, 2)) + _tone(shape, kx=12, amp=_gain(0.25, 0.0625, 2))
    np.testing.assert_allclose(out, expected, atol=1e-9)


@pytest.mark.parametrize("cdelt, scale, message", [
    (0.0, 2.0, "CDELT must be positive, not 0.0"),
    (None, 2.0, "CDELT must be positive, not None"),
    (2.0, 2.0, 'a 2" cutoff is not resolvable at CDELT 2" (needs pixels smaller than 2")'),
    (3.0, 2.0, 'a 2" cutoff is not resolvable at CDELT 3" (needs pixels smaller than 2")'),
    (0.5, -1.0, 'a -1" cutoff is not resolvable at CDELT 0.5" (needs pixels smaller than -1")'),
    (0.5, math.inf, 'a inf" cutoff is not resolvable at CDELT 0.5" (needs pixels smaller than inf")'),
])
def test_butterworth_highpass_needs_resolvable_cutoff(cdelt, scale, message):
    with pytest.raises(HeliogenError) as err:
        uncertainty.butterworth_highpass(np.ones((8, 8)), cdelt, scale)
    assert str(err.value) == message


def test_split_uncertainty_of_an_ensemble_with_a_known_std_map():
    # Samples +-std give back std = 2 + cos(2 pi 10 x / 40) exactly. Its high-pass part is the
    # tone times the gain g at 0.25 cycles/px, so the small-scale share of the fluctuation
    # energy is g^2 and the large-scale part is the mean plus (1 - g) of the tone.
    shape = (20, 40)
    std = 2.0 + _tone(shape, kx=10, phase=0.3)
    split = uncertainty.split_uncertainty(np.stack([std, -std]), 0.5, order=1.0)
    g = _gain(0.25, 0.125, 1.0)
    np.testing.assert_allclose(split["std"], std, rtol=1e-12)
    np.testing.assert_allclose(split["small"], g * (std - 2.0), atol=1e-9)
    np.testing.assert_allclose(split["large"], 2.0 + (1 - g) * (std - 2.0), atol=1e-9)
    assert split["mean_std"] == pytest.approx(2.0)
    assert split["small_scale_fraction"] == pytest.approx(g**2, rel=1e-9)
    # The share is scale-free: a std map fluctuating by 0.01 G has the same share.
    faint = 2.0 + 0.01 * (std - 2.0)
    assert uncertainty.split_uncertainty(np.stack([faint, -faint]), 0.5, order=1.0)["small_scale_fraction"] == pytest.approx(
        g**2, rel=1e-6)
    # The default order is 2.
    assert uncertainty.split_uncertainty(np.stack([std, -std]), 0.5)["small_scale_fraction"] == pytest.approx(
        _gain(0.25, 0.125, 2.0) ** 2, rel=1e-9)


def test_split_uncertainty_mask_marks_pixels_above_the_quantile_of_abs_small():
    # A 5 x 5 std map of distinct values: with quantile 0.5 the threshold is the median of
    # |small| (one of the 25 values), so exactly 12 pixels lie strictly above it.
    rng = np.random.default_rng(4)
    std = rng.uniform(1.0, 3.0, size=(5, 5))
    samples = np.stack([std, -std])
    split = uncertainty.split_uncertainty(samples, 0.5, quantile=0.5)
    small = np.abs(split["small"])
    assert split["mask"].sum() == 12
    np.testing.assert_array_equal(split["mask"], small > np.sort(small.ravel())[12])
    # Default quantile 0.9 of 400 values: the top 40 (interpolated threshold between two values).
    std = rng.uniform(1.0, 3.0, size=(20, 20))
    split = uncertainty.split_uncertainty(np.stack([std, -std]), 0.5)
    small = np.abs(split["small"])
    np.testing.assert_array_equal(split["mask"], small >= np.sort(small.ravel())[-40])


def test_split_uncertainty_of_a_uniform_spread_has_no_small_scale_part():
    samples = np.stack([np.full((8, 8), 1.5), np.full((8, 8), -1.5)])
    split = uncertainty.split_uncertainty(samples, 0.5)
    assert split["mean_std"] == pytest.approx(1.5)
    assert split["small_scale_fraction"] == 0.0
    np.testing.assert_allclose(split["small"], 0.0, atol=1e-12)
