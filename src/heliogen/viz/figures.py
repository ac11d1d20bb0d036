"""Saving matplotlib figures the same way everywhere.

Library figures are built as :class:`matplotlib.figure.Figure` objects, outside pyplot, so
plotting never changes the backend or the figure registry of a user's session.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import HeliogenError

__all__ = ["save_figure"]


def save_figure(fig, path, tight: bool = True, dpi: float | None = None) -> Path:
    """Lay out, save (creating the folder) and release a figure; returns the path.

    A figure made through pyplot is also closed there, so pyplot does not keep it alive.
    Writing errors are a :class:`~heliogen.errors.HeliogenError` of one line.
    """
    if tight:
        fig.tight_layout()
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, **({"dpi": dpi} if dpi else {}))
    except OSError as err:
        raise HeliogenError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        if getattr(fig.canvas, "manager", None) is not None:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return path
