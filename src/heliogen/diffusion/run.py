"""A diffusion run directory: what training writes and sampling reads.

``RUN/config.yaml`` (the resolved training config), ``RUN/model_config.json`` (constructor
arguments of the network and the scheduler config), ``RUN/data.json`` (the store's kind,
size, normalisation and grid header, so sampling needs no store), ``RUN/checkpoints/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.normalise import Normalisation
from ..errors import HeliogenError
from ..training.checkpoint import latest_checkpoint, load_weights
from .model import SolarDiffusionModel, load_model_config

__all__ = ["load_run", "to_model_space", "from_model_space", "LoadedRun"]


def to_model_space(x: torch.Tensor, data_range) -> torch.Tensor:
    """Store model space ([0, 1] for log-max EUV, else [-1, 1]) to the diffusion's [-1, 1]."""
    lo, hi = data_range
    return (x - lo) * (2.0 / (hi - lo)) - 1.0


def from_model_space(x, data_range):
    lo, hi = data_range
    return (x + 1.0) * ((hi - lo) / 2.0) + lo


class LoadedRun:
    """A trained model (EMA weights) with its scheduler config and data description."""

    def __init__(self, run_dir, checkpoint=None, ema: bool = True, device="cpu"):
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise HeliogenError(f"no run directory at {run_dir}")
        cfg = load_model_config(run_dir)
        data_path = run_dir / "data.json"
        try:
            self.data = json.loads(data_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise HeliogenError(f"{data_path} is missing or corrupt ({err})") from None
        ckpt = Path(checkpoint) if checkpoint else latest_checkpoint(run_dir)
        if ckpt is None or not ckpt.is_dir():
            raise HeliogenError(f"no complete checkpoint in {run_dir / 'checkpoints'}" if checkpoint is None else f"no checkpoint at {checkpoint}")
        self.model = SolarDiffusionModel(cfg["unet"], cfg["cond"])
        weights = load_weights(ckpt, "model_ema" if ema else "model")
        try:
            self.model.load_state_dict(weights)
        except RuntimeError as err:
            raise HeliogenError(f"checkpoint {ckpt} does not fit the model ({str(err).splitlines()[0]})") from None
        self.model.eval().to(device)
        self.scheduler_config = cfg["scheduler"]
        self.checkpoint = ckpt
        self.run_dir = run_dir
        self.normalisation = Normalisation.from_dict(self.data["normalisation"])

    @property
    def shape(self):
        return (self.data["channels"], self.data["size"], self.data["size"])

    def physical(self, x):
        """Diffusion-space samples to physical units (DN/s, G, I/<I>)."""
        return self.normalisation.physical(from_model_space(x.astype("float64"), self.data["data_range"]))


def load_run(run_dir, checkpoint=None, device="cpu") -> LoadedRun:
    return LoadedRun(run_dir, checkpoint, device=device)
