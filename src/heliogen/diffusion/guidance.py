"""Classifier-free guidance (Ho & Salimans 2022).

heliogen's convention: ``eps = eps_u + w * (eps_c - eps_u)``. ``w = 0`` is unconditional,
``w = 1`` purely conditional, ``w > 1`` extrapolates towards the condition.

The literature also writes ``eps = eps_c + w' * (eps_c - eps_u)`` (the flare-class poster's
eq. 4, and Ho & Salimans' own paper); it is the same with ``w = 1 + w'``. A poster value of
``w' = 2`` is heliogen's ``--guidance 3``.
"""

from __future__ import annotations

import torch

__all__ = ["guide", "from_poster_scale"]


def guide(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, w: float) -> torch.Tensor:
    """Guided prediction ``eps_u + w (eps_c - eps_u)``."""
    return eps_uncond + w * (eps_cond - eps_uncond)


def from_poster_scale(w_prime: float) -> float:
    """Convert the ``eps_c + w'(eps_c - eps_u)`` convention to heliogen's ``w``."""
    return 1.0 + w_prime
