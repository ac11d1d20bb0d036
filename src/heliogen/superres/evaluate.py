"""``heliogen evaluate superres``: the super-resolution paper's table 1 for trained runs.

Each run super-resolves the same ``n`` validation crops of a paired store (active-region
centred when the store was built with ``--crop-mode ar``, as the paper's sec. 6: "we take
250 images from the validation set ... a crop is taken around the AR"), ``samples`` times
each for the diffusion models (one seed per crop and sample), once for the deterministic
ones. Metrics, per prediction against its target (sec. 5):

* PSNR and SSIM in model space ([-1, 1] = +-3000 G, data range 2, eqs. 3-5);
* LPIPS-Alex with local AlexNet weights, else the LPIPS-form distance on EfficientNet-Lite0
  (:mod:`heliogen.evaluate.metrics.lpips_lite`), named as such in every output;
* FD of all predictions against all targets: CLIP-RN50 features with local weights (the
  paper's), else TF-Inception (named);
* unsigned-flux and AR-size (|B| > 300 G) errors in %, from the target's pixel area;
* power at scales below 2" relative to the target's (sec. 7, fig. 10);
* the per-pixel standard deviation over the samples, split by the Butterworth high-pass at
  2" into its small-scale and large-scale parts (fig. 11): mean |high-pass| and mean
  remainder, in G.

Values are averaged over all predictions (mean +- standard deviation, as the paper's table);
the physics errors as absolute values, with their signed mean (the bias) beside them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import HeliogenError
from ..progress import bars_off
from ..training.rundir import from_model_space, open_run, to_model_space
from .models import DIFFUSION_MODELS, FACTOR
from .sample import SuperResolver, super_resolve

__all__ = ["SuperResEvalSettings", "evaluate_superres", "crop_metrics", "resolvable", "TABLE_ROWS"]

SCALE_G = 3000.0  # Gauss per model-space unit: the paper's +-3000 G normalisation
# table rows: (metric key, label); the LPIPS and FD labels name their networks at run time
TABLE_ROWS = (("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("perceptual", "LPIPS"), ("fd", "FD"),
              ("abs_unsigned_flux_pct", "Unsigned magnetic flux (%)"), ("abs_ar_size_pct", "AR size (%)"),
              ("power_ratio", 'Power below 2" (x target)'), ("uncertainty_large", 'Uncertainty above 2" (G)'),
              ("uncertainty_small", 'Uncertainty below 2" (G)'))


@dataclass
class SuperResEvalSettings:
    n: int = 250
    samples: int = 10
    sampler: str = "dpmpp"
    steps: int = 20
    seed: int = 0
    features: str | None = None  # FD extractor; default clip-rn50 with HELIOGEN_CLIP_WEIGHTS, else inception
    lpips_backbone: str | None = None  # AlexNet weights; default $HELIOGEN_LPIPS_BACKBONE, else the Lite0 form
    threshold: float = 300.0  # G, the AR mask
    scale: float = 2.0  # arcsec, the Fourier and Butterworth split
    checkpoint: str | None = None
    figure_rows: int = 3
    progress: bool = True


def _fd_extractor(settings) -> str:
    if settings.features:
        return settings.features
    return "clip-rn50" if os.environ.get("HELIOGEN_CLIP_WEIGHTS") else "inception"


def _perceptual(settings):
    """``(distance, key, description)``: LPIPS-Alex with local weights, else the Lite0 LPIPS form."""
    backbone = settings.lpips_backbone or os.environ.get("HELIOGEN_LPIPS_BACKBONE")
    if backbone:
        from ..evaluate.metrics.lpips import LPIPS

        model = LPIPS(backbone)
        return model, "lpips", f"LPIPS-Alex (Zhang et al. 2018), backbone {model.backbone}"
    from ..evaluate.metrics.lpips_lite import LiteLPIPS

    model = LiteLPIPS()
    return model, model.name, model.description + " (no AlexNet weights here: an offline stand-in, not LPIPS)"


def _open_runs(runs, store):
    opened = []
    for r in runs:
        run = open_run(r)
        if run.kind != "superres":
            raise HeliogenError(f"{run.path} is a {run.kind} run, not a super-resolution run")
        if run.data.get("kind") != "magnetogram":
            raise HeliogenError(f"{run.path} was trained on {run.data.get('kind')} images, not magnetograms")
        opened.append(run)
    labels = [run.extras["model"] for run in opened]
    return [(f"{lab} ({run.path.name})" if labels.count(lab) > 1 else lab, run) for lab, run in zip(labels, opened)]


def _validation(store, n: int, seed: int):
    """Rows, targets (G), low-resolution inputs (G) and headers of ``n`` seeded store rows."""
    from ..data.grid_header import sample_header

    rows = np.sort(np.random.default_rng(seed).choice(store.n, min(n, store.n), replace=False))
    # magnetogram stores hold Gauss (grid_header.py), the unit heliogen superres takes
    hr = np.stack([store.group["images"][int(i)][0].astype(np.float64) for i in rows])
    lr = np.stack([store.lowres(slice(int(i), int(i) + 1))[0, 0].astype(np.float64) for i in rows])
    headers = [sample_header(store, int(i)) for i in rows]
    if not (np.isfinite(hr).all() and np.isfinite(lr).all()):
        raise HeliogenError("the validation crops contain NaN (off-disk pixels); build the pairs store with on-disk crops")
    return rows, hr, lr, headers


def _predict(run, sr, lr_gauss, seeds_of, settings):
    """Predictions in G, one (samples, H, W) array per low-resolution crop, in order."""
    from ..data.normalise import Normalisation

    norm, data_range = Normalisation.from_dict(run.data["normalisation"]), run.data["data_range"]
    n_samples = settings.samples if sr.model in DIFFUSION_MODELS else 1
    chunk = max(1, 16 // n_samples)
    bar = tqdm(total=len(lr_gauss), desc=f"evaluate {sr.model}", unit="crop", disable=bars_off(settings.progress))
    for start in range(0, len(lr_gauss), chunk):
        idx = range(start, min(start + chunk, len(lr_gauss)))
        lr = to_model_space(norm.forward(np.stack([lr_gauss[i][None] for i in idx])), data_range)
        lr = torch.from_numpy(np.repeat(lr, n_samples, axis=0)).float()
        seeds = [s for i in idx for s in seeds_of(i)[:n_samples]]
        pred = super_resolve(sr, lr, seeds, settings.sampler, settings.steps)
        phys = norm.physical(from_model_space(pred.clamp(-1, 1).numpy().astype(np.float64), data_range))[:, 0]
        for k, _ in enumerate(idx):
            yield phys[k * n_samples:(k + 1) * n_samples]
        bar.update(len(idx))
    bar.close()


def crop_metrics(preds, truth, header, settings, perceptual):
    """Every metric of one crop's predictions (samples, H, W) in G against its target."""
    from ..evaluate.metrics.fourier import small_scale_power
    from ..evaluate.metrics.pairwise import psnr, ssim
    from ..evaluate.metrics.physics import physics_metrics
    from ..evaluate.metrics.uncertainty import split_uncertainty

    cdelt = abs(float(header["CDELT1"]))
    px = np.clip(preds, -SCALE_G, SCALE_G) / SCALE_G
    tx = np.repeat(np.clip(truth, -SCALE_G, SCALE_G)[None] / SCALE_G, len(px), axis=0)
    out = {"psnr": [psnr(p, t, 2.0) for p, t in zip(px, tx)], "ssim": list(ssim(px, tx, 2.0, per_image=True)),
           "perceptual": list(perceptual(px, tx)), "unsigned_flux_pct": [], "ar_size_pct": []}
    for p in preds:
        phys = physics_metrics(p, truth, header, threshold=settings.threshold)
        out["unsigned_flux_pct"].append(phys["unsigned_flux"]["percent_error"])
        out["ar_size_pct"].append(phys["ar_area"]["percent_error"])  # None where the target has no AR pixel
    if not resolvable(cdelt, settings.scale):
        return out
    truth_power = small_scale_power(truth, cdelt, settings.scale)
    if truth_power > 0:
        out["power_ratio"] = [small_scale_power(p, cdelt, settings.scale) / truth_power for p in preds]
    if len(preds) > 1:
        split = split_uncertainty(preds, cdelt, settings.scale)
        out["uncertainty_small"] = [float(np.abs(split["small"]).mean())]
        out["uncertainty_large"] = [float(split["large"].mean())]
    return out


def resolvable(cdelt: float, scale: float) -> bool:
    """Whether pixels of ``cdelt`` arcsec carry any frequency beyond the ``scale`` cut-off."""
    return 0 < cdelt < scale


def _stats(values) -> dict | None:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)} if v.size else None


def _score_run(label, run, hr, lr, headers, rows, settings, perceptual, fd_name, truth_features):
    from ..evaluate.features.registry import extract_features
    from ..evaluate.metrics.fd import fd_from_features

    sr = SuperResolver.from_run(run, settings.checkpoint)
    values, features, shown = {}, [], []
    # seeds are fixed by store row and sample: every run sees the same noise seeds per crop
    seeds_of = lambda i: [settings.seed + settings.samples * int(rows[i]) + k for k in range(settings.samples)]  # noqa: E731
    for i, preds in enumerate(_predict(run, sr, lr, seeds_of, settings)):
        for key, vals in crop_metrics(preds, hr[i], headers[i], settings, perceptual).items():
            values.setdefault(key, []).extend(vals)
        unit = (np.clip(preds, -SCALE_G, SCALE_G) / SCALE_G + 1.0) / 2.0
        features.append(extract_features(unit[:, None], fd_name))
        if i < settings.figure_rows:
            shown.append(preds)
    metrics = {k: _stats(values[k]) for k in ("psnr", "ssim", "perceptual", "power_ratio", "uncertainty_small", "uncertainty_large")
               if k in values}
    metrics["fd"] = {"mean": fd_from_features(truth_features, np.concatenate(features)), "std": 0.0, "n": int(sum(map(len, features)))}
    for key, name in (("unsigned_flux_pct", "unsigned_flux_pct"), ("ar_size_pct", "ar_size_pct")):
        metrics[f"abs_{name}"] = _stats([abs(x) if x is not None else None for x in values[key]])
        metrics[f"bias_{name}"] = _stats(values[key])
    result = {"label": label, "run": str(run.path), "model": sr.model, "lora": bool(run.extras.get("lora")),
              "samples": len(shown[0]) if shown else 0, "metrics": {k: v for k, v in metrics.items() if v is not None},
              "values": {k: v for k, v in values.items()}}
    return result, shown


def _table_markdown(results, names) -> str:
    labels = {"perceptual": f"{names['perceptual']}", "fd": f"FD ({names['fd']})"}
    lines = ["| Metric | " + " | ".join(r["label"] for r in results) + " |", "|---|" + "---|" * len(results)]
    for key, label in TABLE_ROWS:
        cells = []
        for r in results:
            m = r["metrics"].get(key)
            cells.append("-" if m is None else (f"{m['mean']:.4g}" if key == "fd" else f"{m['mean']:.4g} ± {m['std']:.2g}"))
        lines.append(f"| {labels.get(key, label)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evaluate_superres(runs, data, out, settings: SuperResEvalSettings | None = None) -> dict:
    """Score super-resolution ``runs`` on the paired store ``data``; write table, JSON and figures to ``out``.

    Returns
    -------
    dict
        ``results`` (one entry per run: ``metrics`` with mean/std/n per metric, and the raw
        ``values``), ``settings``, ``networks`` (what LPIPS and FD ran on) and ``figures``.
    """
    from ..data.store import open_store
    from ..evaluate.features.registry import extract_features
    from .evaluate_figures import write_figures

    settings = settings or SuperResEvalSettings()
    if settings.samples < 1 or settings.n < 1:
        raise HeliogenError("--n and --samples must be at least 1")
    store = open_store(data)
    if store.kind != "magnetogram" or not store.has_lowres:
        raise HeliogenError(f"{data} is not a paired magnetogram store (build one with --pairs 4 or --kind magnetogram-pairs)")
    if int(store.group["lowres"].shape[-1]) * FACTOR != store.size:
        raise HeliogenError(f"{data} does not pair its images at a factor {FACTOR}")
    opened = _open_runs(runs, store)
    rows, hr, lr, headers = _validation(store, settings.n, settings.seed)
    perceptual, perceptual_key, perceptual_name = _perceptual(settings)
    fd_name = _fd_extractor(settings)
    truth_features = extract_features((np.clip(hr, -SCALE_G, SCALE_G) / SCALE_G + 1.0)[:, None] / 2.0, fd_name)
    results, shown = [], {}
    for label, run in opened:
        result, shown[label] = _score_run(label, run, hr, lr, headers, rows, settings, perceptual, fd_name, truth_features)
        results.append(result)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = {"perceptual": perceptual_key, "fd": fd_name}
    doc = {"data": str(data), "crop_mode": (store.attrs.get("config") or {}).get("crop_mode"), "rows": rows.tolist(),
           "settings": asdict(settings), "networks": {"perceptual": perceptual_name, "fd": fd_name}, "results": results}
    cdelt = abs(float(headers[0]["CDELT1"]))
    if not resolvable(cdelt, settings.scale):
        doc["notes"] = [f'the crops\' {cdelt:g}" pixels carry no structure below {settings.scale:g}": no power ratio or uncertainty split']
    doc["figures"] = [str(p) for p in write_figures(out, hr[:settings.figure_rows], lr[:settings.figure_rows], shown, results,
                                                    cdelt, settings.scale)]
    (out / "superres.json").write_text(json.dumps(doc, indent=1))
    (out / "superres.md").write_text(f"Super-resolution on {len(rows)} crops of {data}; perceptual distance: {perceptual_name}; "
                                     f"FD features: {fd_name}.\n\n" + _table_markdown(results, names))
    return doc
