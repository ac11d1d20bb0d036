"""The sampling loop over a denoiser, in the style of k-diffusion's ``sample_euler(model, x, sigmas)``.

The loop knows a denoiser only as a callable ``(x, t) -> output``, where the output is in the
scheduler's prediction type (``epsilon``, ``v_prediction`` or ``sample``), and a diffusers
scheduler that turns one output into the next state. It knows nothing about pixels, image
kinds, conditions or clamping: those belong to the denoiser wrappers
(:mod:`heliogen.diffusion.denoisers`, :mod:`heliogen.diffusion.guidance`) and to the caller,
so images and latents share this one loop.
"""

from __future__ import annotations

import inspect
from typing import Callable, Sequence

import torch

__all__ = ["Denoiser", "sample_loop"]

#: ``(x, t) -> model output``: ``x`` is (N, ...) and ``t`` an (N,) long tensor of timesteps.
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sample_loop(denoiser: Denoiser, scheduler, steps: int, noise: torch.Tensor,
                generators: Sequence[torch.Generator] | None = None,
                on_step: Callable[[int], None] | None = None) -> torch.Tensor:
    """Run a diffusers scheduler's reverse process from ``noise`` to a sample.

    Parameters
    ----------
    denoiser : callable ``(x, t) -> output``
        The model output in ``scheduler.config.prediction_type``.
    scheduler : diffusers scheduler (DDPM, DDIM, DPM-Solver++, ...)
        Its timesteps are reset to ``steps`` here, which also clears a multistep solver's
        history, so one scheduler may run the loop many times.
    steps : int
        Number of reverse steps (denoiser evaluations).
    noise : Tensor (N, ...)
        Unit Gaussian noise; it is scaled by the scheduler's ``init_noise_sigma``.
    generators : sequence of torch.Generator, optional
        One per row of ``noise``: ancestral samplers (DDPM; DDIM with ``eta > 0``) draw each
        row's fresh noise from its own generator, so row k never depends on the other rows.
    on_step : callable, optional
        Called with the step index after each step (progress bars).

    Returns
    -------
    Tensor (N, ...)
        The scheduler's final ``prev_sample``, unclamped.
    """
    scheduler.set_timesteps(steps)
    # diffusers draws one row per generator when given a list (randn_tensor); DPM-Solver++
    # and deterministic DDIM draw nothing, so passing the list is harmless there
    step_kwargs = {}
    if generators is not None and "generator" in inspect.signature(scheduler.step).parameters:
        step_kwargs["generator"] = list(generators)
    x = noise * scheduler.init_noise_sigma
    # a with-block, not a decorator: sampling never needs gradients, and mutation testing
    # (mutmut) skips decorated functions
    with torch.no_grad():
        for index, t in enumerate(scheduler.timesteps):
            t_batch = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
            output = denoiser(scheduler.scale_model_input(x, t), t_batch)
            x = scheduler.step(output, t, x, **step_kwargs).prev_sample
            if on_step is not None:
                on_step(index)
    return x
