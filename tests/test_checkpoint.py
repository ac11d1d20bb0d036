"""Checkpoints of the shared trainer: one history per run directory, and state.pt safe to load."""

import json
import logging
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from heliogen.errors import HeliogenError
from heliogen.training.checkpoint import ABANDONED, latest_checkpoint, load_state
from heliogen.training.trainer import Trainer, TrainSettings


def _train(run, **kw):
    """A toy model on the shared trainer; its loss draws from torch, numpy and Python RNGs."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    model = torch.nn.Linear(4, 2)
    data = torch.utils.data.TensorDataset(torch.linspace(-1, 1, 48).reshape(12, 4))

    def step_fn(batch, ctx):
        noise = 1 + 0.1 * float(torch.rand(())) + 0.1 * float(np.random.rand()) + 0.1 * random.random()
        loss = (ctx.module("model")(batch[0].to(ctx.device)) * noise).pow(2).mean()
        ctx.optimize(loss, "model")
        return {"loss": float(loss.detach())}

    base = dict(steps=6, batch=4, lr=1e-2, ema=0.9, checkpoint_every=2, log_every=1, keep_checkpoints=10, progress=False)
    base.update(kw)
    trainer = Trainer(run, TrainSettings(**base), {"model": model},
                      {"model": lambda m: torch.optim.Adam(m["model"].parameters(), lr=base["lr"])}, ["model"], data, step_fn)
    try:
        return trainer.run()
    finally:
        trainer.accelerator.end_training()


def _weights(ckpt):
    return {name: load_file(str(ckpt / f"{name}.safetensors")) for name in ("model", "model_ema")}


def _steps(run):
    root = run / "checkpoints"
    return sorted(p.name for p in root.iterdir() if p.name.startswith("step-"))


def test_resume_from_an_older_checkpoint_sets_the_later_history_aside(tmp_path, caplog):
    run = tmp_path / "run"
    _train(run)  # checkpoints at 2, 4, 6
    assert _steps(run) == ["step-0000002", "step-0000004", "step-0000006"]
    with caplog.at_level(logging.WARNING, logger="heliogen"):
        # continue from step 2 in the same directory, with other settings: a new history
        result = _train(run, steps=3, lr=5e-2, checkpoint_every=1, keep_checkpoints=2, resume=str(run / "checkpoints" / "step-0000002"))
    assert result["step"] == 3
    # the new checkpoint is the newest and survives pruning; 4 and 6 were moved aside, not pruned
    assert _steps(run) == ["step-0000002", "step-0000003"]
    assert latest_checkpoint(run).name == "step-0000003"
    (aside,) = (run / "checkpoints" / ABANDONED).iterdir()
    assert sorted(p.name for p in aside.iterdir()) == ["step-0000004", "step-0000006"]
    assert "step-0000004, step-0000006" in caplog.text and str(aside) in caplog.text
    # resume auto then continues this history, from step 3
    result = _train(run, steps=4, lr=5e-2, checkpoint_every=1, keep_checkpoints=2)
    assert result["step"] == 4 and _steps(run) == ["step-0000003", "step-0000004"]
    assert [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_a_fresh_start_in_a_used_run_directory_sets_all_old_checkpoints_aside(tmp_path):
    run = tmp_path / "run"
    _train(run, steps=4)
    _train(run, steps=2, resume="never")
    assert _steps(run) == ["step-0000002"]
    (aside,) = (run / "checkpoints" / ABANDONED).iterdir()
    assert sorted(p.name for p in aside.iterdir()) == ["step-0000002", "step-0000004"]
    assert latest_checkpoint(run).name == "step-0000002"


def test_state_loads_weights_only_and_resume_stays_exact(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    _train(straight, steps=5, checkpoint_every=5)
    _train(split, steps=3, checkpoint_every=3)
    state = torch.load(split / "checkpoints" / "step-0000003" / "state.pt", weights_only=True)  # no pickled objects
    assert state["step"] == 3 and isinstance(state["rng"]["numpy"]["key"], torch.Tensor)
    _train(split, steps=5, checkpoint_every=5)  # --resume auto
    a, b = _weights(latest_checkpoint(straight)), _weights(latest_checkpoint(split))
    for name in a:
        assert a[name].keys() == b[name].keys()
        assert all(torch.equal(a[name][k], b[name][k]) for k in a[name]), name


def test_a_pickled_state_is_refused_not_unpickled(tmp_path):
    ckpt = tmp_path / "step-0000001"
    ckpt.mkdir()
    # the old format (numpy's RNG tuple with its uint32 array) still loads: numpy arrays only
    legacy = np.random.get_state()
    torch.save({"step": 1, "rng": {"numpy": legacy}}, ckpt / "state.pt")
    back = load_state(ckpt)["rng"]["numpy"]
    assert back[0] == "MT19937" and np.array_equal(back[1], legacy[1]) and back[2:] == legacy[2:]
    # any other object is refused, not unpickled
    from pathlib import PurePosixPath

    torch.save({"step": 1, "settings": {"resume": PurePosixPath("/x")}}, ckpt / "state.pt")
    with pytest.raises(HeliogenError, match="not unpickled, for safety"):
        load_state(ckpt)
    (ckpt / "state.pt").write_bytes(b"garbage")
    with pytest.raises(HeliogenError, match="corrupt"):
        load_state(ckpt)


def test_legacy_rng_tuples_restore_the_generators():
    import random

    from heliogen.training.trainer import _rng_state, _set_rng_state

    np.random.seed(5)
    random.seed(5)
    legacy = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    expected = (np.random.random(3), random.random(), torch.rand(2))
    _set_rng_state(legacy)
    assert np.array_equal(np.random.random(3), expected[0]) and random.random() == expected[1]
    assert torch.equal(torch.rand(2), expected[2])
    # and the tensor form round-trips the same way
    state = _rng_state()
    expected = (np.random.random(3), random.random(), torch.rand(2))
    _set_rng_state(state)
    assert np.array_equal(np.random.random(3), expected[0]) and random.random() == expected[1]
    assert torch.equal(torch.rand(2), expected[2])


def test_resuming_from_another_runs_checkpoint_sets_every_local_checkpoint_aside(tmp_path):
    other, run = tmp_path / "other", tmp_path / "run"
    _train(other, steps=4)  # checkpoints at 2, 4 of another history
    _train(run, steps=2, lr=5e-2)  # this directory's own step 2
    result = _train(run, steps=5, checkpoint_every=5, resume=str(other / "checkpoints" / "step-0000004"))
    assert result["step"] == 5
    # the local step 2 belongs to neither history now continued: set aside, not kept beside step 5
    assert _steps(run) == ["step-0000005"]
    aside = sorted(p.name for p in (run / "checkpoints" / ABANDONED).rglob("step-*"))
    assert aside == ["step-0000002"]
