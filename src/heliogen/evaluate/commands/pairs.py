"""Super-resolution evaluation of predicted maps against their targets: pairwise, physics
and Fourier metrics, per pair and aggregated (mean and standard deviation), as in the
super-resolution paper's tables 1 and 2.

Predictions and targets are FITS directories matched by file name (magnetograms in G,
as ``heliogen sample`` writes them); pairwise metrics run in model space
([-1, 1] = +-3000 G, data range 2, as the paper's images), physics in Gauss with the
target's header (CDELT, DSUN_OBS), Fourier with the target's CDELT.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ...errors import HeliogenError
from ..schema import new_document, write_metrics

__all__ = ["evaluate_pairs", "match_pairs"]

log = logging.getLogger("heliogen")


def match_pairs(pred_dir, target_dir) -> list[tuple[Path, Path]]:
    """(pred, target) files with the same name in both directories."""
    from ..io import fits_files

    preds = {p.name: p for p in fits_files(pred_dir)}
    targets = {p.name: p for p in fits_files(target_dir)}
    common = sorted(set(preds) & set(targets))
    if not common:
        raise HeliogenError(f"no FITS file name appears in both {pred_dir} and {target_dir}")
    for name in sorted(set(preds) ^ set(targets)):
        log.warning("unpaired file %s skipped", name)
    return [(preds[n], targets[n]) for n in common]


def _agg(values):
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}


def _aggregate(rows: list[dict]) -> dict:
    """Mean and std over pairs of every per-pair metric, and of the absolute physics errors."""
    keys = [k for k in rows[0] if k != "name"]
    metrics = {k: _agg(r.get(k) for r in rows) for k in keys}
    metrics = {k: v for k, v in metrics.items() if v is not None}
    for k in ("unsigned_flux_pct", "net_flux_pct", "ar_area_pct"):
        a = _agg(abs(r[k]) if r.get(k) is not None else None for r in rows)
        if a:
            metrics[f"abs_{k}"] = a
    return metrics


def evaluate_pairs(pred_dir, target_dir, out=None, report=None, data_range: float = 2.0, lpips_backbone=None,
                   lpips_random: bool = False, threshold: float = 300.0, mu_correction: bool = False, scale: float = 2.0,
                   scale_G: float = 3000.0, figures_dir=None) -> dict:
    """Pairwise (PSNR, SSIM, MSE, MAE, LPIPS), physics and Fourier metrics over matched pairs.

    Parameters
    ----------
    data_range : float
        PSNR/SSIM data range in model space (2 for [-1, 1]).
    lpips_backbone : path-like, optional
        AlexNet weights; LPIPS is skipped (and said so) without them unless ``lpips_random``.
    scale_G : float
        Gauss per model-space unit (3000 for heliogen magnetograms).
    """
    from ...data.fitsio import read_map
    from ..metrics.fourier import small_scale_power_fraction
    from ..metrics.pairwise import mae, mse, psnr, ssim
    from ..metrics.physics import physics_metrics

    pairs = match_pairs(pred_dir, target_dir)
    rows, preds_m, targets_m = [], [], []
    for p, t in pairs:
        pm, tm = read_map(p), read_map(t)
        pg = np.nan_to_num(np.asarray(pm.data, np.float64))
        tg = np.nan_to_num(np.asarray(tm.data, np.float64))
        if pg.shape != tg.shape:
            raise HeliogenError(f"{p.name}: prediction {pg.shape} and target {tg.shape} differ in size")
        px, tx = np.clip(pg, -scale_G, scale_G) / scale_G, np.clip(tg, -scale_G, scale_G) / scale_G
        preds_m.append(px)
        targets_m.append(tx)
        cdelt = abs(float(tm.meta.get("cdelt1", 0))) or None
        row = {"name": p.name, "psnr": psnr(px, tx, data_range), "ssim": ssim(px, tx, data_range), "mse": mse(px, tx),
               "mae": mae(px, tx)}
        phys = physics_metrics(pg, tg, tm.meta, threshold=threshold, mu_correction=mu_correction)
        row["unsigned_flux_pct"] = phys["unsigned_flux"]["percent_error"]
        row["net_flux_pct"] = phys["net_flux"]["percent_error"]
        row["ar_area_pct"] = phys["ar_area"]["percent_error"]
        if cdelt and cdelt < scale:
            row["small_scale_power_pred"] = small_scale_power_fraction(pg, cdelt, scale)
            row["small_scale_power_target"] = small_scale_power_fraction(tg, cdelt, scale)
        rows.append(row)
    lp_note = "skipped: no AlexNet backbone weights (--lpips-backbone or HELIOGEN_LPIPS_BACKBONE)"
    import os

    if lpips_backbone or lpips_random or os.environ.get("HELIOGEN_LPIPS_BACKBONE"):
        from ..metrics.lpips import LPIPS

        model = LPIPS(lpips_backbone, random_backbone=lpips_random)
        vals = model(np.stack(preds_m)[:, None], np.stack(targets_m)[:, None])
        for row, v in zip(rows, vals):
            row["lpips"] = float(v)
        lp_note = f"AlexNet backbone {model.backbone}"
    settings = {"data_range": data_range, "threshold_G": threshold, "mu_correction": mu_correction, "scale_arcsec": scale,
                "scale_G": scale_G, "lpips": lp_note}
    doc = new_document("pairs", settings)
    doc["pred"] = {"source": str(pred_dir), "n": len(rows)}
    doc["target"] = {"source": str(target_dir), "n": len(rows)}
    doc["metrics"] = _aggregate(rows)
    doc["per_pair"] = rows
    fig_dir = Path(figures_dir) if figures_dir else (Path(report).parent / (Path(report).stem + "_figures") if report else None)
    if fig_dir:
        from ..metrics.fourier import plot_amplitude_spectrum, plot_radial_spectra

        tm = read_map(pairs[0][1])
        cdelt = abs(float(tm.meta.get("cdelt1", 1.0)))
        doc["figures"].append(str(plot_amplitude_spectrum(preds_m[0], cdelt, fig_dir / "spectrum_pred.png", scale, title=f"prediction {rows[0]['name']}")))
        doc["figures"].append(str(plot_amplitude_spectrum(targets_m[0], cdelt, fig_dir / "spectrum_target.png", scale, title="target")))
        doc["figures"].append(str(plot_radial_spectra({"prediction": preds_m[0], "target": targets_m[0]}, cdelt, fig_dir / "radial_spectra.png", scale)))
    if out:
        write_metrics(doc, out)
    if report:
        from ..report import write_report

        write_report(doc, report)
    return doc
