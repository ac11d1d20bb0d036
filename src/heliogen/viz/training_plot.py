"""Training curves from a run's stats.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from .figures import save_figure

__all__ = ["plot_losses"]


def plot_losses(run_dir, output, keys=("loss",)) -> Path:
    """Plot logged scalars against step (log scale for losses)."""
    from matplotlib.figure import Figure

    rows = [json.loads(line) for line in (Path(run_dir) / "stats.jsonl").read_text().splitlines() if line.strip()]
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.subplots()
    for key in keys:
        ax.plot([r["step"] for r in rows if key in r], [r[key] for r in rows if key in r], label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend()
    return save_figure(fig, output, tight=False, dpi=110)
