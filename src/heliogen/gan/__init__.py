"""GAN tools that work on a trained generator.

:mod:`.directions` finds GANSpace directions of W and edits along them;
:mod:`.directions_figure` draws them (kept apart so the library does not import matplotlib).
"""
