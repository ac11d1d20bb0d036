"""The evaluation HTML report: metrics tables and the plots (histograms, spectra,
uncertainty maps), through :class:`heliogen.viz.report.Report`."""

from __future__ import annotations

from pathlib import Path

from ..viz.report import Report
from .schema import flatten_metrics

__all__ = ["write_report", "metrics_rows"]


def metrics_rows(doc: dict) -> list[dict]:
    """One row per scalar metric: {"metric": "fd/inception", "value": 1.23}."""
    return [{"metric": k, "value": v} for k, v in flatten_metrics(doc).items()]


def _grid(images: dict, path: Path, n: int = 8) -> Path:
    """One row of up to ``n`` images per set, each set on its own model-space range."""
    from matplotlib.colors import Normalize

    from ..viz.grid import plot_image_grid

    panels, titles, norms = [], [], []
    for label, s in images.items():
        lo, hi = s.value_range
        for j in range(n):
            panels.append(s.images[j, 0] if j < s.n else None)
            titles.append(label if j == 0 else "")
            norms.append(Normalize(lo, hi))
    return plot_image_grid(panels, path, cols=n, titles=titles, norm=norms, panel_size=(1.2, 1.3), layout="tight",
                           title_kw={"fontsize": 8, "loc": "left"}, dpi=None)


def write_report(doc: dict, path, images: dict | None = None, figures_dir=None, title: str | None = None) -> Path:
    """Write an HTML report of a metrics document (and sample grids of ``images``)."""
    path = Path(path)
    rep = Report(title or f"heliogen evaluation ({doc.get('type')})")
    rep.section("Inputs")
    rows = [{"set": k, **{kk: vv for kk, vv in doc[k].items() if kk != "sha256"}} for k in ("real", "fake", "pred", "target") if k in doc]
    rep.table(rows)
    if "model_space" in doc:
        rep.text(f"Model space: {doc['model_space']['normalisation']['kind']} normalisation, range {doc['model_space']['range']}; "
                 f"extractor input: {doc['model_space']['extractor_input']}.", note=True)
    for name, d in doc.get("features", {}).items():
        rep.text(f"{name}: {d['dim']}-d, input {d['input_size']} px, scaling {d['scaling']}, weights {d['weights']}.", note=True)
    rep.section("Metrics").table(metrics_rows(doc))
    cl = doc.get("metrics", {}).get("cluster", {})
    if cl:
        rep.text("Cluster metrics benchmark (two halves of the real set; the flare poster gives CE 0.002, CD 1.001, CS 0.998):")
        rep.table([{"features": k, **{m: v.get("benchmark_halves", {}).get(m) for m in ("ce", "cd", "cs")}} for k, v in cl.items()])
    if images and figures_dir:
        doc.setdefault("figures", []).insert(0, str(_grid(images, Path(figures_dir) / "samples.png")))
    if doc.get("figures"):
        rep.section("Figures")
        for fig in doc["figures"]:
            rep.figure(fig, Path(fig).stem.replace("_", " "))
    return rep.write(path)
