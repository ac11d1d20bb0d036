"""Run by torchrun with 2 CPU processes: a few diffusion steps, then each rank records its weights."""

import sys
from pathlib import Path

import torch

from heliogen.diffusion.train import DiffusionSettings, train_diffusion
from heliogen.training.trainer import TrainSettings

store, run = sys.argv[1], Path(sys.argv[2])
settings = TrainSettings(steps=4, batch=4, lr=1e-3, checkpoint_every=2, log_every=1, progress=False)
result = train_diffusion(store, run, settings, DiffusionSettings(cond="class", timesteps=100))
rank = int(__import__("os").environ["RANK"])
torch.save({k: v.detach().clone() for k, v in result["modules"]["model"].state_dict().items()}, run / f"rank{rank}.pt")
