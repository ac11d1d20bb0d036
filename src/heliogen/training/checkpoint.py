"""Atomic checkpoints: a directory per step, written to a temp name, fsynced, then renamed.

``RUN/checkpoints/step-0000100/`` holds one ``save_pretrained`` folder per module
(``model/``, ``model_ema/``, ``G/``, ``G_ema/``, ``D/`` ...: ``config.json`` beside
``diffusion_pytorch_model.safetensors``) and ``state.pt`` (optimizers, EMA state, step, RNG
states). The rename is the commit: a directory without the temp prefix is complete, so resume
takes the newest one and never a half-written checkpoint. Checkpoints written before the
folder layout hold flat ``<name>.safetensors`` files; :func:`load_weights` reads both.

A module may be saved as its trainable parameters only (``trainable_only``): a LoRA adapter
on a frozen base is then a few megabytes, and is loaded back onto a freshly built base.

``state.pt`` holds tensors and plain Python containers only, and is read back with
``torch.load(weights_only=True)``: loading a checkpoint unpickles no arbitrary objects.

One run directory holds one history. A run resumed from an older checkpoint (``--resume
PATH`` at step k, or ``--resume never`` at step 0) abandons the checkpoints past k:
:func:`set_aside_later_checkpoints` moves them to ``checkpoints/abandoned/`` before training
goes on, so "newest" (resume ``auto``, sampling) and pruning only ever see this history.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ..atomic import default_dir_mode
from ..errors import HeliogenError
from .best import BEST_NAME, read_best

__all__ = ["save_checkpoint", "latest_checkpoint", "load_state", "load_weights", "set_aside_later_checkpoints", "save_module", "load_saved_module", "list_checkpoints",
           "load_module_weights", "module_weights_path", "state_dict_mismatch", "STEP_DIR", "ABANDONED", "WEIGHTS_NAME"]

log = logging.getLogger("heliogen")

STEP_DIR = re.compile(r"^step-(\d+)$")
ABANDONED = "abandoned"  # checkpoints/abandoned/<when>-resumed-at-step-K/step-N: another history
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"  # the file diffusers' save_pretrained writes
TRAINABLE_ONLY = "heliogen_trainable_only"  # safetensors metadata key of a trainable-only save


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            with open(Path(folder) / name, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(Path(folder))


def save_module(module, folder, trainable_only: bool = False) -> Path:
    """Write one module as a ``save_pretrained`` folder (config.json + safetensors weights).

    A diffusers ``ModelMixin`` saves itself; any other ``nn.Module`` gets the weights file
    alone. ``trainable_only``: only parameters with ``requires_grad`` are written (the
    config still describes the whole module), for adapters on a frozen base.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not trainable_only and hasattr(module, "save_pretrained"):
        module.save_pretrained(folder, safe_serialization=True)
        return folder
    if hasattr(module, "save_config"):
        module.save_config(folder)
    keep = {n for n, p in module.named_parameters() if p.requires_grad} if trainable_only else None
    weights = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items() if keep is None or k in keep}
    save_file(weights, str(folder / WEIGHTS_NAME), metadata={"format": "pt", TRAINABLE_ONLY: str(bool(trainable_only))})
    return folder


def save_checkpoint(run_dir, step: int, write_modules, state: dict, keep: int = 3) -> Path:
    """Write a checkpoint for ``step`` atomically: ``write_modules(folder)`` fills the module
    folders (see :func:`save_module`), then ``state`` goes to ``state.pt``.

    Keeps the new checkpoint and the ``keep - 1`` newest before it, and deletes older ones
    after the new one is in place (``keep <= 0`` keeps all); the checkpoint that
    ``checkpoints/best`` names (:mod:`heliogen.training.best`) is never deleted nor counted.
    Checkpoints past ``step`` are not this history's (the trainer sets them aside on resume); pruning never counts or deletes them.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-step-{step:07d}-", dir=root))
    try:
        write_modules(tmp)
        torch.save(state, tmp / "state.pt")
        _fsync_tree(tmp)
        os.chmod(tmp, default_dir_mode())  # mkdtemp's 0700 would hide the checkpoint from colleagues
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep > 0:
        best = read_best(run_dir)
        protected = best["checkpoint"] if best else None
        before = sorted((s, d) for s, d in _complete(root) if s < step and d.name != protected)
        for _, old in before[: max(0, len(before) - (keep - 1))]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _complete(root: Path):
    for d in root.iterdir() if root.is_dir() else []:
        m = STEP_DIR.match(d.name)
        if m and d.is_dir() and (d / "state.pt").is_file():
            yield int(m.group(1)), d


def set_aside_later_checkpoints(run_dir, step: int, foreign: bool = False) -> list[Path]:
    """Move the checkpoints of ``run_dir`` past ``step`` to ``checkpoints/abandoned/``.

    Called when training continues from ``step`` (an older checkpoint, or 0 for a fresh
    start): later checkpoints belong to the abandoned history and would otherwise be taken for
    the newest by resume ``auto`` and by sampling, and upset pruning. ``foreign``: training
    continues from a checkpoint outside this run's own list (another run, or one already set
    aside), so every checkpoint here belongs to another history and all are moved. They are
    moved, not deleted, with a warning naming the folder; a ``best`` pointer naming one of them
    goes with them (it names a checkpoint of the abandoned history). Returns their new paths.
    """
    root = Path(run_dir) / "checkpoints"
    later = sorted((int(m.group(1)), d) for d in (root.iterdir() if root.is_dir() else [])
                   if (m := STEP_DIR.match(d.name)) and d.is_dir() and (foreign or int(m.group(1)) > step))
    if not later:
        return []
    (root / ABANDONED).mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = Path(tempfile.mkdtemp(prefix=f"{stamp}-resumed-at-step-{step:07d}-", dir=root / ABANDONED))
    os.chmod(dest, default_dir_mode())  # mkdtemp's 0700 would hide them from colleagues
    moved = []
    for _, d in later:
        os.replace(d, dest / d.name)
        moved.append(dest / d.name)
    best = read_best(run_dir)
    if best is not None and (dest / best["checkpoint"]).is_dir():
        os.replace(root / BEST_NAME, dest / BEST_NAME)
    _fsync_dir(root)
    log.warning("training continues from step %d%s: moved %d checkpoint(s) of another history (%s) to %s",
                step, " of a checkpoint from elsewhere" if foreign else "", len(moved), ", ".join(p.name for p in moved), dest)
    return moved


def list_checkpoints(run_dir) -> list[Path]:
    """The complete checkpoint folders of a run, oldest first."""
    return [d for _, d in sorted(_complete(Path(run_dir) / "checkpoints"))]


def latest_checkpoint(run_dir) -> Path | None:
    """The newest complete checkpoint directory of a run, or None."""
    steps = sorted(_complete(Path(run_dir) / "checkpoints"))
    return steps[-1][1] if steps else None


def module_weights_path(checkpoint, name: str) -> Path:
    """The weights file of module ``name``: ``name/`` folder, or a flat ``name.safetensors`` (older runs)."""
    folder = Path(checkpoint) / name
    if folder.is_dir():
        return folder / WEIGHTS_NAME
    return Path(checkpoint) / f"{name}.safetensors"


def load_weights(checkpoint, name: str) -> dict:
    """A module's weights from a checkpoint, with a clear error for missing or corrupt files."""
    return load_module_weights(module_weights_path(checkpoint, name), checkpoint=checkpoint)[0]


def state_dict_mismatch(module, weights: dict) -> str:
    """What keeps ``weights`` from loading into ``module``, in a few words ("" if nothing):
    the first missing key, the first unexpected key, or the first shape that differs."""
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    shapes = [k for k in own if k in weights and tuple(own[k].shape) != tuple(weights[k].shape)]
    problems = []
    if missing:
        problems.append(f"it lacks {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    if unexpected:
        problems.append(f"it has an unexpected {unexpected[0]}" + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""))
    if shapes:
        k = shapes[0]
        problems.append(f"its {k} is {tuple(weights[k].shape)}, the model's {tuple(own[k].shape)}")
    return "; ".join(problems)


def load_saved_module(module, folder):
    """Load a :func:`save_module` folder into ``module`` (built by the caller) and return it.

    A trainable-only save fills the trainable parameters and leaves the rest (the frozen base
    the caller built) as they are; every trainable parameter must be in the file.
    """
    weights, partial = load_module_weights(Path(folder) / WEIGHTS_NAME)
    try:
        result = module.load_state_dict(weights, strict=not partial)
    except RuntimeError as err:
        why = state_dict_mismatch(module, weights) or str(err).splitlines()[0]
        raise HeliogenError(f"{folder} does not fit the model ({why})") from None
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    if partial and (set(result.missing_keys) & trainable or result.unexpected_keys):
        raise HeliogenError(f"{folder} does not fit the model: its trainable parameters differ")
    return module


def load_module_weights(path, checkpoint=None) -> tuple[dict, bool]:
    """(weights, trainable_only) of one safetensors file, with one-line errors."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        where = checkpoint if checkpoint is not None else path.parent
        raise HeliogenError(f"checkpoint {where} has no {path.parent.name + '/' if path.name == WEIGHTS_NAME else ''}{path.name}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            partial = (fh.metadata() or {}).get(TRAINABLE_ONLY) == "True"
        return load_file(str(path)), partial
    except (SafetensorError, OSError, ValueError) as err:
        raise HeliogenError(f"checkpoint file {path} is corrupt ({err})") from None


def load_state(checkpoint: Path) -> dict:
    """The training state of a checkpoint, loaded with ``weights_only=True`` (no arbitrary unpickling)."""
    path = Path(checkpoint) / "state.pt"
    if not path.is_file():
        raise HeliogenError(f"checkpoint {checkpoint} has no {path.name}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        legacy = _load_legacy_numpy_state(path)
        if legacy is not None:
            return legacy
        refused = next((line.strip().split(". Please")[0].removeprefix("WeightsUnpickler error: ")
                        for line in str(err).splitlines() if "Unsupported global" in line), "")
        if not refused:  # a damaged file, not a refused object
            detail = next((line.strip() for line in str(err).splitlines() if "Unsupported" in line), type(err).__name__)
            raise HeliogenError(f"checkpoint state {path} is corrupt ({detail})") from None
        raise HeliogenError(f"checkpoint state {path} holds objects other than tensors and plain values (written by an "
                            f"older heliogen, or not by heliogen); it is not unpickled, for safety ({refused})") from None
    except Exception as err:  # noqa: BLE001 - zip/IO errors come in many types
        first = (str(err).strip().splitlines() or [""])[0]
        raise HeliogenError(f"checkpoint state {path} is corrupt ({type(err).__name__}: {first})") from None


# What heliogen < 0.2's state.pt pickled besides tensors: numpy's global RNG state (a tuple
# holding a uint32 ndarray). These three globals rebuild plain arrays and nothing else.
_LEGACY_NUMPY_GLOBALS = {"numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype"}


def _load_legacy_numpy_state(path: Path):
    """A state.pt from before the RNG states were stored as tensors, or None if it holds anything else."""
    import importlib

    try:
        names = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # noqa: BLE001 - not a readable archive: the caller reports it
        return None
    if not names or not names <= _LEGACY_NUMPY_GLOBALS:
        return None
    objs = []
    for name in names:
        module, _, attr = name.rpartition(".")
        try:
            objs.append(getattr(importlib.import_module(module), attr))
        except (ImportError, AttributeError):
            return None
    import numpy as np

    objs.append(type(np.dtype(np.uint32)))  # the key array's dtype class, rebuilt by numpy.dtype
    try:
        with torch.serialization.safe_globals(objs):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        return None
