"""The conditional ADM UNet: diffusers' ``UNet2DModel`` plus heliogen's condition encoder."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import HeliogenError
from .conditioning import COND_KINDS, ConditionEncoder

__all__ = ["SolarDiffusionModel", "load_model_config"]


class SolarDiffusionModel(nn.Module):
    """ADM UNet with an optional GOES class/flux condition.

    Parameters
    ----------
    unet : dict
        ``UNet2DModel`` keyword arguments (see :func:`heliogen.models.unet_presets.unet_config`).
    cond : {"none", "class", "flux", "class+flux"}
    """

    def __init__(self, unet: dict, cond: str = "none"):
        super().__init__()
        from diffusers import UNet2DModel

        if cond not in COND_KINDS:
            raise HeliogenError(f"unknown condition {cond!r}; choose from {', '.join(COND_KINDS)}")
        self.unet = UNet2DModel(**unet)
        self.cond = cond
        self.encoder = ConditionEncoder(cond, dim=self.unet.config.block_out_channels[0] * 4) if cond != "none" else None
        self._unet_args = dict(unet)

    @property
    def conditioned(self) -> bool:
        return self.encoder is not None

    def config(self) -> dict:
        """Constructor arguments, JSON-ready: ``SolarDiffusionModel(**config)`` rebuilds the network."""
        return {"unet": json.loads(json.dumps(self._unet_args)), "cond": self.cond}

    def forward(self, x, t, class_index=None, log10_flux=None, drop=None):
        emb = self.encoder(class_index, log10_flux, drop) if self.encoder is not None else None
        if emb is None and (class_index is not None or log10_flux is not None):
            raise HeliogenError("this model is unconditional: it takes no class or flux")
        return self.unet(x, t, class_labels=emb).sample


def load_model_config(run_dir) -> dict:
    path = Path(run_dir) / "model_config.json"
    if not path.is_file():
        raise HeliogenError(f"{run_dir} is not a heliogen run directory (no model_config.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise HeliogenError(f"{path} is corrupt ({err})") from None
