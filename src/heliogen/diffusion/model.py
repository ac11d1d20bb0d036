"""The conditional ADM UNet: diffusers' ``UNet2DModel`` plus heliogen's condition encoder."""

from __future__ import annotations

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ..errors import HeliogenError
from .conditioning import COND_KINDS, ConditionEncoder

__all__ = ["SolarDiffusionModel"]


class SolarDiffusionModel(ModelMixin, ConfigMixin):
    """ADM UNet with an optional GOES class/flux condition.

    A diffusers model: ``.config`` holds the constructor arguments, ``save_pretrained`` and
    ``from_pretrained`` write and read a folder of ``config.json`` and safetensors weights.

    Parameters
    ----------
    unet : dict
        ``UNet2DModel`` keyword arguments (see :func:`heliogen.models.unet_presets.unet_config`).
    cond : {"none", "class", "flux", "class+flux"}
    """

    @register_to_config
    def __init__(self, unet: dict, cond: str = "none"):
        super().__init__()
        from diffusers import UNet2DModel

        if cond not in COND_KINDS:
            raise HeliogenError(f"unknown condition {cond!r}; choose from {', '.join(COND_KINDS)}")
        self.unet = UNet2DModel(**unet)
        self.cond = cond
        self.encoder = ConditionEncoder(cond, dim=self.unet.config.block_out_channels[0] * 4) if cond != "none" else None

    def __getattr__(self, name: str):
        # The UNet submodule shares its name with the config entry that builds it (and with the
        # "unet." prefix of every saved weight). ModelMixin looks names up in the config first,
        # which would give the dict; a registered submodule wins here.
        modules = self.__dict__.get("_modules", {})
        if name in modules:
            return modules[name]
        return super().__getattr__(name)

    @property
    def conditioned(self) -> bool:
        return self.encoder is not None

    def forward(self, x, t, class_index=None, log10_flux=None, drop=None):
        emb = self.encoder(class_index, log10_flux, drop) if self.encoder is not None else None
        if emb is None and (class_index is not None or log10_flux is not None):
            raise HeliogenError("this model is unconditional: it takes no class or flux")
        return self.unet(x, t, class_labels=emb).sample
