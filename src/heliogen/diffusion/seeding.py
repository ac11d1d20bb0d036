"""Per-image random streams (EDM's ``StackedRandomGenerator`` idea, Karras et al. 2022).

Image k owns one ``torch.Generator`` seeded with its own seed. It draws the image's initial
noise and every ancestral noise draw of the sampler, so image k is the same whatever batch
it is sampled in.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["image_generators", "initial_noise"]


def image_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per seed (CPU, so streams match on every device)."""
    return [torch.Generator().manual_seed(int(seed)) for seed in seeds]


def initial_noise(generators: Sequence[torch.Generator], shape, device="cpu") -> torch.Tensor:
    """Stack one unit Gaussian draw of ``shape`` per generator, then move it to ``device``."""
    return torch.stack([torch.randn(tuple(shape), generator=g) for g in generators]).to(device)
