"""Condition encoders for flare-class diffusion (flare-class poster, "Experiments setup").

The encoder turns a GOES class (A..X) and/or log10 XRS-B flux into one vector that the ADM
UNet adds to its time embedding, as ADM adds class embeddings. A learned "null" vector stands
for a dropped condition, which classifier-free guidance (Ho & Salimans 2022) needs: training
drops the condition with probability ``p_uncond``; sampling evaluates with and without it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.goes import GOES_CLASSES
from ..errors import HeliogenError

__all__ = ["ConditionEncoder", "COND_KINDS", "flux_feature"]

COND_KINDS = ("none", "class", "flux", "class+flux")


def flux_feature(log10_flux: torch.Tensor) -> torch.Tensor:
    """Map log10 flux to about [-1, 1] over the A..X range (1e-8 .. 1e-4 W/m^2)."""
    return (log10_flux + 6.0) / 2.0


class ConditionEncoder(nn.Module):
    """Embed the condition into a (B, dim) vector; rows with ``drop`` get the null vector.

    Parameters
    ----------
    kind : {"class", "flux", "class+flux"}
    dim : int
        The UNet's time-embedding width.
    """

    def __init__(self, kind: str, dim: int):
        super().__init__()
        if kind not in COND_KINDS or kind == "none":
            raise HeliogenError(f"a condition encoder needs a condition kind from {', '.join(COND_KINDS[1:])}")
        self.kind, self.dim = kind, dim
        self.uses_class = "class" in kind
        self.uses_flux = "flux" in kind
        if self.uses_class:
            self.class_embedding = nn.Embedding(len(GOES_CLASSES), dim)
        if self.uses_flux:
            self.flux_mlp = nn.Sequential(nn.Linear(1, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null = nn.Parameter(torch.zeros(dim))

    def forward(self, class_index=None, log10_flux=None, drop=None) -> torch.Tensor:
        parts = []
        if self.uses_class:
            if class_index is None:
                raise HeliogenError("this model is conditioned on the GOES class: give a class")
            parts.append(self.class_embedding(class_index))
        if self.uses_flux:
            if log10_flux is None:
                raise HeliogenError("this model is conditioned on the X-ray flux: give a flux")
            parts.append(self.flux_mlp(flux_feature(log10_flux.float()).unsqueeze(-1)))
        emb = torch.stack(parts).sum(0)
        if drop is not None:
            emb = torch.where(drop.unsqueeze(-1), self.null.to(emb.dtype).expand_as(emb), emb)
        return emb
