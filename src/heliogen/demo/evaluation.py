"""Demo stage: the diffusion samples against held-out synthetic images, by heliogen's evaluation suite."""

from __future__ import annotations

from pathlib import Path

from ..viz.report import Section
from .stage import DemoContext, StageOutput

__all__ = ["evaluate_for_demo", "evaluate_samples"]


def evaluate_for_demo(real, fake, out_dir, features=("inception", "inception-random"), metrics=("fd", "kid", "prdc", "cluster", "histogram"),
                      n: int | None = None, cluster_k: int = 4) -> tuple[dict, list[Path]]:
    """Evaluate ``fake`` (FITS dir or store) against ``real`` (held-out store or FITS dir).

    Writes ``out_dir/metrics.json`` and figures under ``out_dir/figures``; returns the
    metrics document and the figure paths for the demo report. K = 4 clusters by default
    because the demo's sets are small (the cluster metrics need 2K real samples).
    """
    from ..evaluate import evaluate_distribution

    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    doc = evaluate_distribution(real, fake, metrics=metrics, features=features, n=n, out=out_dir / "metrics.json",
                                cluster_k=cluster_k, kid_subset_size=1000, figures_dir=fig_dir, cache_dir=out_dir / "feature_cache")
    return doc, [Path(p) for p in doc.get("figures", [])]


def evaluate_samples(ctx: DemoContext) -> StageOutput:
    """Held-out synthetic images (another stretch of the same Sun's history) against the diffusion samples."""
    from ..data.build import build_store
    from ..data.synth import write_synth
    from ..evaluate.schema import flatten_metrics
    from .diffusion import DEMO_SIZE

    held_raw = ctx.raw / "euv_heldout"
    write_synth("euv", ctx.sizes.n_euv, 128, ctx.seed, held_raw, wavelength=193, start="2011-03-01T00:00:00")
    held = ctx.stores / f"euv{DEMO_SIZE}_heldout.zarr"
    build_store(held_raw, held, "euv", DEMO_SIZE, wavelength=193, progress=False)
    doc, figures = evaluate_for_demo(held, ctx["diffusion_samples"], ctx.out / "evaluation")
    section = Section("Evaluation: samples against held-out synthetic images")
    section.text("Fréchet distances (TF-FID Inception pool3, and the randomly initialised Inception of the EUV study's rFID), "
                 "KID, precision/recall/density/coverage (k=3), the flare poster's cluster metrics (K=4 for these small sets) "
                 "and pixel statistics, all computed by heliogen.evaluate; the JSON is evaluation/metrics.json.")
    section.table([{"metric": k, "value": v} for k, v in flatten_metrics({"metrics": doc["metrics"]}).items()])
    for fig in figures:
        section.figure(fig, fig.stem.replace("_", " "))
    return StageOutput([section], {"metrics": doc["metrics"], "heldout_store": held})
