"""Figures of ``heliogen evaluate superres``, after the super-resolution paper's figs. 5, 8-11:
samples of every model beside input and target, amplitude spectra with the 2" circle,
the uncertainty map with its Butterworth mask, and boxplots of the physics errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..viz.figures import save_figure

__all__ = ["write_figures"]


def _samples(path, hr, lr, shown, cdelt):
    """Rows of crops: input (2" pixels, replicated), target, one sample of every model."""
    from matplotlib.figure import Figure

    from ..viz.colormaps import colormap_for, norm_for

    cmap, norm = colormap_for("magnetogram"), norm_for("magnetogram", hr)
    cols = [("input (LR)", [np.kron(x, np.ones((4, 4))) for x in lr]), ("target (HR)", list(hr))]
    cols += [(label, [p[0] for p in preds]) for label, preds in shown.items()]
    fig = Figure(figsize=(1.9 * len(cols), 1.9 * len(hr) + 0.4), dpi=100)
    axes = np.atleast_2d(fig.subplots(len(hr), len(cols), squeeze=False))
    for j, (title, images) in enumerate(cols):
        for i, img in enumerate(images):
            axes[i, j].imshow(img, origin="lower", cmap=cmap, norm=norm)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[0, j].set_title(title, fontsize=8)
    fig.suptitle(f'super-resolved crops (CDELT {cdelt:g}", ±{norm.vmax:g} G)', fontsize=9)
    return save_figure(fig, path)


def _spectra(path, truth, shown, cdelt, scale):
    """log10 |FFT| of the first crop's target and first sample per model, one saturation for all."""
    from matplotlib.figure import Figure

    from ..evaluate.metrics.fourier import draw_amplitude_spectrum

    panels = [("target", truth)] + [(label, preds[0][0]) for label, preds in shown.items()]
    fig = Figure(figsize=(2.4 * len(panels), 2.7), dpi=100)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    vmax = draw_amplitude_spectrum(axes[0], truth, cdelt, scale)
    axes[0].set_title("target", fontsize=8)
    for ax, (label, img) in zip(axes[1:], panels[1:]):
        draw_amplitude_spectrum(ax, img, cdelt, scale, vmax=vmax)
        ax.set_title(label, fontsize=8)
    fig.suptitle(f'log10 |FFT|, red: {scale:g}" (outside: finer structure)', fontsize=9)
    return save_figure(fig, path)


def _boxplots(path, results):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6, 1.3 * len(results)), 3.4), dpi=100)
    axes = fig.subplots(1, 2)
    for ax, key, label in ((axes[0], "unsigned_flux_pct", "unsigned-flux error (%)"), (axes[1], "ar_size_pct", "AR-size error (%)")):
        data = [np.asarray([v for v in r["values"][key] if v is not None], dtype=float) for r in results]
        ax.boxplot([d if d.size else [np.nan] for d in data], showfliers=True)
        ax.set_xticks(range(1, len(results) + 1), [r["label"] for r in results], rotation=30, ha="right", fontsize=8)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_ylabel(label)
    return save_figure(fig, path)


def write_figures(out: Path, hr, lr, shown: dict, results: list, cdelt: float, scale: float) -> list[Path]:
    """All figures into ``out``; the uncertainty map of the first diffusion model with >= 2 samples."""
    from ..evaluate.metrics.uncertainty import plot_uncertainty, split_uncertainty

    out = Path(out)
    paths = [_samples(out / "samples.png", hr, lr, shown, cdelt), _spectra(out / "fourier.png", hr[0], shown, cdelt, scale),
             _boxplots(out / "physics_boxplots.png", results)]
    stochastic = [label for label, preds in shown.items() if preds and len(preds[0]) > 1]
    if stochastic and 0 < cdelt < scale:
        label = stochastic[0]
        split = split_uncertainty(shown[label][0], cdelt, scale)
        paths.append(plot_uncertainty(split, out / "uncertainty.png", title=f"{label}: {len(shown[label][0])} samples of crop 1, "
                                      f'Butterworth high-pass at {scale:g}"'))
    return paths
