"""Image sampling from a heliogen network, reproducible per image, on the denoiser loop.

Each image k has its own seed and its own ``torch.Generator`` for the initial noise and
every noise draw of ancestral steps (EDM's per-image seeding), and the network is always
evaluated on micro-batches of ``eval_batch`` images, padded at the end: on CPU a result
depends on the batch shape, not on the other rows, so image k comes out identical down to
the bit whatever ``batch`` is (tested). The loop itself (:func:`heliogen.diffusion.loop.sample_loop`)
never clamps; pixel-space clamping and x0 clipping are chosen here.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import HeliogenError
from ..progress import bars_off
from .denoisers import NetworkDenoiser
from .guidance import ClassifierFreeGuidance
from .loop import sample_loop
from .schedule import make_scheduler
from .seeding import image_generators, initial_noise

__all__ = ["sample_images", "network_denoiser"]


def network_denoiser(model, condition: dict | None = None, guidance: float | None = None, eval_batch: int = 8):
    """The denoiser for ``model``: conditional, guided (``eps_u + w (eps_c - eps_u)``) or plain.

    With ``guidance`` and a condition, classifier-free guidance over the conditional and the
    null-condition branches; a conditional model given no condition runs on its null condition.
    """
    if condition and guidance is not None:
        return ClassifierFreeGuidance(NetworkDenoiser(model, condition, eval_batch=eval_batch),
                                      NetworkDenoiser(model, condition, null=True, eval_batch=eval_batch), guidance)
    return NetworkDenoiser(model, condition, eval_batch=eval_batch)


def sample_images(model, scheduler_config: dict, sampler: str, steps: int, seeds, shape, cond: dict | None = None,
                  guidance: float | None = None, batch: int = 16, eval_batch: int = 8, device="cpu", progress: bool = True,
                  clamp: tuple[float, float] | None = (-1.0, 1.0), clip_x0: bool | None = None) -> np.ndarray:
    """Generate one image per seed.

    Parameters
    ----------
    model : SolarDiffusionModel (eval mode)
    scheduler_config : dict
        The run's scheduler config (:func:`heliogen.diffusion.schedule.scheduler_config`).
    sampler : {"ddpm", "ddpm-large", "ddim", "dpmpp"}
    steps : int
        Sampling steps (model evaluations per image, twice that with guidance).
    seeds : sequence of int
        One per image.
    shape : (C, S, S)
    cond : dict of tensors, optional
        ``class_index`` and/or ``log10_flux``, one entry per image.
    guidance : float, optional
        Classifier-free guidance scale ``w`` (``eps_u + w (eps_c - eps_u)``); None means
        the plain conditional model. Needs a conditional model.
    clamp : (low, high) or None
        Clamp of the final sample; the default is the model's pixel range [-1, 1]. None for
        latents or any space without a fixed range.
    clip_x0 : bool, optional
        Clip each step's predicted x0 to the config's ``clip_sample_range`` (ADM's
        ``clip_denoised``); None keeps the config's ``clip_sample``.

    Returns
    -------
    ndarray (N, C, S, S), float32, in the model's [-1, 1] space (unless ``clamp`` says otherwise).
    """
    seeds = [int(s) for s in seeds]
    if steps < 1:
        raise HeliogenError("--steps must be at least 1")
    if guidance is not None and not getattr(model, "conditioned", False):
        raise HeliogenError("guidance needs a conditional model; this one is unconditional")
    if cond and not getattr(model, "conditioned", False):
        raise HeliogenError("this model is unconditional: it takes no class or flux")
    if clip_x0 is not None:
        scheduler_config = {**scheduler_config, "clip_sample": bool(clip_x0)}
    device = torch.device(device)
    out = np.empty((len(seeds), *shape), dtype=np.float32)
    bar = tqdm(total=len(seeds) * steps, desc=f"sample {sampler}-{steps}", unit="step", disable=bars_off(progress))
    for start in range(0, len(seeds), batch):
        chunk = seeds[start : start + batch]
        generators = image_generators(chunk)
        condition = {k: v[start : start + len(chunk)].to(device) for k, v in (cond or {}).items()}
        denoiser = network_denoiser(model, condition, guidance, eval_batch)
        # a fresh scheduler per chunk: multistep solvers keep state between steps; the loop
        # runs without gradients
        x = sample_loop(denoiser, make_scheduler(sampler, scheduler_config), steps, initial_noise(generators, shape, device),
                        generators, on_step=lambda _: bar.update(len(chunk)))
        if clamp is not None:
            x = x.clamp(*clamp)
        out[start : start + len(chunk)] = x.cpu().numpy()
    bar.close()
    if not np.isfinite(out).all():
        raise HeliogenError("sampling produced non-finite values; the checkpoint may be broken")
    return out
