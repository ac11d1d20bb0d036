"""Training, exact resume, checkpoints, pre-emption and sampling of the diffusion models."""

import json
import os
import signal

import numpy as np
import pytest
import torch

from heliogen.cli import main
from heliogen.data.build import build_store
from heliogen.data.labels import attach_labels
from heliogen.diffusion.generate import conditions_for, sample_diffusion_run
from heliogen.diffusion.sampling import sample_images
from heliogen.diffusion.train import DiffusionSettings, train_diffusion
from heliogen.errors import HeliogenError
from heliogen.training.checkpoint import latest_checkpoint, load_weights
from heliogen.training.rundir import open_run
from heliogen.training.trainer import TrainSettings


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    from heliogen.data.synth import write_synth

    d = tmp_path_factory.mktemp("diff")
    write_synth("euv", 16, 64, 5, d / "euv")
    write_synth("goes", 16, 0, 5, d / "goes")
    build_store(d / "euv", d / "plain.zarr", "euv", 16, progress=False)
    build_store(d / "euv", d / "labelled.zarr", "euv", 16, progress=False)
    attach_labels(d / "labelled.zarr", [d / "goes" / "goes_xrs_synthetic.csv"])
    return d


def settings(**kw):
    base = dict(steps=6, batch=4, lr=1e-3, checkpoint_every=3, log_every=1, progress=False, ema=0.9)
    base.update(kw)
    return TrainSettings(**base)


def weights(run, name="model"):
    return load_weights(latest_checkpoint(run), name)


def test_loss_goes_down_on_a_fixed_batch(stores, tmp_path):
    """With one image repeated, training must fit it: the loss falls well below its start."""
    from heliogen.data.store import open_store

    s = open_store(stores / "plain.zarr")
    one = tmp_path / "one.zarr"
    build_store(s.column("source")[:1].tolist(), one, "euv", 16, progress=False)
    run = tmp_path / "run"
    train_diffusion(one, run, settings(steps=60, batch=8, lr=2e-3, checkpoint_every=60), DiffusionSettings(timesteps=50))
    losses = [json.loads(line)["loss"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])


def test_resume_is_exact(stores, tmp_path):
    ds = DiffusionSettings(cond="class", hflip=True)
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_diffusion(stores / "labelled.zarr", straight, settings(), ds)
    train_diffusion(stores / "labelled.zarr", split, settings(steps=3), ds)
    train_diffusion(stores / "labelled.zarr", split, settings(steps=6), ds)  # --resume auto
    for name in ("model", "model_ema"):
        a, b = weights(straight, name), weights(split, name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    steps = [json.loads(line)["step"] for line in (split / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    ckpts = sorted(p.name for p in (split / "checkpoints").iterdir())
    assert ckpts == ["step-0000003", "step-0000006"]  # no temp directory left behind
    cfg = (split / "config.yaml").read_text()
    assert "cond: class" in cfg and "lr: 0.001" in cfg


def test_class_condition_needs_labels(stores, tmp_path):
    with pytest.raises(HeliogenError, match="no flare labels"):
        train_diffusion(stores / "plain.zarr", tmp_path / "r", settings(), DiffusionSettings(cond="class"))
    assert not (tmp_path / "r").exists()  # it failed before writing anything


def test_preemption_signal_checkpoints_and_stops(stores, tmp_path, monkeypatch):
    import heliogen.diffusion.train as dt

    real = dt.F.mse_loss
    calls = {"n": 0}

    def loss_then_signal(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGUSR1)
        return real(*a, **k)

    monkeypatch.setattr(dt.F, "mse_loss", loss_then_signal)
    old = signal.getsignal(signal.SIGUSR1)
    try:
        result = train_diffusion(stores / "plain.zarr", tmp_path / "r", settings(steps=50, checkpoint_every=100), DiffusionSettings())
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert result["stopped"] and result["step"] == 2
    assert latest_checkpoint(tmp_path / "r").name == "step-0000002"


@pytest.fixture(scope="module")
def class_run(stores, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "class"
    train_diffusion(stores / "labelled.zarr", run, settings(steps=4, checkpoint_every=4), DiffusionSettings(cond="class", timesteps=100))
    return run


@pytest.mark.parametrize("sampler,steps", [("ddpm", 8), ("ddim", 5), ("dpmpp", 5)])
def test_sampling_is_batch_size_independent_to_the_bit(class_run, sampler, steps):
    run = open_run(class_run)
    model, sched = run.load_module("model"), run.extras["scheduler"]
    cond = {"class_index": torch.tensor([0, 1, 2, 3, 4, 3, 2])}
    kw = dict(cond=cond, guidance=2.0, progress=False)
    a = sample_images(model, sched, sampler, steps, range(10, 17), run.shape, batch=7, **kw)
    b = sample_images(model, sched, sampler, steps, range(10, 17), run.shape, batch=2, **kw)
    c = sample_images(model, sched, sampler, steps, range(10, 17), run.shape, batch=1, **kw)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    d = sample_images(model, sched, sampler, steps, [10, 99], run.shape, cond={"class_index": torch.tensor([0, 0])}, guidance=2.0, progress=False)
    assert np.array_equal(d[0], a[0]) and not np.array_equal(d[1], a[1])  # image k depends on its seed only


def test_sample_diffusion_run_writes_fits_grid_and_stats(class_run, tmp_path):
    import sunpy.map

    out = sample_diffusion_run(class_run, tmp_path / "s", n=3, steps=4, classes=["M", "X"], guidance=1.5, seed=7, stats=True, progress=False)
    assert len(out["fits"]) == 6 and out["grid"].stat().st_size > 5000
    m = sunpy.map.Map(tmp_path / "s" / "M_000008.fits")
    assert m.meta["goescls"] == "M" and m.meta["seed"] == 8 and m.meta["sampler"] == "dpmpp" and m.meta["nsteps"] == 4
    assert m.meta["runkind"] == "diffusion" and m.meta["weights"] == "ema"
    assert m.meta["guidance"] == 1.5 and m.meta["hgver"]
    assert str(m.instrument).startswith("AIA") and m.wavelength.value == 193 and m.unit.to_string() == "DN / s"
    assert m.data.shape == (16, 16) and np.isfinite(m.data).all() and m.data.min() >= 1.0  # exp of a log >= 0
    assert m.reference_pixel.x.value == pytest.approx(7.5)
    stats = tmp_path / "s" / "stats"
    mean = sunpy.map.Map(stats / "mean_X.fits").data
    xs = np.stack([sunpy.map.Map(p).data for p in sorted((tmp_path / "s").glob("X_*.fits"))])
    np.testing.assert_allclose(mean, xs.mean(0), rtol=1e-5)
    np.testing.assert_allclose(sunpy.map.Map(stats / "std_X.fits").data, xs.std(0, ddof=1), rtol=1e-4, atol=1e-3)
    assert (stats / "stats.png").stat().st_size > 5000


def test_sample_diffusion_run_with_ema_or_raw_weights(class_run, tmp_path):
    from astropy.io import fits

    run = open_run(class_run)
    images = {}
    for weights in ("ema", "raw"):
        model = run.load_module("model", ema=weights == "ema")  # the saved model_ema/ or model/ folder
        x = sample_images(model, run.extras["scheduler"], "ddim", 3, [7, 8], run.shape, cond={"class_index": torch.tensor([3, 3])},
                          progress=False)
        out = sample_diffusion_run(class_run, tmp_path / weights, n=2, sampler="ddim", steps=3, classes=["M"], seed=7,
                                   weights=weights, progress=False)
        images[weights] = np.stack([fits.getdata(p) for p in out["fits"]])
        np.testing.assert_allclose(images[weights], run.physical(x)[:, 0], rtol=1e-5)
        assert all(fits.getheader(p)["WEIGHTS"] == weights for p in out["fits"])
    assert not np.allclose(images["ema"], images["raw"], rtol=1e-5)  # the comparison above tells them apart


def test_condition_lists():
    assert [c["label"] for c in conditions_for("class", [], [])] == list("ABCMX")
    c = conditions_for("class+flux", ["M"], [])
    assert c[0]["class_index"] == 3 and c[0]["log10_flux"] == pytest.approx(-4.5)
    c = conditions_for("flux", [], [2e-6])
    assert c[0]["log10_flux"] == pytest.approx(np.log10(2e-6)) and "class_index" not in c[0]
    with pytest.raises(HeliogenError, match="unconditional"):
        conditions_for("none", ["M"], [])
    with pytest.raises(HeliogenError, match="class only"):
        conditions_for("class", [], [1e-5])


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


def test_cli_errors(stores, class_run, tmp_path, capsys):
    code, err = _cli(["sample", str(class_run), "--class", "Q", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "'Q' is not one of" in err and len(err.strip().splitlines()) == 1
    plain = tmp_path / "plain"
    train_diffusion(stores / "plain.zarr", plain, settings(steps=1, checkpoint_every=1), DiffusionSettings())
    code, err = _cli(["sample", str(plain), "--guidance", "2", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "needs a conditional model" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = _cli(["sample", str(empty), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "not a heliogen run" in err
    ckpt = latest_checkpoint(plain)
    (ckpt / "model_ema" / "diffusion_pytorch_model.safetensors").write_bytes(b"garbage")
    code, err = _cli(["sample", str(plain), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "corrupt" in err and len(err.strip().splitlines()) == 1
    code, err = _cli(["train", "diffusion", "--data", str(stores / "plain.zarr"), "--out", str(tmp_path / "x"), "--cond", "class"], capsys)
    assert code == 2 and "no flare labels" in err


def test_signal_handlers_are_restored_after_training(stores, tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    train_diffusion(stores / "plain.zarr", tmp_path / "r", settings(steps=1, checkpoint_every=1), DiffusionSettings())
    assert signal.getsignal(signal.SIGTERM) is before


def test_sample_grid_callback_and_guards(stores, tmp_path):
    run = tmp_path / "r"
    train_diffusion(stores / "labelled.zarr", run, settings(steps=2, checkpoint_every=2, sample_every=2), DiffusionSettings(cond="class", timesteps=50, grid_steps=2))
    assert (run / "samples" / "step-0000002.png").stat().st_size > 3000
    with pytest.raises(HeliogenError, match="another model"):
        train_diffusion(stores / "labelled.zarr", run, settings(steps=4), DiffusionSettings(cond="class", timesteps=50, preset="adm-64"))
    with pytest.raises(HeliogenError, match="at least 21 timesteps"):
        train_diffusion(stores / "plain.zarr", tmp_path / "t", settings(), DiffusionSettings(timesteps=20))


def test_stats_past_the_checkpoint_are_not_logged_twice(stores, tmp_path):
    run = tmp_path / "r"
    train_diffusion(stores / "plain.zarr", run, settings(steps=3, checkpoint_every=3), DiffusionSettings(timesteps=50))
    with open(run / "stats.jsonl", "a") as fh:  # as if a crash had logged steps 4-5 after the checkpoint
        fh.write(json.dumps({"step": 4, "loss": 1.0}) + "\n" + json.dumps({"step": 5, "loss": 1.0}) + "\n")
    train_diffusion(stores / "plain.zarr", run, settings(steps=5, checkpoint_every=5), DiffusionSettings(timesteps=50))
    steps = [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
