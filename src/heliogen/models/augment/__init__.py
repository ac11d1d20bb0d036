"""Differentiable augmentations applied to both real and generated images before a discriminator."""

from .diffaugment import DiffAugment, DiffAugmentDraw, apply_diffaugment, draw_diffaugment

__all__ = ["DiffAugment", "DiffAugmentDraw", "apply_diffaugment", "draw_diffaugment"]
