"""Best-FD checkpoints of the shared trainer, through tiny diffusion runs.

The FD here uses a cheap registered extractor (the mean of each 8x8 block of the first
channel: 4-d features of a 16 px image), so the FD is exact to recompute by hand in numpy;
one CLI test runs the default Inception extractor end to end.
"""

import json

import numpy as np
import pytest
import scipy.linalg
import torch

from heliogen.cli import main
from heliogen.data.build import build_store
from heliogen.diffusion.generate import sample_diffusion_run
from heliogen.diffusion.sampling import sample_images
from heliogen.diffusion.train import DiffusionSettings, train_diffusion
from heliogen.errors import HeliogenError
from heliogen.evaluate.features.registry import FeatureExtractor, register_extractor
from heliogen.evaluate.metrics.fd import fd_from_features
from heliogen.training.best import read_best, write_best
from heliogen.training.checkpoint import ABANDONED, save_checkpoint
from heliogen.training.rundir import from_model_space, open_run
from heliogen.training.trainer import TrainSettings

BLOCKS = "test-blocks"  # the cheap extractor's registered name


class BlockMeans(FeatureExtractor):
    """Mean of each 8x8 block of channel 0 of a 16 px image: 4-d features."""

    name, dim, input_size = BLOCKS, 4, 16

    def _forward(self, x):
        return torch.nn.functional.avg_pool2d(x[:, :1], 8).flatten(1)


register_extractor(BLOCKS, lambda device="cpu", **kw: BlockMeans(device))


@pytest.fixture(scope="module")
def stores(tmp_path_factory, one_torch_thread):
    from heliogen.data.synth import write_synth

    d = tmp_path_factory.mktemp("best")
    write_synth("euv", 8, 64, 5, d / "euv")
    build_store(d / "euv", d / "train.zarr", "euv", 16, progress=False)
    write_synth("euv", 4, 64, 9, d / "small")
    build_store(d / "small", d / "small.zarr", "euv", 16, progress=False)
    build_store(d / "small", d / "big.zarr", "euv", 32, progress=False)
    return d


EVAL = dict(eval_every=2, eval_n=8, eval_features=BLOCKS)
MODEL = DiffusionSettings(timesteps=50, eval_sampler="ddim", eval_steps=3)


def settings(stores, **kw):
    base = dict(steps=6, batch=4, lr=1e-3, checkpoint_every=100, log_every=1, progress=False, ema=0.9,
                eval_data=str(stores / "train.zarr"), **EVAL)
    base.update(kw)
    return TrainSettings(**base)


def fd_rows(run):
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return {r["step"]: r["fd"] for r in rows if "fd" in r}


def block_features(unit):
    """The extractor's features, recomputed in numpy: 2x2 grid of 8x8 block means."""
    x = np.asarray(unit, dtype=np.float64)[:, 0]
    return x.reshape(len(x), 2, 8, 2, 8).mean(axis=(2, 4)).reshape(len(x), 4)


def fd_by_hand(a, b):
    """Heusel et al. eq. 6 with scipy's sqrtm (the code under test takes eigenvalues instead)."""
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def generated_unit_images(run, step, seed=0, n=8):
    """The EMA model of checkpoint ``step`` sampled as the evaluation does, in [0, 1]."""
    r = open_run(run)
    model = r.load_module("model", checkpoint=step)
    x = sample_images(model, r.extras["scheduler"], "ddim", 3, range(seed, seed + n), r.shape, progress=False)
    lo, hi = r.data["data_range"]
    return np.clip((from_model_space(x, (lo, hi)) - lo) / (hi - lo), 0, 1)


def reference_unit_images(store_path):
    from heliogen.data.store import open_store

    s = open_store(store_path)
    lo, hi = s.normalisation.data_range
    return np.clip((s.normalisation.forward(s.images().astype(np.float64)) - lo) / (hi - lo), 0, 1)


@pytest.fixture(scope="module")
def run(stores, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r"
    train_diffusion(stores / "train.zarr", out, settings(stores), MODEL)
    return out


def test_fd_every_k_steps_matches_a_recomputation_and_best_is_the_minimum(run, stores):
    fds = fd_rows(run)
    assert sorted(fds) == [2, 4, 6]
    # every evaluated step got a checkpoint although --checkpoint-every is 100
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*")) == ["step-0000002", "step-0000004", "step-0000006"]
    real = block_features(reference_unit_images(stores / "train.zarr"))
    for step, logged in fds.items():
        fake = block_features(generated_unit_images(run, step))
        assert logged == pytest.approx(fd_by_hand(real, fake), rel=1e-4, abs=1e-9)
        assert logged == pytest.approx(fd_from_features(real, fake), rel=1e-4, abs=1e-9)
    best_step = min(fds, key=fds.get)
    best = read_best(run)
    assert best["checkpoint"] == f"step-{best_step:07d}" and best["fd"] == fds[best_step]
    assert best["features"] == BLOCKS and best["n"] == 8
    ref = np.load(run / "eval" / f"reference_{BLOCKS}_8.npz")
    np.testing.assert_allclose(ref["features"], real, rtol=1e-5)
    assert json.loads(str(ref["about"]))["store"] == str((stores / "train.zarr").resolve())


def test_checkpoint_best_loads_and_samples_the_pointed_checkpoint(run, tmp_path):
    r = open_run(run)
    best = read_best(run)["step"]
    assert r.checkpoint("best") == run / "checkpoints" / f"step-{best:07d}"
    a, b = r.load_module("model", checkpoint="best"), r.load_module("model", checkpoint=best)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    via_best = sample_diffusion_run(run, tmp_path / "best", n=2, sampler="ddim", steps=3, checkpoint="best", progress=False)
    via_step = sample_diffusion_run(run, tmp_path / "step", n=2, sampler="ddim", steps=3, checkpoint=best, progress=False)
    from astropy.io import fits

    for p, q in zip(via_best["fits"], via_step["fits"]):
        assert np.array_equal(fits.getdata(p), fits.getdata(q))
        assert fits.getheader(p)["CKPT"] == f"step-{best:07d}"
    # the newest checkpoint is another one unless the last FD was the lowest: the pointer is what chose
    with pytest.raises(SystemExit) as e:
        main(["sample", str(run), "--checkpoint", "best", "--n", "1", "--sampler", "ddim", "--steps", "2", "--out", str(tmp_path / "cli")])
    assert e.value.code in (0, None)
    assert fits.getheader(next((tmp_path / "cli").glob("*.fits")))["CKPT"] == f"step-{best:07d}"


def test_resume_keeps_the_best(run, stores, tmp_path):
    split = tmp_path / "split"
    train_diffusion(stores / "train.zarr", split, settings(stores, steps=4), MODEL)
    train_diffusion(stores / "train.zarr", split, settings(stores), MODEL)  # --resume auto from step 4
    assert fd_rows(split) == fd_rows(run)  # exact resume: the same FDs as the straight run
    assert read_best(split) == read_best(run)
    # a best the resumed run cannot beat stays, whatever FDs come later
    tricked = tmp_path / "tricked"
    train_diffusion(stores / "train.zarr", tricked, settings(stores, steps=2), MODEL)
    record = {**read_best(tricked), "fd": 0.0}
    write_best(tricked, record)
    train_diffusion(stores / "train.zarr", tricked, settings(stores), MODEL)
    assert read_best(tricked) == record and sorted(fd_rows(tricked)) == [2, 4, 6]


def test_continuing_from_an_older_checkpoint_takes_the_best_of_its_history(run, stores, tmp_path):
    import shutil

    rewound = tmp_path / "rewound"
    shutil.copytree(run, rewound)
    fds = fd_rows(run)
    write_best(rewound, {**read_best(run), "checkpoint": "step-0000006", "step": 6, "fd": -1.0})  # a best past step 2
    train_diffusion(stores / "train.zarr", rewound, settings(stores, steps=3, resume=str(rewound / "checkpoints" / "step-0000002")), MODEL)
    # the pointer went aside with steps 4 and 6; the best of this history is the FD logged at step 2
    best = read_best(rewound)
    assert best["checkpoint"] == "step-0000002" and best["fd"] == fds[2]
    (aside,) = (rewound / "checkpoints" / ABANDONED).iterdir()
    assert json.loads((aside / "best").read_text())["fd"] == -1.0 and (aside / "step-0000006").is_dir()


def test_pruning_never_deletes_the_best_checkpoint(tmp_path):
    def write(folder):
        (folder / "w").write_text("x")

    save_checkpoint(tmp_path, 1, write, {"step": 1}, keep=2)
    write_best(tmp_path, {"checkpoint": "step-0000001", "fd": 3.0})
    for step in (2, 3, 4):
        save_checkpoint(tmp_path, step, write, {"step": step}, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best", "step-0000001", "step-0000003", "step-0000004"]


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


def test_errors_are_one_line(stores, run, tmp_path, capsys):
    plain = tmp_path / "plain"
    train_diffusion(stores / "train.zarr", plain, settings(stores, steps=1, eval_every=0), MODEL)
    code, err = _cli(["sample", str(plain), "--checkpoint", "best", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no best checkpoint" in err and "--eval-every" in err
    with pytest.raises(HeliogenError, match="no best checkpoint"):
        open_run(plain).load_module("model", checkpoint="best")
    (plain / "checkpoints" / "best").write_text("{not json")
    with pytest.raises(HeliogenError, match="corrupt"):
        open_run(plain).checkpoint("best")
    train = ["train", "diffusion", "--data", str(stores / "train.zarr"), "--steps", "2", "--no-progress"]
    bad = [(["--eval-every", "2"], "needs --eval-data"),
           (["--eval-every", "2", "--eval-data", str(stores / "train.zarr"), "--eval-features", "nope"], "unknown --eval-features"),
           (["--eval-every", "2", "--eval-data", str(stores / "small.zarr"), "--eval-n", "8"], "exceeds the 4 images"),
           (["--eval-every", "2", "--eval-data", str(stores / "train.zarr"), "--eval-n", "1"], "--eval-n"),
           (["--eval-every", "2", "--eval-data", str(stores / "big.zarr"), "--eval-n", "2"], "holds euv images of 32 px"),
           (["--eval-every", "-1"], "--eval-every")]
    for i, (extra, message) in enumerate(bad):
        out = tmp_path / f"bad{i}"
        code, err = _cli(train + ["--out", str(out)] + extra, capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert not out.exists()  # refused before the run folder was written
    with pytest.raises(HeliogenError, match="needs --eval-data"):
        train_diffusion(stores / "train.zarr", tmp_path / "api", settings(stores, eval_data=None), MODEL)
    assert not (tmp_path / "api").exists()


def test_eval_options_from_a_config_file_with_inception(stores, tmp_path, capsys):
    """The shared options through --config, and the default Inception extractor end to end."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"eval-every: 1\neval_data: {stores / 'train.zarr'}\neval-n: 4\ntimesteps: 50\neval-steps: 2\n")
    out = tmp_path / "r"
    code, err = _cli(["train", "diffusion", "--config", str(cfg), "--data", str(stores / "train.zarr"), "--out", str(out),
                      "--steps", "1", "--batch", "2", "--no-progress"], capsys)
    assert code in (0, None), err
    (row,) = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines() if "fd" in line]
    assert row["step"] == 1 and row["fd_features"] == "inception" and row["fd_n"] == 4 and row["fd"] > 0
    assert read_best(out)["checkpoint"] == "step-0000001" and (out / "eval" / "reference_inception_4.npz").is_file()


def test_any_trainer_plugs_in_a_generate_fn_and_best_follows_known_fds(stores, tmp_path):
    """A non-diffusion trainer on the shared Trainer: its generate_fn returns the held-out images
    shrunk towards grey, u' = a u + (1 - a) / 2, whose FD against them is known in closed form:
    (1 - a)^2 (|mu - 1/2|^2 + Tr S) for block-mean features of mean mu and covariance S."""
    from heliogen.data.dataset import StoreDataset
    from heliogen.data.store import open_store
    from heliogen.training.trainer import Trainer

    store = open_store(stores / "train.zarr")
    unit = reference_unit_images(stores / "train.zarr")
    lo, hi = store.normalisation.data_range
    shrink = [0.5, 1.0, 0.8, 0.9]
    calls = []

    def generate_fn(ema, n, seed):
        a = shrink[len(calls)]
        calls.append((sorted(ema), n, seed))
        return lo + (hi - lo) * (a * unit[:n] + (1 - a) / 2)

    def step_fn(batch, ctx):
        loss = ctx.module("G")(batch["image"].mean(dim=(1, 2, 3))[:, None]).pow(2).mean()
        ctx.optimize(loss, "G")
        return {"loss": float(loss.detach())}

    run = tmp_path / "g"
    s = settings(stores, steps=4, eval_every=1, seed=7, keep_checkpoints=1)
    with Trainer(run, s, {"G": torch.nn.Linear(1, 1)}, {"G": lambda m: torch.optim.SGD(m["G"].parameters(), lr=0.1)}, ["G"],
                 StoreDataset(store), step_fn, generate_fn=generate_fn) as trainer:
        trainer.run()
    assert calls == [(["G"], 8, 7)] * 4  # the EMA modules, N images and the same seed every time
    f = block_features(unit)
    scale = ((f.mean(0) - 0.5) ** 2).sum() + np.trace(np.cov(f, rowvar=False))
    fds = fd_rows(run)
    for step, a in enumerate(shrink, start=1):
        assert fds[step] == pytest.approx((1 - a) ** 2 * scale, rel=1e-4, abs=1e-9)
    assert read_best(run)["checkpoint"] == "step-0000002"  # a = 1: FD 0, not beaten later
    # --keep-checkpoints 1 pruned every other checkpoint but the best and the newest
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best", "step-0000002", "step-0000004"]
