"""GAN training in two CPU processes on gloo through torchrun: the ranks stay identical."""

import json
from pathlib import Path

import pytest
import torch
from torchrun import torchrun

SCRIPT = Path(__file__).parent / "scripts" / "dist_train_gan.py"


@pytest.mark.slow
@pytest.mark.parametrize("discriminator", ["stylegan2", "projected"])
def test_two_process_gan_training(tmp_path, discriminator):
    from heliogen.data.build import build_store
    from heliogen.data.synth import write_synth

    write_synth("euv", 8, 64, 1, tmp_path / "euv")
    build_store(tmp_path / "euv", tmp_path / "s.zarr", "euv", 32, progress=False)
    run = tmp_path / "run"
    proc = torchrun(SCRIPT, str(tmp_path / "s.zarr"), str(run), discriminator)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = torch.load(run / "rank0.pt"), torch.load(run / "rank1.pt")
    assert r0.keys() == r1.keys()
    assert all(torch.equal(r0[k], r1[k]) for k in r0)  # DDP (and ADA's all-reduced statistics) kept the ranks identical
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000002", "step-0000004"]
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    from heliogen.training.checkpoint import load_state, load_weights

    saved = load_weights(run / "checkpoints" / "step-0000004", "G")  # rank 0 wrote what every rank holds
    assert saved.keys() == {k[2:] for k in r0 if k.startswith("G.")}
    assert all(torch.equal(v, r0["G." + k]) for k, v in saved.items())
    if discriminator == "stylegan2":

        # one controller per rank; its p is the one checkpointed and logged
        assert len(r0["ada_p"]) == 1 and float(r0["ada_p"][0]) == rows[-1]["ada_p"]
        assert load_state(run / "checkpoints" / "step-0000004")["extra"]["ada"]["p"] == rows[-1]["ada_p"]
