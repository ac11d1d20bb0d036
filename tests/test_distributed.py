"""Two CPU processes on gloo through torchrun: ranks stay in sync and checkpoint once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchrun import torchrun

SCRIPT = Path(__file__).parent / "scripts" / "dist_train.py"


@pytest.mark.slow
def test_two_process_training(tmp_path):
    from heliogen.data.build import build_store
    from heliogen.data.labels import attach_labels
    from heliogen.data.synth import write_synth

    write_synth("euv", 8, 64, 1, tmp_path / "euv")
    write_synth("goes", 8, 0, 1, tmp_path / "goes")
    build_store(tmp_path / "euv", tmp_path / "s.zarr", "euv", 16, progress=False)
    attach_labels(tmp_path / "s.zarr", [tmp_path / "goes" / "goes_xrs_synthetic.csv"])
    run = tmp_path / "run"
    proc = torchrun(SCRIPT, str(tmp_path / "s.zarr"), str(run))
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = torch.load(run / "rank0.pt"), torch.load(run / "rank1.pt")
    assert r0.keys() == r1.keys()
    assert all(torch.equal(r0[k], r1[k]) for k in r0)  # DDP kept the ranks identical
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["step-0000002", "step-0000004"]  # written once, no temp directories
    steps = [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # rank 0 alone logs
    from safetensors.torch import load_file

    saved = load_file(str(run / "checkpoints" / "step-0000004" / "model" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(saved[k], r0[k]) for k in saved)


@pytest.mark.slow
def test_accelerate_launch_runs_the_cli(tmp_path):
    """`accelerate launch -m heliogen train diffusion` is the documented GPU entry; here one CPU process."""
    from heliogen.data.build import build_store
    from heliogen.data.synth import write_synth

    write_synth("euv", 4, 64, 2, tmp_path / "euv")
    build_store(tmp_path / "euv", tmp_path / "s.zarr", "euv", 16, progress=False)
    exe = Path(sys.executable).parent / "accelerate"
    cmd = [str(exe), "launch", "--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "heliogen", "train", "diffusion", "--data", str(tmp_path / "s.zarr"),
           "--out", str(tmp_path / "run"), "--steps", "2", "--batch", "2", "--checkpoint-every", "2", "--no-progress"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "MASTER_", "LOCAL_RANK"))}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "run" / "checkpoints" / "step-0000002" / "model_ema" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoints" / "step-0000002" / "model_ema" / "config.json").is_file()
