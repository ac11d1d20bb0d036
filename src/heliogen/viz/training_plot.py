"""Training curves from a run's stats.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["plot_losses"]


def plot_losses(run_dir, output, keys=("loss",)) -> Path:
    """Plot logged scalars against step (log scale for losses)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (Path(run_dir) / "stats.jsonl").read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
    for key in keys:
        ax.plot([r["step"] for r in rows if key in r], [r[key] for r in rows if key in r], label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend()
    output = Path(output)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output
