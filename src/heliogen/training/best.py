"""The best-FD pointer of a run: ``RUN/checkpoints/best``.

A small JSON file, written atomically (temp file, fsync, rename), naming the checkpoint with
the lowest FD seen so far during training::

    {"checkpoint": "step-0000040", "step": 40, "fd": 12.3, "features": "inception", "n": 1000,
     "eval_data": "/abs/held-out.zarr"}

It is a file, not a symlink, so it survives copies and archives of the run folder. Pruning
never deletes the checkpoint it names (:func:`heliogen.training.checkpoint.save_checkpoint`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import HeliogenError

__all__ = ["BEST_NAME", "best_path", "read_best", "write_best", "best_checkpoint", "NO_BEST_HINT"]

BEST_NAME = "best"
NO_BEST_HINT = "train with --eval-every K --eval-data STORE to keep one"


def best_path(run_dir) -> Path:
    return Path(run_dir) / "checkpoints" / BEST_NAME


def read_best(run_dir) -> dict | None:
    """The pointer's record, or None when the run has none; a damaged pointer is an error."""
    path = best_path(run_dir)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise HeliogenError(f"{path} is corrupt ({err})") from None
    if not isinstance(record, dict) or not isinstance(record.get("checkpoint"), str) or "fd" not in record:
        raise HeliogenError(f"{path} is not a best-checkpoint pointer (it needs \"checkpoint\" and \"fd\")")
    return record


def write_best(run_dir, record: dict) -> Path:
    """Point ``checkpoints/best`` at ``record["checkpoint"]`` (atomically)."""
    return write_text_atomic(best_path(run_dir), json.dumps(record, indent=2) + "\n")


def best_checkpoint(run_dir) -> Path:
    """The checkpoint folder the pointer names; one-line errors when there is none."""
    record = read_best(run_dir)
    if record is None:
        raise HeliogenError(f"{run_dir} has no best checkpoint yet (no FD evaluation was run); {NO_BEST_HINT}")
    folder = Path(run_dir) / "checkpoints" / record["checkpoint"]
    if not (folder / "state.pt").is_file():
        raise HeliogenError(f"{best_path(run_dir)} names {record['checkpoint']}, which is not a complete checkpoint of {run_dir}")
    return folder
