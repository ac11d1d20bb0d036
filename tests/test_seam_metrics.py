"""Known answers for the spectral seam measures (heliogen.mosaic.seams.SpectralSeams)."""

import numpy as np
import pytest

from heliogen.mosaic import seam_metric
from heliogen.mosaic.seams import SeamAccumulator, strip_width

SIZE, OV = 32, 4
STEP = SIZE - OV


def side(g: int) -> int:
    return g * STEP + OV


def reference_spectra(img: np.ndarray, grid: tuple[int, int], w: int):
    """Mean periodograms of the seam and interior strips, one strip at a time (full FFT)."""
    gy, gx = grid
    taper = np.hanning(w + 1)[:-1]  # the periodic Hann window
    in_band = lambda c, g: any(k * STEP <= c < k * STEP + OV for k in range(1, g))  # noqa: E731
    clear_rows = [y for y in range(img.shape[0]) if not in_band(y, gy)]
    clear_cols = [x for x in range(img.shape[1]) if not in_band(x, gx)]
    spectra = {True: [], False: []}

    def add(strip, seam):
        x = (strip - strip.mean()) * taper
        spectra[seam].append(np.abs(np.fft.fft(x))[1:w // 2 + 1] ** 2 / (taper ** 2).sum())

    for c in range(gx):
        for y in clear_rows:
            add(img[y, c * STEP + SIZE // 2 - w // 2:][:w], False)
            if c:
                add(img[y, c * STEP + OV // 2 - w // 2:][:w], True)
    for c in range(gy):
        for x in clear_cols:
            add(img[c * STEP + SIZE // 2 - w // 2:, x][:w], False)
            if c:
                add(img[c * STEP + OV // 2 - w // 2:, x][:w], True)
    return np.mean(spectra[True], axis=0), np.mean(spectra[False], axis=0)


def reference_measures(img, grid, w):
    seam, inner = reference_spectra(img, grid, w)
    eps = 1e-12 * max(seam.max(), inner.max())
    distance = np.sqrt(np.mean((10 * np.log10((seam + eps) / (inner + eps))) ** 2))
    high = np.arange(1, w // 2 + 1) >= w / 4
    return distance, seam[high].sum() / inner[high].sum()


def sinusoid_mosaic(gy: int, gx: int) -> np.ndarray:
    """Period 4 px along both axes: every 16 px strip holds 4 whole cycles, wherever it starts."""
    y, x = np.mgrid[:side(gy), :side(gx)]
    return np.sin(2 * np.pi * x / 4) + np.sin(2 * np.pi * y / 4)


def test_strip_width_default():
    assert strip_width(32, 4) == 16 and strip_width(64, 4) == 16
    assert strip_width(32, 8) == 16 and strip_width(128, 20) == 80
    assert strip_width(20, 3) == 12 and strip_width(16, 7) == 2  # 2 px: too short, measures are nan


def test_periodic_mosaic_is_seamless():
    r = seam_metric(sinusoid_mosaic(4, 5), SIZE, OV, (4, 5))
    assert r["strip"] == 16
    # the strips start at different phases of the sinusoid; a periodic taper makes that irrelevant
    assert r["spectral_distance"] == pytest.approx(0.0, abs=1e-6)
    assert r["hf_ratio"] == pytest.approx(1.0, rel=1e-9)


def test_steps_at_the_seams_match_the_strip_by_strip_answer():
    grid = (4, 5)
    img = np.random.default_rng(3).standard_normal((side(4), side(5)))  # power in every bin
    y, x = np.mgrid[:img.shape[0], :img.shape[1]]
    # a step of 2 at every band's centre: one step inside each seam strip, none inside the tiles
    stairs = 2.0 * (((x - OV // 2) // STEP) + ((y - OV // 2) // STEP))
    stepped = img + stairs
    r = seam_metric(stepped, SIZE, OV, grid)
    distance, hf = reference_measures(stepped, grid, 16)
    assert r["spectral_distance"] == pytest.approx(distance, rel=1e-9)
    assert r["hf_ratio"] == pytest.approx(hf, rel=1e-9)
    assert r["spectral_distance"] > 2.0 and r["hf_ratio"] > 1.1  # the steps add power across the seams
    # interior strips are untouched by the stairs, so their spectrum is the plain image's
    seam, inner = reference_spectra(stepped, grid, 16)
    assert np.allclose(inner, reference_spectra(img, grid, 16)[1])


def test_blurred_bands_lower_the_high_frequencies_and_raise_the_distance():
    grid = (6, 6)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((side(6), side(6)))
    sharp = seam_metric(noise, SIZE, OV, grid)
    assert sharp["spectral_distance"] < 0.5 and sharp["hf_ratio"] == pytest.approx(1.0, abs=0.05)
    blurred = noise.copy()
    for k in range(1, 6):  # a 3-tap mean over the rows and the columns of each band
        for axis in (0, 1):
            band = [slice(None), slice(None)]
            band[axis] = slice(k * STEP - 1, k * STEP + OV + 1)
            seg = noise[tuple(band)]
            mid = (np.roll(seg, 1, axis) + seg + np.roll(seg, -1, axis)) / 3
            inner = [slice(None), slice(None)]
            inner[axis] = slice(1, -1)
            blurred[tuple(band)][tuple(inner)] = mid[tuple(inner)]
    soft = seam_metric(blurred, SIZE, OV, grid)
    assert soft["hf_ratio"] < 0.8
    assert soft["spectral_distance"] > sharp["spectral_distance"] + 1.0
    d, hf = reference_measures(blurred, grid, 16)
    assert soft["spectral_distance"] == pytest.approx(d, rel=1e-9) and soft["hf_ratio"] == pytest.approx(hf, rel=1e-9)


@pytest.mark.parametrize("grid", [(4, 5), (1, 3), (3, 1)])
def test_streamed_blocks_give_the_whole_image_answer(grid):
    rng = np.random.default_rng(1)
    img = rng.standard_normal((side(grid[0]), side(grid[1]))).cumsum(axis=1)
    whole = seam_metric(img, SIZE, OV, grid)
    acc = SeamAccumulator(img.shape[1], SIZE, OV, grid)
    y = 0
    largest = 0
    for n in (1, 7, 13, 2, 30, 5, len(img)):
        if y < len(img):
            acc.update(img[y:y + n], y)
            y += len(img[y:y + n])
            largest = max(largest, len(acc.spectral.buffer))
    streamed = acc.result()
    assert set(streamed) == set(whole)
    for key, value in whole.items():
        assert streamed[key] == pytest.approx(value, rel=1e-12, nan_ok=True), key
    assert np.isfinite(whole["spectral_distance"]) and whole["spectral_distance"] > 0
    assert largest <= whole["strip"] - 1  # memory: at most one unfinished strip of rows is held
    assert len(acc.spectral.buffer) == 0  # every strip done, nothing left behind


def test_degenerate_mosaics():
    r = seam_metric(np.zeros((side(1), side(1))), SIZE, OV, 1)
    assert np.isnan(r["spectral_distance"]) and np.isnan(r["hf_ratio"])  # no seams
    flat = seam_metric(np.ones((side(3), side(3))), SIZE, OV, 3)
    assert flat["spectral_distance"] == 0.0 and np.isnan(flat["hf_ratio"])  # nothing to compare
    short = seam_metric(np.random.default_rng(2).standard_normal((3 * 9 + 7, 3 * 9 + 7)), 16, 7, 3)
    assert short["strip"] == 2 and np.isnan(short["spectral_distance"])
    with pytest.raises(ValueError, match="would touch"):
        seam_metric(np.zeros((side(3), side(3))), SIZE, OV, 3, strip=26)
