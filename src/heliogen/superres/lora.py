"""Fine-tuning a trained super-resolution run on new pairs: LoRA through peft, or in full.

The paper (sec. 7) adapts its HMI-trained latent model to real MDI/HMI pairs with LoRA
(Hu et al. 2022) on the UNet's self-attention layers, with the UNet's bottleneck (its middle
block) unfrozen as well; the deterministic baselines are fine-tuned in full. A LoRA run's
checkpoints hold only the trainable tensors (the adapters and the middle block); the run names
its base run, and loading builds the base model, adds the adapters and fills them in.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import HeliogenError
from ..training.rundir import open_run
from .models import DIFFUSION_MODELS

__all__ = ["LORA_TARGETS", "add_lora", "init_from", "load_lora_model"]

# diffusers' Attention projections: query, key, value and output
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
UNFROZEN = "unet.mid_block"


def add_lora(net, rank: int, alpha: float | None = None):
    """Freeze ``net`` (a SolarDiffusionModel), add LoRA adapters of ``rank`` to its attention
    projections and unfreeze its UNet's middle block. Adapters start at zero (B = 0), so the
    model is unchanged until it trains."""
    from peft import LoraConfig, inject_adapter_in_model

    if rank < 1:
        raise HeliogenError(f"--lora-rank must be at least 1, not {rank}")
    net.requires_grad_(False)
    config = LoraConfig(r=int(rank), lora_alpha=float(alpha or rank), target_modules=list(LORA_TARGETS), lora_dropout=0.0)
    inject_adapter_in_model(config, net.unet)
    if not any("lora_" in n for n, _ in net.named_parameters()):
        raise HeliogenError("the model has no attention layers to adapt with LoRA")
    net.unet.mid_block.requires_grad_(True)
    return net


def init_from(init, model: str | None, lora_rank: int | None, checkpoint=None):
    """``(net, autoencoder, extras, trainable_only)`` to fine-tune the superres run ``init``."""
    from .sample import SuperResolver

    base = open_run(init)
    if base.kind != "superres":
        raise HeliogenError(f"--init {init} is a {base.kind} run, not a super-resolution run")
    kind = base.extras["model"]
    if model and model != kind:
        raise HeliogenError(f"--init {init} is a {kind} run; fine-tune it as --model {kind}")
    if base.extras.get("lora"):
        raise HeliogenError(f"--init {init} is itself a LoRA fine-tune; start from its base run {base.extras.get('init')}")
    if lora_rank and kind not in DIFFUSION_MODELS:
        raise HeliogenError(f"{kind} is a deterministic baseline, fine-tuned in full (as in the paper); leave --lora-rank out")
    resolver = SuperResolver.from_run(base, checkpoint=checkpoint)
    net = resolver.net.train()
    ckpt = base.checkpoint(checkpoint)
    extras = {k: v for k, v in base.extras.items()}
    extras.update({"init": str(Path(base.path).resolve()), "init_checkpoint": ckpt.name})
    if lora_rank:
        add_lora(net, lora_rank)
        extras["lora"] = {"rank": int(lora_rank), "alpha": float(lora_rank), "targets": list(LORA_TARGETS), "unfrozen": [UNFROZEN]}
    else:
        net.requires_grad_(True)
    return net, resolver.autoencoder, extras, (("model",) if lora_rank else ())


def load_lora_model(run, checkpoint=None, ema: bool = True, device="cpu"):
    """A LoRA run's model: its base run's model with the adapters added and every saved tensor filled in."""
    from ..training.checkpoint import load_saved_module

    lora = run.extras["lora"]
    base = open_run(run.extras["init"])
    net = base.load_module("model", ema=True, checkpoint=run.extras["init_checkpoint"], device="cpu")
    add_lora(net, lora["rank"], lora["alpha"])
    folder = run.checkpoint(checkpoint) / ("model_ema" if ema else "model")
    return load_saved_module(net, folder).eval().to(device)
