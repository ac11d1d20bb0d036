"""Run by torchrun with 2 CPU processes: a few GAN steps, then each rank records its G and D
weights and its ADA probability (which every rank must compute alike from the global batch)."""

import os
import sys
from pathlib import Path

import torch

import heliogen.models.augment.ada as ada_module
from heliogen.gan.train import GANSettings, train_gan
from heliogen.training.trainer import TrainSettings

controllers = []


class RecordedController(ada_module.AdaController):
    """The library's controller, remembered so this rank's p can be written out."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        controllers.append(self)


ada_module.AdaController = RecordedController
store, run, discriminator = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
settings = TrainSettings(steps=4, batch=4, checkpoint_every=2, log_every=1, progress=False, grad_clip=0.0, ema_kimg=10.0, ema_rampup=0.05)
gs = GANSettings(discriminator=discriminator, channel_base=256, channel_max=16, backbone="random", head_width=0.125,
                 r1_interval=2, ada_interval=1, ada_kimg=0.04)
result = train_gan(store, run, settings, gs)
rank = int(os.environ["RANK"])
record = {f"{name}.{k}": v.detach().clone() for name in ("G", "D") for k, v in result["modules"][name].state_dict().items()}
record["ada_p"] = torch.tensor([c.p for c in controllers], dtype=torch.float64)
torch.save(record, run / f"rank{rank}.pt")
