"""ProjectedGAN discriminator: a frozen pretrained feature network, random projections, and
multi-scale patch discriminators (Sauer et al. 2021)."""

from .discriminator import ProjectedDiscriminator

__all__ = ["ProjectedDiscriminator"]
