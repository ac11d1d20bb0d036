"""The evaluation HTML report: metrics tables and the plots (histograms, spectra,
uncertainty maps), through :class:`heliogen.viz.report.Report`."""

from __future__ import annotations

from pathlib import Path

from ..viz.figures import save_figure
from ..viz.report import Report
from .schema import flatten_metrics

__all__ = ["write_report", "metrics_rows"]


def metrics_rows(doc: dict) -> list[dict]:
    """One row per scalar metric: {"metric": "fd/inception", "value": 1.23}."""
    return [{"metric": k, "value": v} for k, v in flatten_metrics(doc).items()]


def _grid(images: dict, path: Path, n: int = 8) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(n * 1.2, len(images) * 1.3), dpi=100)
    axes = fig.subplots(len(images), n, squeeze=False)
    for row, (label, s) in zip(axes, images.items()):
        lo, hi = s.value_range
        for j, ax in enumerate(row):
            ax.axis("off")
            if j < s.n:
                ax.imshow(s.images[j, 0], origin="lower", cmap="gray", vmin=lo, vmax=hi)
        row[0].set_title(label, fontsize=8, loc="left")
    return save_figure(fig, path)


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
