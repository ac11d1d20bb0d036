"""``heliogen train superres``: the six super-resolution models on the shared training loop.

As in the paper (sec. 4): AdamW, MSE, batch 4. Diffusion models learn the noise of their target
(:mod:`.models`) at a uniform timestep; ``enhance`` regresses HR on LR; ``progressive`` adds the
x2 stage's error against the target's 2x2 block mean. The data are a store with low-resolution
twins: block means (``data build --pairs 4``) or co-registered MDI (``--kind magnetogram-pairs``).
A latent run keeps a copy of its frozen autoencoder (``RUN/autoencoder``), so it is whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.dataset import StoreDataset
from ..data.store import open_store
from ..diffusion.model import SolarDiffusionModel
from ..diffusion.schedule import make_scheduler, scheduler_config
from ..errors import HeliogenError
from ..models.unet_presets import unet_config
from ..training.fd_eval import check_eval_settings
from ..training.ranks import is_main_process
from ..training.rundir import create_run, describe_store, from_model_space, open_run, to_model_space
from ..training.trainer import Trainer, TrainSettings
from .deterministic import Enhance, Progressive
from .models import DIFFUSION_MODELS, FACTOR, LATENT_MODELS, check_model, diffusion_spaces
from .sample import AUTOENCODER_FOLDER, SuperResolver, super_resolve

__all__ = ["SuperResSettings", "train_superres", "PAPER_DEFAULTS"]

PAPER_DEFAULTS = {"batch": 4}


@dataclass
class SuperResSettings:
    model: str = "ldm-res"
    preset: str = "tiny"  # UNet preset of the diffusion models
    autoencoder: str | None = None  # an autoencoder run (latent models)
    timesteps: int = 1000
    schedule: str = "linear"
    width: int = 64  # deterministic models
    blocks: int = 8
    scale_rows: int = 64  # training rows the unit-variance scales are measured on
    eval_sampler: str = "dpmpp"
    eval_steps: int = 20
    init: str | None = None  # fine-tune this superres run (lora.py)
    init_checkpoint: str | None = None
    lora_rank: int | None = None  # with init: LoRA of this rank on a diffusion model


def _paired_store(data):
    store = open_store(data)
    if not store.has_lowres:
        raise HeliogenError(f"{data} has no low-resolution images; build it with --pairs 4 or --kind magnetogram-pairs")
    low = int(store.group["lowres"].shape[-1])
    if low * FACTOR != store.size:
        raise HeliogenError(f"{data} pairs {store.size} px with {low} px images, not a factor {FACTOR}")
    return store


def _autoencoder(settings: SuperResSettings):
    if settings.model not in LATENT_MODELS:
        if settings.autoencoder:
            raise HeliogenError(f"{settings.model} works in pixel space; --autoencoder is for ldm and ldm-res")
        return None
    if not settings.autoencoder:
        raise HeliogenError(f"{settings.model} needs --autoencoder RUN (train one with `heliogen train autoencoder`)")
    run = open_run(settings.autoencoder)
    if run.kind != "autoencoder":
        raise HeliogenError(f"{settings.autoencoder} is a {run.kind} run, not an autoencoder run")
    ae = run.load_module("autoencoder")
    ae.requires_grad_(False)
    return ae


def _scales(model, dataset, autoencoder, data_range, rows: int) -> tuple[float, float]:
    """1 / std of the diffusion target and of the condition over the first ``rows`` training rows."""
    idx = range(min(rows, len(dataset)))
    hr = to_model_space(torch.stack([dataset[i]["image"].float() for i in idx]), data_range)
    lr = to_model_space(torch.stack([dataset[i]["lowres"].float() for i in idx]), data_range)
    spaces = diffusion_spaces(model, hr, lr, autoencoder)
    return tuple(float(1.0 / max(float(t.std()), 1e-6)) for t in (spaces.x0, spaces.condition))


def _network(sr: SuperResSettings, size: int, channels: int, autoencoder):
    if sr.model == "enhance":
        return Enhance(channels=channels, width=sr.width, blocks=sr.blocks)
    if sr.model == "progressive":
        return Progressive(channels=channels, width=sr.width, blocks=max(1, sr.blocks // 2))
    c = int(autoencoder.config.latent_channels) if autoencoder is not None else channels
    side = size // (2 ** (len(autoencoder.config.block_out_channels) - 1)) if autoencoder is not None else size
    return SolarDiffusionModel(unet=unet_config(sr.preset, side, in_channels=2 * c, out_channels=c), cond="none")


def _start(sr: SuperResSettings, store, dataset, data_range, channels):
    """``(net, autoencoder, extras, trainable_only)``: a fresh model, or the --init run's to fine-tune."""
    if sr.init:
        from .lora import init_from

        net, ae, extras, trainable_only = init_from(sr.init, sr.model, sr.lora_rank, sr.init_checkpoint)
        sr.model = extras["model"]
        return net, ae, extras, trainable_only
    if sr.lora_rank:
        raise HeliogenError("--lora-rank fine-tunes a trained run: give it with --init RUN")
    check_model(sr.model)
    ae = _autoencoder(sr)
    net = _network(sr, store.size, channels, ae)
    extras = {"model": sr.model}
    if sr.model in DIFFUSION_MODELS:
        extras["scheduler"] = scheduler_config(sr.timesteps, sr.schedule, "epsilon")
        extras["target_scale"], extras["condition_scale"] = _scales(sr.model, dataset, ae, data_range, sr.scale_rows)
    return net, ae, extras, ()


def train_superres(data, out, settings: TrainSettings, sr: SuperResSettings) -> dict:
    """Train (or resume) a super-resolution model on the paired store ``data`` into the run ``out``;
    with ``sr.init``, fine-tune that run (LoRA with ``sr.lora_rank``, else in full)."""
    if not sr.init:
        check_model(sr.model)
    store = _paired_store(data)
    check_eval_settings(settings, store)
    out = Path(out)
    torch.manual_seed(settings.seed)
    channels = int(store.attrs["channels"])
    dataset = StoreDataset(store, lowres=True)
    data_range = store.normalisation.data_range
    net, ae, extras, trainable_only = _start(sr, store, dataset, data_range, channels)
    diffusion = sr.model in DIFFUSION_MODELS
    if is_main_process():
        config = {"data": str(data), "out": str(out), **asdict(sr), **asdict(settings)}
        create_run(out, "superres", {"model": net}, describe_store(store, data), config, ema=["model"], extras=extras)
        if ae is not None and not (out / AUTOENCODER_FOLDER).is_dir():
            ae.save_pretrained(out / AUTOENCODER_FOLDER)
    train_sched = make_scheduler("train", extras["scheduler"]) if diffusion else None
    timesteps = int(extras["scheduler"]["num_train_timesteps"]) if diffusion else 0  # a fine-tune keeps its base's

    def step_fn(batch, ctx):
        model, gen, dev = ctx.module("model"), ctx.generator, ctx.device
        hr = to_model_space(batch["image"].float(), data_range).to(dev)
        lr = to_model_space(batch["lowres"].float(), data_range).to(dev)
        if sr.model == "enhance":
            loss = F.mse_loss(model(lr).float(), hr)
        elif sr.model == "progressive":
            x2, x4 = model(lr)
            loss = F.mse_loss(x4.float(), hr) + F.mse_loss(x2.float(), F.avg_pool2d(hr, 2))
        else:
            spaces = diffusion_spaces(sr.model, hr, lr, ae.to(dev) if ae is not None else None)
            x0 = spaces.x0 * extras["target_scale"]
            noise = torch.randn(x0.shape, generator=gen).to(dev)
            t = torch.randint(0, timesteps, (x0.shape[0],), generator=gen).to(dev)
            x_t = train_sched.add_noise(x0, noise, t)
            pred = model(torch.cat([x_t, spaces.condition * extras["condition_scale"]], dim=1), t)
            loss = F.mse_loss(pred.float(), noise)
        return {"loss": loss.item(), "grad_norm": ctx.optimize(loss, "model")}

    def resolver(ema, device):
        return SuperResolver(sr.model, ema["model"], ae.to(device) if ae is not None else None, extras.get("target_scale", 1.0),
                             extras.get("condition_scale", 1.0), extras.get("scheduler"), channels)

    def sample_fn(ema, path, step):
        from ..viz.quicklook import plot_grid

        rows = np.linspace(0, len(dataset) - 1, 4).astype(int)
        lr = to_model_space(torch.stack([dataset[int(i)]["lowres"].float() for i in rows]), data_range)
        hr = torch.stack([dataset[int(i)]["image"].float() for i in rows])
        pred = super_resolve(resolver({"model": ema["model"].cpu()}, "cpu"), lr, [settings.seed + k for k in range(4)],
                             sr.eval_sampler, sr.eval_steps)
        shown = torch.cat([hr, from_model_space(pred.clamp(-1, 1), data_range)]).numpy().astype(np.float64)
        path.parent.mkdir(parents=True, exist_ok=True)
        plot_grid(store.normalisation.physical(shown)[:, 0], store.kind, path, titles=["HR"] * 4 + [sr.model] * 4,
                  suptitle=f"{sr.model}, step {step} (EMA)")

    def generate_fn(ema, n, seed):
        """FD images: super-resolve the held-out store's first ``n`` low-resolution images."""
        held = _paired_store(settings.eval_data)
        lr = torch.from_numpy(np.stack([held.normalisation.forward(held.lowres(slice(i, i + 1))[0]) for i in range(min(n, held.n))]))
        device = next(ema["model"].parameters()).device
        pred = super_resolve(resolver(ema, device), to_model_space(lr.float(), data_range), [seed + k for k in range(len(lr))],
                             sr.eval_sampler, sr.eval_steps)
        return from_model_space(pred.clamp(-1, 1), data_range).cpu().numpy()

    def trainable(m):
        return [p for p in m["model"].parameters() if p.requires_grad]

    optimizers = {"model": lambda m: torch.optim.AdamW(trainable(m), lr=settings.lr, weight_decay=settings.weight_decay)}
    with Trainer(out, settings, {"model": net}, optimizers, ["model"], dataset, step_fn, sample_fn, trainable_only=trainable_only,
                 generate_fn=generate_fn if settings.eval_every else None) as trainer:
        return trainer.run()
