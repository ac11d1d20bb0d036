"""Deterministic DDIM that steps from each timestep to the next one of its own schedule.

diffusers' ``DDIMScheduler.step`` takes the previous timestep as ``t - T // steps``. With the
"trailing" spacing heliogen samples with (Lin et al. 2024) and a step count that does not divide
T (6, 7, 11, 15, 60, ... of T = 1000), that is not the next timestep of the schedule, and the
last step stops at alphabar_0 = 0.9999 instead of 1, leaving a hundredth of the predicted noise
in every image. This scheduler goes to the next timestep of its list, and to alphabar = 1 after
the last one; where ``T // steps`` is the true stride the two agree to the bit.

The update is DDIM's with eta = 0 (Song et al. 2021, eq. 12):

    x_prev = sqrt(alphabar_prev) x0_hat + sqrt(1 - alphabar_prev) eps_hat,

with ``x0_hat`` clipped to the config's ``clip_sample_range`` when ``clip_sample`` is set.
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput

from ..errors import HeliogenError

__all__ = ["NextStepDDIMScheduler"]


class NextStepDDIMScheduler(DDIMScheduler):
    """diffusers' DDIM (eta = 0 only) whose every step ends on the next timestep of its list."""

    def _next_alphabar(self, timestep: int) -> torch.Tensor:
        listed = self.timesteps.tolist()
        if timestep not in listed:
            raise HeliogenError(f"timestep {timestep} is not on this DDIM schedule ({len(listed)} steps)")
        k = listed.index(timestep)
        return self.alphas_cumprod[listed[k + 1]] if k + 1 < len(listed) else self.final_alpha_cumprod

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, eta: float = 0.0,
             use_clipped_model_output: bool = False, generator=None, variance_noise=None, return_dict: bool = True):
        if eta != 0.0:
            raise HeliogenError("heliogen's DDIM is deterministic: eta must be 0")
        if self.config.thresholding:
            raise HeliogenError("heliogen's DDIM clips x0 (clip_sample); dynamic thresholding is not supported")
        t = int(timestep)
        alpha_t = self.alphas_cumprod[t]
        alpha_prev = self._next_alphabar(t)
        beta_t = 1 - alpha_t
        kind = self.config.prediction_type
        if kind == "epsilon":
            x0 = (sample - beta_t ** 0.5 * model_output) / alpha_t ** 0.5
            eps = model_output
        elif kind == "v_prediction":
            x0 = alpha_t ** 0.5 * sample - beta_t ** 0.5 * model_output
            eps = alpha_t ** 0.5 * model_output + beta_t ** 0.5 * sample
        elif kind == "sample":
            x0 = model_output
            eps = (sample - alpha_t ** 0.5 * x0) / beta_t ** 0.5
        else:
            raise HeliogenError(f"unknown prediction type {kind!r}")
        if self.config.clip_sample:
            r = self.config.clip_sample_range
            x0 = x0.clamp(-r, r)
        if use_clipped_model_output:
            eps = (sample - alpha_t ** 0.5 * x0) / beta_t ** 0.5
        prev = alpha_prev ** 0.5 * x0 + (1 - alpha_prev) ** 0.5 * eps
        if not return_dict:
            return (prev, x0)
        return DDIMSchedulerOutput(prev_sample=prev, pred_original_sample=x0)
