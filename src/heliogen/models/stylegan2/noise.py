"""Per-layer noise inputs of the StyleGAN2 synthesis network, drawn reproducibly.

Noise is drawn on the generator's own device (CPU for seeded per-image generators), then
moved, so a seed gives the same noise on every device. With one ``torch.Generator`` per
sample, sample k's noise comes only from its own stream, whatever batch it is drawn in.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch

from ...errors import HeliogenError

__all__ = ["NOISE_MODES", "check_noise_mode", "draw_noise", "GeneratorArg"]

NOISE_MODES = ("random", "const", "none")

# None (global RNG), one generator for the whole batch, or one per sample
GeneratorArg = Union[None, torch.Generator, Sequence[torch.Generator]]


def check_noise_mode(mode: str) -> str:
    """``mode`` must be one of :data:`NOISE_MODES`."""
    if mode not in NOISE_MODES:
        raise HeliogenError(f"noise_mode {mode!r} is not one of {', '.join(NOISE_MODES)}")
    return mode


def draw_noise(n: int, resolution: int, generator: GeneratorArg = None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Unit Gaussian noise (n, 1, resolution, resolution) from ``generator``.

    Parameters
    ----------
    n : int
        Batch size.
    resolution : int
    generator : None, torch.Generator or sequence of torch.Generator
        None: the global RNG of ``device``. A sequence must hold one generator per sample.
    device, dtype
        Where and as what the noise is returned.
    """
    shape = (1, resolution, resolution)
    if generator is None:
        return torch.randn((n, *shape), device=device, dtype=dtype)
    if isinstance(generator, torch.Generator):
        return torch.randn((n, *shape), generator=generator, device=generator.device).to(device=device, dtype=dtype)
    gens = list(generator)
    if len(gens) != n:
        raise HeliogenError(f"got {len(gens)} per-sample generators for a batch of {n}")
    return torch.stack([torch.randn(shape, generator=g, device=g.device) for g in gens]).to(device=device, dtype=dtype)
