"""Sampling loops over diffusers schedulers, reproducible per image.

Each image k has its own seed and its own ``torch.Generator`` for the initial noise and
every noise draw of ancestral steps (EDM's per-image seeding), and the network is always
evaluated on micro-batches of ``eval_batch`` images, padded at the end: on CPU a result
depends on the batch shape, not on the other rows, so image k comes out identical down to
the bit whatever ``batch`` is (tested).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import HeliogenError
from ..progress import bars_off
from .guidance import guide
from .schedule import make_scheduler

__all__ = ["sample_images", "ConditionBatch"]


class ConditionBatch(dict):
    """Per-image condition tensors: ``class_index`` (long) and/or ``log10_flux`` (float)."""


def _eval(model, x, t, cond: dict | None, drop: torch.Tensor | None, eval_batch: int) -> torch.Tensor:
    """Model output on fixed-size micro-batches (padded), so numerics never depend on batch."""
    n = x.shape[0]
    outs = []
    for i in range(0, n, eval_batch):
        j = min(i + eval_batch, n)
        pad = eval_batch - (j - i)

        def take(v):
            v = v[i:j]
            return torch.cat([v, v[:1].expand(pad, *v.shape[1:])]) if pad else v

        kwargs = {k: take(v) for k, v in (cond or {}).items()}
        if drop is not None:
            kwargs["drop"] = take(drop)
        out = model(take(x), take(t), **kwargs)
        outs.append(out[: j - i])
    return torch.cat(outs)


@torch.no_grad()
def sample_images(model, scheduler_config: dict, sampler: str, steps: int, seeds, shape, cond: dict | None = None,
                  guidance: float | None = None, batch: int = 16, eval_batch: int = 8, device="cpu", progress: bool = True) -> np.ndarray:
    """Generate one image per seed.

    Parameters
    ----------
    model : SolarDiffusionModel (eval mode)
    scheduler_config : dict
        The run's scheduler config (:func:`heliogen.diffusion.schedule.scheduler_config`).
    sampler : {"ddpm", "ddim", "dpmpp"}
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

    Returns
    -------
    ndarray (N, C, S, S), float32, in the model's [-1, 1] space.
    """
    seeds = [int(s) for s in seeds]
    if steps < 1:
        raise HeliogenError("--steps must be at least 1")
    if guidance is not None and not getattr(model, "conditioned", False):
        raise HeliogenError("guidance needs a conditional model; this one is unconditional")
    if cond and not getattr(model, "conditioned", False):
        raise HeliogenError("this model is unconditional: it takes no class or flux")
    device = torch.device(device)
    out = np.empty((len(seeds), *shape), dtype=np.float32)
    bar = tqdm(total=len(seeds) * steps, desc=f"sample {sampler}-{steps}", unit="step", disable=bars_off(progress))
    for start in range(0, len(seeds), batch):
        chunk = seeds[start : start + batch]
        gens = [torch.Generator().manual_seed(s) for s in chunk]
        scheduler = make_scheduler(sampler, scheduler_config)
        scheduler.set_timesteps(steps)
        x = torch.stack([torch.randn(shape, generator=g) for g in gens]).to(device) * scheduler.init_noise_sigma
        c = {k: v[start : start + len(chunk)].to(device) for k, v in (cond or {}).items()}
        for t in scheduler.timesteps:
            tt = torch.full((len(chunk),), int(t), device=device, dtype=torch.long)
            xin = scheduler.scale_model_input(x, t)
            if c and guidance is not None:
                eps_c = _eval(model, xin, tt, c, torch.zeros(len(chunk), dtype=torch.bool, device=device), eval_batch)
                eps_u = _eval(model, xin, tt, c, torch.ones(len(chunk), dtype=torch.bool, device=device), eval_batch)
                eps = guide(eps_u, eps_c, guidance)
            elif getattr(model, "conditioned", False) and not c:
                # no condition given: the null condition, i.e. the unconditional model
                dummy = {k: torch.zeros(len(chunk), dtype=torch.long if k == "class_index" else torch.float32, device=device)
                         for k in _cond_keys(model)}
                eps = _eval(model, xin, tt, dummy, torch.ones(len(chunk), dtype=torch.bool, device=device), eval_batch)
            else:
                eps = _eval(model, xin, tt, c or None, None, eval_batch)
            x = _step(scheduler, eps, t, x, gens)
            bar.update(len(chunk))
        out[start : start + len(chunk)] = x.clamp(-1, 1).cpu().numpy()
    bar.close()
    if not np.isfinite(out).all():
        raise HeliogenError("sampling produced non-finite values; the checkpoint may be broken")
    return out


def _cond_keys(model) -> list[str]:
    enc = model.encoder
    return (["class_index"] if enc.uses_class else []) + (["log10_flux"] if enc.uses_flux else [])


def _step(scheduler, eps, t, x, gens):
    """One scheduler step; ancestral noise comes from each image's own generator."""
    from diffusers import DDPMScheduler

    if isinstance(scheduler, DDPMScheduler):
        # diffusers draws one tensor per generator in a list, row by row
        return scheduler.step(eps, t, x, generator=gens).prev_sample
    return scheduler.step(eps, t, x).prev_sample
