"""Tile GAN and VAE trainers on the shared training loop (granulation thesis sec. 3.2-3.3)."""

from .sample import sample_tiles, tile_generator
from .train_gan import TileGANSettings, train_tilegan
from .train_vae import TileVAESettings, train_tilevae

__all__ = ["TileGANSettings", "train_tilegan", "TileVAESettings", "train_tilevae", "sample_tiles", "tile_generator"]
