"""heliogen: generative modelling of solar observations.

Four published systems (full-disk EUV generation, flare-class conditional diffusion,
magnetogram super-resolution and granulation mosaics) around one FITS-in, FITS-out pipeline.
"""

__version__ = "0.2.0"
