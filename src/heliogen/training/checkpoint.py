"""Atomic checkpoints: a directory per step, written to a temp name, fsynced, then renamed.

``RUN/checkpoints/step-0000100/`` holds ``<name>.safetensors`` per module (weights),
``<name>_ema.safetensors`` for EMA weights, and ``state.pt`` (optimizers, EMA state, step,
RNG states). The rename is the commit: a directory without the temp prefix is complete, so
resume takes the newest one and never a half-written checkpoint.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from ..errors import HeliogenError

__all__ = ["save_checkpoint", "latest_checkpoint", "load_state", "load_weights", "STEP_DIR"]

STEP_DIR = re.compile(r"^step-(\d+)$")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir, step: int, weights: dict, state: dict, keep: int = 3) -> Path:
    """Write weights (``{name: state_dict}``) and the training ``state`` for ``step`` atomically.

    Keeps the newest ``keep`` checkpoints and deletes older ones after the new one is in place.
    """
    from safetensors.torch import save_file

    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-step-{step:07d}-", dir=root))
    try:
        for name, sd in weights.items():
            path = tmp / f"{name}.safetensors"
            save_file({k: v.detach().contiguous().cpu() for k, v in sd.items()}, str(path))
        torch.save(state, tmp / "state.pt")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    steps = sorted(_complete(root))
    for old_step, old in steps[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _complete(root: Path):
    for d in root.iterdir() if root.is_dir() else []:
        m = STEP_DIR.match(d.name)
        if m and d.is_dir() and (d / "state.pt").is_file():
            yield int(m.group(1)), d


def latest_checkpoint(run_dir) -> Path | None:
    """The newest complete checkpoint directory of a run, or None."""
    steps = sorted(_complete(Path(run_dir) / "checkpoints"))
    return steps[-1][1] if steps else None


def load_weights(checkpoint: Path, name: str) -> dict:
    """A module's weights from a checkpoint, with a clear error for missing or corrupt files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(checkpoint) / f"{name}.safetensors"
    if not path.is_file():
        raise HeliogenError(f"checkpoint {checkpoint} has no {path.name}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise HeliogenError(f"checkpoint file {path} is corrupt ({err})") from None


def load_state(checkpoint: Path) -> dict:
    path = Path(checkpoint) / "state.pt"
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - pickle/zip errors come in many types
        raise HeliogenError(f"checkpoint state {path} is corrupt ({type(err).__name__}: {err})") from None
