"""``heliogen evaluate uncertainty``: per-pixel std of N samples of one input, split at 2"."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..schema import new_document, write_metrics

__all__ = ["evaluate_uncertainty"]


def evaluate_uncertainty(samples_dir, out=None, report=None, scale: float = 2.0, order: float = 2.0, quantile: float = 0.9,
                         figures_dir=None) -> dict:
    """Uncertainty of N super-resolved samples of one input (FITS directory, same size, G)."""
    from ...data.fitsio import read_map
    from ..io import fits_files
    from ..metrics.uncertainty import plot_uncertainty, split_uncertainty

    files = fits_files(samples_dir)
    maps = [read_map(f) for f in files]
    data = np.stack([np.nan_to_num(np.asarray(m.data, np.float64)) for m in maps])
    cdelt = abs(float(maps[0].meta.get("cdelt1", 0)))
    split = split_uncertainty(data, cdelt, scale, order, quantile)
    doc = new_document("uncertainty", {"scale_arcsec": scale, "order": order, "quantile": quantile, "cdelt": cdelt})
    doc["samples"] = {"source": str(samples_dir), "n": len(files)}
    doc["metrics"] = {"mean_std": split["mean_std"], "small_scale_fraction": split["small_scale_fraction"],
                      "mask_fraction": float(split["mask"].mean()), "max_std": float(split["std"].max())}
    fig_dir = Path(figures_dir) if figures_dir else (Path(report).parent / (Path(report).stem + "_figures") if report else None)
    if fig_dir:
        doc["figures"].append(str(plot_uncertainty(split, fig_dir / "uncertainty.png", title=f"{len(files)} samples")))
    if out:
        write_metrics(doc, out)
    if report:
        from ..report import write_report

        write_report(doc, report)
    return doc
