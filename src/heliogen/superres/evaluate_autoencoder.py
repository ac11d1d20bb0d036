"""Reconstruction quality of autoencoder runs against their latent factor (super-resolution paper, fig. 4).

Each run's EMA autoencoder reconstructs the same ``n`` images of a store (posterior mode for KL
models). Per run: the mean PSNR in model space (range 2, as the paper's [-1, 1] images) and the
mean unsigned-flux error, 100 |sum |B_rec| - sum |B|| / sum |B| per image in Gauss; the pixel
area cancels in the ratio. A table (JSON and Markdown) and a figure of both against the factor.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import HeliogenError
from ..evaluate.metrics.pairwise import psnr
from ..training.rundir import from_model_space, open_run, to_model_space
from .train_autoencoder import reconstruct

__all__ = ["evaluate_autoencoders"]


def _images(store, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.sort(np.random.default_rng(seed).choice(store.n, min(n, store.n), replace=False))
    stored = np.stack([store.group["images"][int(i)] for i in rows]).astype(np.float64)
    return rows, stored


def _score(run, store, stored: np.ndarray, batch: int = 8) -> dict:
    model = run.load_module("autoencoder")
    data_range = store.normalisation.data_range
    model_space = store.normalisation.forward(stored)
    x = torch.from_numpy(to_model_space(model_space, data_range)).float()
    recs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            rec, _ = reconstruct(model, x[i:i + batch], sample=False)
            recs.append(rec.clamp(-1, 1))
    rec = torch.cat(recs).numpy().astype(np.float64)
    psnrs = [psnr(r, t, 2.0) for r, t in zip(rec, x.numpy().astype(np.float64))]
    truth = store.normalisation.physical(model_space)
    recon = store.normalisation.physical(from_model_space(rec, data_range))
    flux = np.abs(truth).sum(axis=(1, 2, 3))
    flux_err = 100.0 * np.abs(np.abs(recon).sum(axis=(1, 2, 3)) - flux) / np.maximum(flux, 1e-12)
    return {"run": str(run.path), "type": run.config.get("type"), "factor": int(run.config.get("factor")),
            "psnr_db": float(np.mean(psnrs)), "psnr_spread": float(np.std(psnrs)),
            "flux_error_pct": float(np.mean(flux_err)), "flux_error_spread": float(np.std(flux_err)), "images": len(stored)}


def evaluate_autoencoders(runs, data, out, n: int = 64, seed: int = 0) -> dict:
    """Score autoencoder ``runs`` on ``n`` images of the store ``data``; write table and figure to ``out``."""
    from ..data.store import open_store
    from ..viz.figures import save_figure

    store = open_store(data)
    if store.kind != "magnetogram":
        raise HeliogenError(f"the flux error needs magnetograms; {data} is a {store.kind} store")
    opened = [open_run(r) for r in runs]
    for run in opened:
        if run.kind != "autoencoder":
            raise HeliogenError(f"{run.path} is a {run.kind} run, not an autoencoder run")
        if run.data.get("kind") != "magnetogram":
            raise HeliogenError(f"{run.path} was trained on {run.data.get('kind')} images; the flux error needs a magnetogram autoencoder")
        factor = int(run.config.get("factor") or 1)
        if store.size % factor:
            raise HeliogenError(f"{data}'s images ({store.size} px) are not divisible by {run.path}'s factor {factor}")
    rows, stored = _images(store, n, seed)
    results = sorted((_score(run, store, stored) for run in opened), key=lambda r: (r["factor"], r["type"]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = {"data": str(data), "rows": rows.tolist(), "results": results,
             "metrics": {"psnr_db": "model space [-1, 1], range 2", "flux_error_pct": "100 |sum|B_rec| - sum|B|| / sum|B|, Gauss"}}
    (out / "autoencoders.json").write_text(json.dumps(table, indent=2))
    lines = ["| type | factor | PSNR (dB) | unsigned-flux error (%) |", "|---|---|---|---|"]
    lines += [f"| {r['type']} | {r['factor']} | {r['psnr_db']:.2f} ± {r['psnr_spread']:.2f} | "
              f"{r['flux_error_pct']:.2f} ± {r['flux_error_spread']:.2f} |" for r in results]
    (out / "autoencoders.md").write_text("\n".join(lines) + "\n")

    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    for kind in sorted({r["type"] for r in results}):
        rs = [r for r in results if r["type"] == kind]
        f = [r["factor"] for r in rs]
        ax1.errorbar(f, [r["psnr_db"] for r in rs], [r["psnr_spread"] for r in rs], marker="o", label=kind.upper(), capsize=3)
        ax2.errorbar(f, [r["flux_error_pct"] for r in rs], [r["flux_error_spread"] for r in rs], marker="o", label=kind.upper(), capsize=3)
    for ax, label in ((ax1, "reconstruction PSNR (dB)"), (ax2, "unsigned-flux error (%)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("latent factor f")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(f"autoencoders on {len(stored)} images of {Path(str(data)).name}")
    save_figure(fig, out / "autoencoders.png")
    return table
