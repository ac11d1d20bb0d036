"""``heliogen train diffusion``: ADM-style training on a store (full-disk EUV study sec. 5 and
appendix C.2; flare-class poster for the conditional models).

Objective: epsilon-prediction MSE (Ho et al. 2020, eq. 14), or v-prediction (Salimans & Ho
2022). Conditions are dropped with probability ``p_uncond`` for classifier-free guidance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import StoreDataset
from ..data.goes import GOES_CLASSES, class_midpoint_log10_flux
from ..data.store import open_store
from ..errors import HeliogenError
from ..models.unet_presets import unet_config
from ..training.ranks import is_main_process
from ..training.rundir import create_run, describe_store, from_model_space, to_model_space
from ..training.fd_eval import check_eval_settings
from ..training.trainer import Trainer, TrainSettings
from .conditioning import COND_KINDS
from .model import SolarDiffusionModel
from .schedule import make_scheduler, scheduler_config

__all__ = ["DiffusionSettings", "train_diffusion", "make_generate_fn"]

@dataclass
class DiffusionSettings:
    preset: str = "tiny"
    cond: str = "none"
    p_uncond: float = 0.1
    timesteps: int = 1000
    schedule: str = "linear"
    prediction: str = "epsilon"
    hflip: bool = False
    grid_sampler: str = "dpmpp"
    grid_steps: int = 20
    eval_sampler: str = "dpmpp"  # the FD images of --eval-every: the sampler and steps `heliogen sample` defaults to
    eval_steps: int = 20


def train_diffusion(data, out, settings: TrainSettings, diffusion_settings: DiffusionSettings) -> dict:
    """Train (or resume) a diffusion model on the store ``data`` into the run directory ``out``."""
    cond_kind = diffusion_settings.cond
    if cond_kind not in COND_KINDS:
        raise HeliogenError(f"unknown condition {cond_kind!r}; choose from {', '.join(COND_KINDS)}")
    if not 0.0 <= diffusion_settings.p_uncond < 1.0:
        raise HeliogenError("--p-uncond must be in [0, 1)")
    store = open_store(data)
    check_eval_settings(settings, store)  # before the run folder is written
    conditioned = cond_kind != "none"
    dataset = StoreDataset(store, labels=conditioned)  # fails at once on a store without labels
    out = Path(out)
    sched_cfg = scheduler_config(diffusion_settings.timesteps, diffusion_settings.schedule, diffusion_settings.prediction)
    torch.manual_seed(settings.seed)
    channels = int(store.attrs["channels"])
    # keyword arguments: diffusers records positional ones as "defaults", which from_config(model.config) drops
    model = SolarDiffusionModel(unet=unet_config(diffusion_settings.preset, store.size, channels, conditioned=conditioned), cond=cond_kind)
    data_info = describe_store(store, data)
    if is_main_process():
        config = {"data": str(data), "out": str(out), **asdict(diffusion_settings), **asdict(settings)}
        create_run(out, "diffusion", {"model": model}, data_info, config, ema=["model"], extras={"scheduler": sched_cfg})
    data_range = store.normalisation.data_range
    train_sched = make_scheduler("train", sched_cfg)

    def step_fn(batch, ctx):
        net, generator, dev = ctx.module("model"), ctx.generator, ctx.device
        x0 = to_model_space(batch["image"].float(), data_range)
        b = x0.shape[0]
        if diffusion_settings.hflip:
            flip = (torch.rand(b, generator=generator) < 0.5).view(b, 1, 1, 1)
            x0 = torch.where(flip, x0.flip(-1), x0)
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, diffusion_settings.timesteps, (b,), generator=generator)
        x_t = train_sched.add_noise(x0, noise, t)
        target = noise if diffusion_settings.prediction == "epsilon" else train_sched.get_velocity(x0, noise, t)
        cond_kwargs = {}
        if conditioned:
            cond_kwargs["drop"] = (torch.rand(b, generator=generator) < diffusion_settings.p_uncond).to(dev)
            if "class" in cond_kind:
                cond_kwargs["class_index"] = batch["class_index"].to(dev)
            if "flux" in cond_kind:
                cond_kwargs["log10_flux"] = batch["log10_flux"].to(dev)
        pred = net(x_t.to(dev), t.to(dev), **cond_kwargs)
        loss = F.mse_loss(pred.float(), target.to(dev).float())
        grad = ctx.optimize(loss, "model")
        return {"loss": loss.item(), "grad_norm": grad}

    def sample_fn(ema, path, step):
        from .sampling import sample_images
        from ..viz.quicklook import plot_grid

        ema_model = ema["model"].cpu()  # the grid is small: sample it on the CPU, whatever trains
        n_grid = 8
        cond, titles = None, None
        if conditioned:
            # the classes in turn; a flux condition is each class's midpoint
            class_index = torch.arange(n_grid) % len(GOES_CLASSES)
            cond = {}
            if "class" in cond_kind:
                cond["class_index"] = class_index
            if "flux" in cond_kind:
                cond["log10_flux"] = class_midpoint_log10_flux(class_index)
            titles = [GOES_CLASSES[i] for i in class_index.tolist()]
        x = sample_images(ema_model, sched_cfg, diffusion_settings.grid_sampler, diffusion_settings.grid_steps, range(n_grid),
                          (channels, store.size, store.size), cond=cond, batch=n_grid, progress=False)
        phys = store.normalisation.physical(from_model_space(x.astype(np.float64), data_range))
        path.parent.mkdir(parents=True, exist_ok=True)
        plot_grid(phys[:, 0], store.kind, path, titles=titles, wavelength=data_info["header"].get("WAVELNTH"), suptitle=f"step {step} (EMA)")

    generate_fn = make_generate_fn(sched_cfg, diffusion_settings, dataset, (channels, store.size, store.size), data_range)
    optimizers = {"model": lambda mods: torch.optim.AdamW(mods["model"].parameters(), lr=settings.lr, weight_decay=settings.weight_decay)}
    with Trainer(out, settings, {"model": model}, optimizers, ["model"], dataset, step_fn, sample_fn,
                 generate_fn=generate_fn) as trainer:
        return trainer.run()


def make_generate_fn(sched_cfg: dict, diffusion_settings: DiffusionSettings, dataset, shape, data_range):
    """The trainer's ``generate_fn`` for FD evaluation: ``n`` images from the EMA model with the
    eval sampler, image k from seed ``seed + k``, in the store's model range.

    A conditional model is given the labels of ``n`` training images drawn with ``seed``
    (the same every evaluation), so the generated set follows the training class mix.
    """
    from ..sample import sample_seeds
    from .sampling import sample_images

    def generate_fn(ema, n, seed):
        model = ema["model"]
        cond = None
        if dataset.labels is not None:
            rows = np.random.default_rng(seed).choice(len(dataset), n, replace=n > len(dataset))
            cond = {}
            if "class" in model.cond:
                cond["class_index"] = torch.from_numpy(dataset.labels["class_index"][rows])
            if "flux" in model.cond:
                cond["log10_flux"] = torch.from_numpy(dataset.labels["log10_flux"][rows])
        x = sample_images(model, sched_cfg, diffusion_settings.eval_sampler, diffusion_settings.eval_steps, sample_seeds(seed, n),
                          shape, cond=cond, batch=16, device=next(model.parameters()).device, progress=False)
        return from_model_space(x, data_range)

    return generate_fn
