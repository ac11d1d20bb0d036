"""Fourier analysis of (super-resolved) maps: amplitude spectra, the 2" circle, radial
power spectra and the fraction of power at scales below 2".

The super-resolution paper (sec. 7, fig. 10) shows |FFT| of each prediction, zero
frequency centred, with a circle "at the frequencies corresponding to 2" resolution":
power outside the circle is structure finer than MDI's 2" pixels can carry. heliogen
puts the circle at the Nyquist frequency of ``scale``-arcsec pixels,
f_c = 1 / (2 scale) cycles/arcsec (0.25 for 2"), i.e. a radius of
N CDELT / (2 scale) frequency bins in an N-pixel map; for a 4x super-resolved map this
is exactly the low-resolution input's Nyquist frequency. CDELT comes from the header
(arcsec per pixel). Spectra use ``numpy.fft``; the mean (DC) is removed before power
fractions, so they describe fluctuations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import HeliogenError
from ...viz.figures import save_figure

__all__ = [
    "amplitude_spectrum", "cutoff_radius_px", "radial_frequency", "radial_power_spectrum", "small_scale_power", "small_scale_power_fraction",
    "draw_amplitude_spectrum", "plot_amplitude_spectrum", "plot_radial_spectra", "SCALE_ARCSEC",
]

SCALE_ARCSEC = 2.0


def _image(img) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 2:
        raise HeliogenError(f"Fourier analysis takes one 2-D image, not shape {a.shape}")
    if not np.isfinite(a).all():
        raise HeliogenError("the image contains NaN or infinite values (fill off-disk pixels first)")
    return a


def _check_cdelt(cdelt):
    if not (cdelt and cdelt > 0):
        raise HeliogenError(f"CDELT must be a positive pixel size in arcsec, not {cdelt!r}")
    return float(cdelt)


def amplitude_spectrum(img) -> np.ndarray:
    """|FFT2| with the zero frequency shifted to the centre (``numpy.fft.fftshift``)."""
    return np.abs(np.fft.fftshift(np.fft.fft2(_image(img))))


def cutoff_radius_px(size: int, cdelt: float, scale: float = SCALE_ARCSEC) -> float:
    """Radius (frequency bins) of the ``scale`` circle along an axis of N pixels: N CDELT / (2 scale)."""
    return size * _check_cdelt(cdelt) / (2.0 * scale)


def radial_frequency(shape, cdelt: float) -> np.ndarray:
    """Spatial frequency (cycles/arcsec) of each unshifted FFT bin."""
    cdelt = _check_cdelt(cdelt)
    fy = np.fft.fftfreq(shape[0], d=cdelt)
    fx = np.fft.fftfreq(shape[1], d=cdelt)
    return np.hypot(fy[:, None], fx[None, :])


def radial_power_spectrum(img, cdelt: float) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthally averaged power |F|^2 in rings of one frequency bin (square images).

    Returns
    -------
    freq : numpy.ndarray
        Ring centres, cycles/arcsec (ring k holds bins with round(radius) = k).
    power : numpy.ndarray
        Mean power in each ring (rings 0 .. N/2).
    """
    a = _image(img)
    if a.shape[0] != a.shape[1]:
        raise HeliogenError(f"the radial spectrum needs a square image, not {a.shape}")
    n = a.shape[0]
    p = np.abs(np.fft.fft2(a)) ** 2
    k = np.rint(radial_frequency(a.shape, 1.0) * n).astype(int)
    kmax = n // 2
    sel = k <= kmax
    sums = np.bincount(k[sel], weights=p[sel], minlength=kmax + 1)
    counts = np.bincount(k[sel], minlength=kmax + 1)
    return np.arange(kmax + 1) / (n * _check_cdelt(cdelt)), sums / np.maximum(counts, 1)


def small_scale_power(img, cdelt: float, scale: float = SCALE_ARCSEC) -> float:
    """Variance (squared units) carried at frequencies above 1 / (2 scale): scales below ``scale``.

    By Parseval, ``sum |F|^2 / N^2`` over those bins, so white noise of standard deviation s
    gives s^2 times the share of bins above the cut-off.
    """
    a = _image(img)
    p = np.abs(np.fft.fft2(a - a.mean())) ** 2
    f = radial_frequency(a.shape, cdelt)
    return float(p[f > 1.0 / (2.0 * scale)].sum() / a.size**2)


def small_scale_power_fraction(img, cdelt: float, scale: float = SCALE_ARCSEC) -> float:
    """Fraction of the fluctuation power at frequencies above 1 / (2 scale) (scales below ``scale``)."""
    a = _image(img)
    p = np.abs(np.fft.fft2(a - a.mean())) ** 2
    total = p.sum()
    if total == 0:
        raise HeliogenError("the image is constant: no power to split")
    f = radial_frequency(a.shape, cdelt)
    return float(p[f > 1.0 / (2.0 * scale)].sum() / total)


def draw_amplitude_spectrum(ax, img, cdelt: float, scale: float = SCALE_ARCSEC, vmax: float | None = None, saturate: float = 99.5) -> float:
    """Draw the log10 amplitude spectrum of ``img`` with the ``scale`` circle on ``ax``; returns the vmax used.

    In an ny x nx map one frequency bin is 1 / (n CDELT) along each axis, so the circle
    f = 1 / (2 scale) spans cutoff_radius_px(nx) bins in x and cutoff_radius_px(ny) in y:
    an ellipse in bins unless the map is square. It is centred on the zero frequency,
    bin (nx // 2, ny // 2) after ``fftshift``. ``vmax`` (log10 amplitude) saturates the
    display; by default the ``saturate`` percentile of this spectrum, as the paper's fig. 10.
    """
    from matplotlib.patches import Ellipse

    amp = np.log10(amplitude_spectrum(img) + 1e-12)
    ny, nx = amp.shape
    rx, ry = cutoff_radius_px(nx, cdelt, scale), cutoff_radius_px(ny, cdelt, scale)
    vmax = float(np.percentile(amp, saturate)) if vmax is None else float(vmax)
    ax.imshow(amp, origin="lower", cmap="magma", vmin=min(float(amp.min()), vmax), vmax=vmax)  # another map's vmax may lie below all of this one
    ax.add_patch(Ellipse((nx // 2, ny // 2), 2 * rx, 2 * ry, fill=False, color="red", lw=1.2))
    ax.set_xticks([])
    ax.set_yticks([])
    return vmax


def plot_amplitude_spectrum(img, cdelt: float, path, scale: float = SCALE_ARCSEC, title: str = "", saturate: float = 99.5) -> Path:
    """log10 amplitude spectrum with the ``scale`` circle (paper fig. 10), saturated at a percentile."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4), dpi=100)
    ax = fig.subplots()
    draw_amplitude_spectrum(ax, img, cdelt, scale, saturate=saturate)
    ax.set_title(title or f'|FFT|, circle at {scale:g}" (CDELT {cdelt:g}")', fontsize=9)
    return save_figure(fig, path)


def plot_radial_spectra(images: dict, cdelt: float, path, scale: float = SCALE_ARCSEC) -> Path:
    """Radial power spectra of several images ({label: image}) with the cutoff marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5), dpi=100)
    ax = fig.subplots()
    for label, img in images.items():
        f, p = radial_power_spectrum(img, cdelt)
        ax.loglog(f[1:], p[1:], label=label)
    ax.axvline(1.0 / (2.0 * scale), color="red", ls="--", lw=1, label=f'{scale:g}"')
    ax.set_xlabel("spatial frequency (cycles/arcsec)")
    ax.set_ylabel("azimuthal mean power")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
