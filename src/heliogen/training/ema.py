"""Exponential moving averages of weights, with a fixed decay or StyleGAN2's images-seen ramp.

Fixed: diffusers' :class:`~diffusers.training_utils.EMAModel`, whose decay warms up as
``min(decay, (1 + k) / (10 + k))`` over the first steps k.

Ramped (Karras et al. 2020, StyleGAN2's ``training_loop.py``): the average's half-life is
``ema_kimg`` thousand images, shortened early in training to ``rampup`` times the images seen
so far::

    ema_nimg = min(1000 * ema_kimg, cur_nimg * rampup)
    beta     = 0.5 ** (batch / ema_nimg)

where ``cur_nimg`` counts the images seen before the current step (the first step copies the
weights, beta = 0).
"""

from __future__ import annotations

from contextlib import contextmanager

from diffusers.training_utils import EMAModel

__all__ = ["ImagesSeenEMA", "make_ema", "ema_weights"]


class ImagesSeenEMA(EMAModel):
    """EMA whose decay follows the StyleGAN2 schedule in images seen (module docstring).

    Parameters
    ----------
    parameters : iterable of torch.nn.Parameter
    batch : int
        Global batch: images seen per optimizer step.
    ema_kimg : float
        Half-life of the average in thousands of images.
    rampup : float or None
        Ramp the half-life up as ``rampup`` times the images seen (StyleGAN2: 0.05); None: no ramp.
    """

    def __init__(self, parameters, batch: int, ema_kimg: float, rampup: float | None = None, **kwargs):
        super().__init__(parameters, **kwargs)
        self.batch, self.ema_kimg, self.rampup = int(batch), float(ema_kimg), rampup

    def get_decay(self, optimization_step: int) -> float:
        # EMAModel.step counts the current step before asking for its decay
        cur_nimg = max(0, optimization_step - 1) * self.batch
        ema_nimg = self.ema_kimg * 1000.0
        if self.rampup:
            ema_nimg = min(ema_nimg, cur_nimg * self.rampup)
        return 0.5 ** (self.batch / max(ema_nimg, 1e-8))


def make_ema(parameters, decay: float, batch: int, ema_kimg: float = 0.0, rampup: float | None = None) -> EMAModel:
    """A fixed-decay EMA, or the images-seen ramp when ``ema_kimg > 0``."""
    if ema_kimg and ema_kimg > 0:
        return ImagesSeenEMA(parameters, batch=batch, ema_kimg=ema_kimg, rampup=rampup or None)
    return EMAModel(parameters, decay=decay)


@contextmanager
def ema_weights(ema: EMAModel, module):
    """Inside the block ``module`` holds the averaged weights; its own come back afterwards."""
    params = list(module.parameters())
    ema.store(params)
    ema.copy_to(params)
    try:
        yield module
    finally:
        ema.restore(params)
