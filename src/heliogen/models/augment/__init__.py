"""Augmentations applied to the discriminator's inputs (real and generated images alike)."""
