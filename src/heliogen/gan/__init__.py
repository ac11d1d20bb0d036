"""GANs for full-disk images: training, sampling, and tools that work on a trained generator.

:mod:`.train` trains a StyleGAN2 generator against a ProjectedGAN or StyleGAN2-ADA discriminator
(``heliogen train gan``); :mod:`.sample` samples a run to FITS (``heliogen sample``).

:mod:`.directions` finds GANSpace directions of W and edits along them;
:mod:`.directions_figure` draws them (kept apart so the library does not import matplotlib).
"""
