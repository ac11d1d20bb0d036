"""Noise schedules (ADM's, through diffusers schedulers) and the samplers built on them.

ADM's linear schedule (Ho et al. 2020; Nichol & Dhariwal 2021, sec. 3.2) is
``beta_t = linspace(1e-4 * 1000/T, 0.02 * 1000/T, T)``: the endpoints are rescaled by 1000/T
so that any number of steps T traces the same continuous process as T=1000. The cosine
option is Nichol & Dhariwal's (eq. 17), diffusers' ``squaredcos_cap_v2``. Training noise
and every sampler use diffusers schedulers configured from one dict, so they share betas.
"""

from __future__ import annotations

from ..errors import HeliogenError

__all__ = ["scheduler_config", "make_scheduler", "SAMPLERS", "SCHEDULES", "PREDICTIONS"]

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("epsilon", "v_prediction")
SAMPLERS = ("ddpm", "ddpm-large", "ddim", "dpmpp")


def scheduler_config(timesteps: int = 1000, schedule: str = "linear", prediction: str = "epsilon") -> dict:
    """The diffusers scheduler config for ADM's schedule with ``timesteps`` steps."""
    if schedule not in SCHEDULES:
        raise HeliogenError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    if prediction not in PREDICTIONS:
        raise HeliogenError(f"unknown prediction {prediction!r}; choose from {', '.join(PREDICTIONS)}")
    if timesteps < 2:  # checked first: T = 0 would divide by zero below
        raise HeliogenError("the schedule needs at least 2 timesteps")
    scale = 1000.0 / timesteps
    if schedule == "linear" and 0.02 * scale >= 1.0:
        # beta_T = 0.02 * 1000/T reaches 1 (alphabar 0) at T = 20: the process would be undefined
        raise HeliogenError(f"the linear schedule needs at least 21 timesteps (got {timesteps})")
    config = {
        "num_train_timesteps": int(timesteps),
        "beta_schedule": "linear" if schedule == "linear" else "squaredcos_cap_v2",
        "beta_start": 1e-4 * scale,
        "beta_end": 0.02 * scale,
        "prediction_type": prediction,
        "clip_sample": True,  # ADM clips the predicted x0 to [-1, 1] (clip_denoised)
        "clip_sample_range": 1.0,
        "timestep_spacing": "trailing",  # start sampling at t = T-1 (Lin et al. 2024)
    }
    return config


def make_scheduler(kind: str, config: dict):
    """A fresh diffusers scheduler of ``kind`` ("train", "ddpm", "ddpm-large", "ddim", "dpmpp") from ``config``.

    ``dpmpp`` is DPM-Solver++(2M) (Lu et al. 2022) with steps uniform in log-SNR, ``ddim`` is deterministic DDIM (eta=0),
    ``ddpm`` is ancestral sampling with ADM's fixed small variance, the posterior's
    ``beta~_t = (1 - alphabar_{t-1}) / (1 - alphabar_t) beta_t`` (Ho et al. 2020, eq. 7), and ``ddpm-large`` with
    ``sigma_t^2 = beta_t`` (sec. 3.2: exact for unit-variance data, where ``beta~_t`` is exact for a point).
    x0 clipping follows the config's ``clip_sample`` for every sampler; ``dpmpp`` clips to [-1, 1] only.
    """
    from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

    from .ddim import NextStepDDIMScheduler

    if kind in ("train", "ddpm", "ddpm-large"):
        variance = "fixed_large" if kind == "ddpm-large" else "fixed_small"
        return DDPMScheduler.from_config(config, variance_type=variance)
    if kind == "ddim":
        # The last step lands on alphabar = 1, the clean x0 prediction (DDIM eq. 12 with
        # alpha_0 = 1, as ADM samples); stopping at alphabar_0 = 0.9999 would leave 0.01 of
        # the predicted noise in every image. Each step goes to the next listed timestep, also
        # where the step count does not divide T (diffusers' DDIM steps by T // steps).
        return NextStepDDIMScheduler.from_config(config, set_alpha_to_one=True)
    if kind == "dpmpp":
        cfg = {k: v for k, v in config.items() if not k.startswith("clip_sample")}
        # DPM-Solver++ works on x0 predictions; at t near T they amplify the model's error by
        # 1/sqrt(alphabar) (~150x for ADM's linear schedule), so clip x0 to [-1, 1] as DDPM/DDIM
        # do (dynamic thresholding with a ceiling of 1 is exactly that clip; with a higher ceiling
        # it rescales x0 into [-1, 1] instead, so any other range is refused).
        clip = config.get("clip_sample", True)
        if clip and config.get("clip_sample_range", 1.0) != 1.0:
            raise HeliogenError(f"dpmpp clips x0 to [-1, 1] only, not to clip_sample_range {config['clip_sample_range']}; "
                                "use ddpm or ddim, or turn clip_sample off")
        # Steps uniform in log-SNR (lambda), the spacing of Lu et al. (2022, sec. 3.3): chosen
        # on a selection seed set apart from the reported ones, where it came closest to the
        # converged ODE solution (Karras sigmas next, evenly spaced timesteps far behind).
        return DPMSolverMultistepScheduler.from_config(
            cfg, algorithm_type="dpmsolver++", solver_order=2, lower_order_final=True, use_lu_lambdas=True,
            thresholding=clip, dynamic_thresholding_ratio=0.995, sample_max_value=1.0)
    raise HeliogenError(f"unknown sampler {kind!r}; choose from {', '.join(SAMPLERS)}")
