"""Checkpoints of the shared trainer: one history per run directory, and state.pt safe to load."""

import json
import logging
import random

import numpy as np
import pytest
import torch

from heliogen.errors import HeliogenError
from heliogen.training.checkpoint import ABANDONED, latest_checkpoint, load_state, load_weights
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
    with Trainer(run, TrainSettings(**base), {"model": model},
                 {"model": lambda m: torch.optim.Adam(m["model"].parameters(), lr=base["lr"])}, ["model"], data, step_fn) as trainer:
        return trainer.run()


def _weights(ckpt):
    return {name: load_weights(ckpt, name) for name in ("model", "model_ema")}


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

    from heliogen.training.rng import rng_state as _rng_state, set_rng_state as _set_rng_state

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


def test_trainer_is_a_context_manager_that_closes(tmp_path, monkeypatch):
    closed = []
    monkeypatch.setattr(Trainer, "close", lambda self: closed.append(self.step))
    model = torch.nn.Linear(2, 1)
    data = torch.utils.data.TensorDataset(torch.ones(4, 2))

    def step_fn(batch, ctx):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        with Trainer(tmp_path / "r", TrainSettings(steps=2, batch=2, progress=False), {"model": model},
                     {"model": lambda m: torch.optim.SGD(m["model"].parameters(), lr=0.1)}, [], data, step_fn) as trainer:
            trainer.run()
    assert closed == [0]  # closed although the step failed


def test_images_seen_ema_follows_stylegan2(tmp_path):
    """beta = 0.5 ** (batch / min(1000 ema_kimg, cur_nimg rampup)), cur_nimg the images before the step."""
    from heliogen.training.ema import ImagesSeenEMA, make_ema

    batch, kimg, rampup = 8, 0.1, 0.5
    w = torch.nn.Parameter(torch.zeros(()))
    ema = ImagesSeenEMA([w], batch=batch, ema_kimg=kimg, rampup=rampup)
    shadow = 0.0
    for step in range(1, 60):
        with torch.no_grad():
            w.fill_(float(step))
        ema.step([w])
        cur_nimg = (step - 1) * batch
        beta = 0.5 ** (batch / max(min(kimg * 1000, cur_nimg * rampup), 1e-8))
        assert ema.cur_decay_value == pytest.approx(beta, rel=1e-12, abs=1e-300)
        shadow = beta * shadow + (1 - beta) * step
        assert float(ema.shadow_params[0]) == pytest.approx(shadow, rel=1e-5)
    assert ema.cur_decay_value == pytest.approx(0.5 ** (8 / 100))  # ramp over: the half-life is 100 images
    no_ramp = make_ema([w], decay=0.9, batch=4, ema_kimg=1.0)
    assert isinstance(no_ramp, ImagesSeenEMA) and no_ramp.get_decay(1) == pytest.approx(0.5 ** (4 / 1000))
    assert not isinstance(make_ema([w], decay=0.9, batch=4), ImagesSeenEMA)
    # through the trainer: the checkpointed EMA state is the scheduled one and resume stays exact
    straight, split = tmp_path / "straight", tmp_path / "split"
    _train(straight, steps=4, checkpoint_every=4, ema_kimg=0.01, ema_rampup=0.05)
    _train(split, steps=2, checkpoint_every=2, ema_kimg=0.01, ema_rampup=0.05)
    _train(split, steps=4, checkpoint_every=4, ema_kimg=0.01, ema_rampup=0.05)
    a, b = _weights(latest_checkpoint(straight)), _weights(latest_checkpoint(split))
    assert all(torch.equal(a["model_ema"][k], b["model_ema"][k]) for k in a["model_ema"])
    assert load_state(latest_checkpoint(straight))["ema"]["model"]["optimization_step"] == 4
    fixed = tmp_path / "fixed"
    _train(fixed, steps=4, checkpoint_every=4)  # the fixed decay (0.9 with warm-up) averages otherwise
    c = _weights(latest_checkpoint(fixed))
    assert all(torch.equal(a["model"][k], c["model"][k]) for k in a["model"])
    assert not all(torch.equal(a["model_ema"][k], c["model_ema"][k]) for k in a["model_ema"])


class _Adapted(torch.nn.Module):
    """A frozen base with a trainable low-rank adapter (a LoRA in miniature)."""

    def __init__(self, adapter_seed: int):
        super().__init__()
        torch.manual_seed(0)
        self.base = torch.nn.Linear(6, 6)
        self.base.requires_grad_(False)
        torch.manual_seed(adapter_seed)
        self.down, self.up = torch.nn.Linear(6, 2, bias=False), torch.nn.Linear(2, 6, bias=False)

    def forward(self, x):
        return self.base(x) + self.up(self.down(x))


def test_trainable_only_save_reloads_onto_a_fresh_base(tmp_path):
    from safetensors.torch import load_file

    from heliogen.training.checkpoint import WEIGHTS_NAME, load_saved_module, save_module

    trained = _Adapted(adapter_seed=1)
    save_module(trained, tmp_path / "adapter", trainable_only=True)
    saved = load_file(str(tmp_path / "adapter" / WEIGHTS_NAME))
    assert sorted(saved) == ["down.weight", "up.weight"]  # no frozen base weights in the file
    fresh = _Adapted(adapter_seed=2)
    x = torch.randn(3, 6)
    assert not torch.equal(fresh(x), trained(x))
    load_saved_module(fresh, tmp_path / "adapter")
    assert torch.equal(fresh(x), trained(x))
    with pytest.raises(HeliogenError, match="does not fit"):
        load_saved_module(torch.nn.Linear(6, 6), tmp_path / "adapter")
    # through the trainer: checkpoints hold the adapter only, and resume puts it back
    data = torch.utils.data.TensorDataset(torch.randn(8, 6))

    def step_fn(batch, ctx):
        loss = ctx.module("model")(batch[0]).pow(2).mean()
        ctx.optimize(loss, "model")
        return {"loss": float(loss.detach())}

    def train(steps):
        model = _Adapted(adapter_seed=3)
        opt = {"model": lambda m: torch.optim.SGD([p for p in m["model"].parameters() if p.requires_grad], lr=0.1)}
        with Trainer(tmp_path / "run", TrainSettings(steps=steps, batch=4, checkpoint_every=1, progress=False), {"model": model}, opt,
                     ["model"], data, step_fn, trainable_only=["model"]) as trainer:
            trainer.run()
        return model

    once = train(2)
    ckpt = latest_checkpoint(tmp_path / "run")
    assert sorted(load_file(str(ckpt / "model" / WEIGHTS_NAME))) == ["down.weight", "up.weight"]
    assert sorted(load_file(str(ckpt / "model_ema" / WEIGHTS_NAME))) == ["down.weight", "up.weight"]
    resumed = train(2)  # resume auto at step 2: nothing to train, the adapter comes from the checkpoint
    assert torch.equal(resumed(x), once(x))
