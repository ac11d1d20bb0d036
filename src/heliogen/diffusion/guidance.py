"""Classifier-free guidance (Ho & Salimans 2022).

heliogen's convention: ``eps = eps_u + w * (eps_c - eps_u)``. ``w = 0`` is unconditional,
``w = 1`` purely conditional, ``w > 1`` extrapolates towards the condition.

The literature also writes ``eps = eps_c + w' * (eps_c - eps_u)`` (the flare-class poster's
eq. 4, and Ho & Salimans' own paper); it is the same with ``w = 1 + w'``. A poster value of
``w' = 2`` is heliogen's ``--guidance 3``.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["guide", "from_poster_scale", "ClassifierFreeGuidance"]


def guide(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, w: float) -> torch.Tensor:
    """Guided prediction ``eps_u + w (eps_c - eps_u)``."""
    return eps_uncond + w * (eps_cond - eps_uncond)


def from_poster_scale(w_prime: float) -> float:
    """Convert the ``eps_c + w'(eps_c - eps_u)`` convention to heliogen's ``w``."""
    return 1.0 + w_prime


class ClassifierFreeGuidance:
    """A guided denoiser from a conditional and an unconditional one (Ho & Salimans 2022, eq. 6).

    Returns ``guide(unconditional(x, t), conditional(x, t), scale)``. The combination is
    linear, so it holds in any prediction type that is linear in epsilon at fixed ``x`` and
    ``t``: epsilon, v and x0 alike.

    Parameters
    ----------
    conditional, unconditional : callable ``(x, t) -> output``
    scale : float
        heliogen's ``w``.
    """

    def __init__(self, conditional: Callable, unconditional: Callable, scale: float):
        self.conditional, self.unconditional, self.scale = conditional, unconditional, float(scale)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return guide(self.unconditional(x, t), self.conditional(x, t), self.scale)
