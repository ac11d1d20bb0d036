"""Differentiable augmentations applied to real and generated images alike before a discriminator:
DiffAugment (ProjectedGAN) and ADA's adaptive pipeline (StyleGAN2-ADA, ``augment.ada``)."""

from .diffaugment import DiffAugment, DiffAugmentDraw, apply_diffaugment, draw_diffaugment

__all__ = ["DiffAugment", "DiffAugmentDraw", "apply_diffaugment", "draw_diffaugment"]
