"""GAN training (StyleGAN2 G against the ProjectedGAN or StyleGAN2-ADA D), exact resume, and
``heliogen sample`` of GAN runs, at 32 px with tiny widths on the CPU."""

import json
import math

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.wcs import WCS

from heliogen.cli import main
from heliogen.data.build import build_store
from heliogen.data.store import open_store
from heliogen.gan.train import DISCRIMINATORS, GANSettings, build_gan, train_gan
from heliogen.training.checkpoint import latest_checkpoint, load_state, load_weights
from heliogen.training.rundir import open_run
from heliogen.training.trainer import TrainSettings

# tiny networks: G and the StyleGAN2 D at 16 channels, the projected D's heads at 1/8 width
TINY = dict(channel_base=256, channel_max=16, backbone="random", head_width=0.125)
TINY_FLAGS = ["--channel-base", "256", "--channel-max", "16", "--backbone", "random", "--head-width", "0.125"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from heliogen.data.synth import write_synth

    d = tmp_path_factory.mktemp("gan")
    write_synth("euv", 6, 64, 5, d / "euv")
    build_store(d / "euv", d / "euv32.zarr", "euv", 32, progress=False)
    return d / "euv32.zarr"


def settings(**kw):
    base = dict(steps=2, batch=4, checkpoint_every=2, log_every=1, progress=False, grad_clip=0.0, ema_kimg=10.0, ema_rampup=0.05)
    base.update(kw)
    return TrainSettings(**base)


def gan_settings(discriminator, **kw):
    # StyleGAN2 D: R1 at steps 0 and 2, ADA's p adjusted every step by a visible amount
    extra = dict(r1_interval=2, ada_interval=1, ada_kimg=0.01) if discriminator == "stylegan2" else {}
    return GANSettings(discriminator=discriminator, **{**TINY, **extra, **kw})


def stats(run):
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def _tensors(module) -> dict:
    """Every parameter and buffer (persistent or not) of a module, by name."""
    return {**dict(module.named_buffers()), **dict(module.named_parameters())}


@pytest.mark.parametrize("discriminator,backbone", [("projected", "random"), ("projected", "lite0"), ("stylegan2", "random")])
def test_two_steps_train_g_and_keep_frozen_parts(store, tmp_path, discriminator, backbone):
    gs = gan_settings(discriminator, backbone=backbone)
    run = tmp_path / "run"
    result = train_gan(store, run, settings(), gs)
    rows = stats(run)
    assert [r["step"] for r in rows] == [1, 2]
    assert all(np.isfinite([r["loss_d"], r["loss_g"]]).all() for r in rows)
    # the networks as train_gan built them: the same seed, the same construction order
    torch.manual_seed(0)
    G0, D0 = build_gan(gs, 32, 1)
    g, g0 = _tensors(result["modules"]["G"]), _tensors(G0)
    trained = [k for k, _ in G0.named_parameters()]
    assert sum(not torch.equal(g[k], g0[k]) for k in trained) > len(trained) // 2
    assert load_weights(latest_checkpoint(run), "G").keys() == G0.state_dict().keys()
    d, d0 = _tensors(result["modules"]["D"]), _tensors(D0)
    if discriminator == "projected":
        frozen = [k for k in d0 if k.startswith(("feature_network.", "projector."))]
        heads = [k for k, _ in D0.named_parameters() if k.startswith("heads.")]
        assert frozen and heads and not [k for k, _ in D0.named_parameters() if not k.startswith("heads.")]
        assert all(torch.equal(d[k], d0[k]) for k in frozen)  # backbone and CCM/CSM bit-identical
        assert any(not torch.equal(d[k], d0[k]) for k in heads)
        # a pretrained frozen backbone is rebuilt, not saved: the run still resumes and samples
        train_gan(store, run, settings(steps=3), gs)
        assert [r["step"] for r in stats(run)] == [1, 2, 3]
        reloaded = _tensors(open_run(run).load_module("D", ema=False))
        assert all(torch.equal(reloaded[k], d0[k]) for k in frozen)
    else:
        assert any(not torch.equal(d[k], d0[k]) for k in d0)
        assert "r1" in rows[0] and "r1" not in rows[1]  # lazy R1: steps 0, 2, ...
        assert rows[0]["r1"] >= 0
    record = json.loads((run / "run.json").read_text())
    assert record["kind"] == "gan" and record["ema"] == ["G"]
    assert record["modules"]["G"]["class"] == "StyleGAN2Generator"
    assert record["modules"]["D"]["class"] == {"projected": "ProjectedDiscriminator", "stylegan2": "StyleGAN2Discriminator"}[discriminator]
    assert json.loads((run / "data.json").read_text())["size"] == 32


def test_separate_optimizers_and_lazy_r1_adam_settings(store, tmp_path):
    """G keeps lr-g and betas; with lazy R1 every 2 steps, D's lr and betas take the 2/3 power
    (StyleGAN2's interval / (interval + 1))."""
    run = tmp_path / "run"
    train_gan(store, run, settings(steps=1, checkpoint_every=1, sample_every=1), gan_settings("stylegan2", lr_g=3e-4, lr_d=1.5e-3))
    assert (run / "samples" / "step-0000001.png").stat().st_size > 0  # the EMA grid during training
    state = load_state(latest_checkpoint(run))
    g_group = state["optimizers"]["G"]["param_groups"][0]
    d_group = state["optimizers"]["D"]["param_groups"][0]
    assert g_group["lr"] == pytest.approx(3e-4) and tuple(g_group["betas"]) == pytest.approx((0.0, 0.99))
    assert d_group["lr"] == pytest.approx(1.5e-3 * 2 / 3) and tuple(d_group["betas"]) == pytest.approx((0.0, 0.99 ** (2 / 3)))


@pytest.mark.parametrize("discriminator", ["projected", "stylegan2"])
def test_resume_is_exact(store, tmp_path, discriminator):
    # StyleGAN2-ADA with StyleGAN2's style mixing: its draws come from the step's generator too
    gs = gan_settings(discriminator, **({"ada_kimg": 0.04, "style_mixing": 0.9} if discriminator == "stylegan2" else {}))
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_gan(store, straight, settings(steps=4), gs)
    train_gan(store, split, settings(steps=2), gs)
    train_gan(store, split, settings(steps=4), gs)  # --resume auto from step 2
    a_ckpt, b_ckpt = latest_checkpoint(straight), latest_checkpoint(split)
    assert a_ckpt.name == b_ckpt.name == "step-0000004"
    for name in ("G", "G_ema", "D"):
        a, b = load_weights(a_ckpt, name), load_weights(b_ckpt, name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert [r["step"] for r in stats(split)] == [1, 2, 3, 4]
    if discriminator == "stylegan2":
        a, b = load_state(a_ckpt)["extra"]["ada"], load_state(b_ckpt)["extra"]["ada"]
        assert a == b
        # p moved: steps of +-batch / (ada_kimg * 1000) = +-0.1 from 0, never below 0
        ps = [r["ada_p"] for r in stats(straight)]
        assert ps == [r["ada_p"] for r in stats(split)] and a["p"] == ps[-1]
        assert max(ps) > 0
        assert all(abs(q - p) == pytest.approx(0.1) or q == p == 0.0 for p, q in zip([0.0] + ps, ps))


@pytest.mark.parametrize("discriminator", DISCRIMINATORS)
def test_bf16_autocast_trains_and_keeps_float32_weights(store, tmp_path, discriminator):
    # the mixed-precision path GPUs take, run on the CPU as a user runs it (accelerate fixes the
    # precision once per process): same seed and settings, bf16 autocast against float32
    import subprocess
    import sys

    extra = dict(r1_interval=2, ada_kimg=0.01) if discriminator == "stylegan2" else {}
    train_gan(store, tmp_path / "fp32", settings(), GANSettings(discriminator=discriminator, **TINY, **extra))
    flags = ["--r1-interval", "2", "--ada-kimg", "0.01"] if discriminator == "stylegan2" else []
    subprocess.run([sys.executable, "-m", "heliogen", "train", "gan", "--data", str(store), "--out", str(tmp_path / "bf16"),
                    "--discriminator", discriminator, *TINY_FLAGS, *flags, "--steps", "2", "--batch", "4", "--checkpoint-every", "2",
                    "--log-every", "1", "--mixed-precision", "bf16", "--no-progress"], check=True)
    a, b = stats(tmp_path / "fp32"), stats(tmp_path / "bf16")
    for key in ("loss_d", "loss_g"):
        assert all(math.isfinite(r[key]) for r in b)
        assert b[0][key] != a[0][key]  # autocast really computed in bf16 (8 mantissa bits)
    # D's first loss comes before any update: bf16 rounding alone separates it from float32 (G's
    # follows D's first Adam step, whose sign-like moves can differ, so it is only checked finite)
    assert b[0]["loss_d"] == pytest.approx(a[0]["loss_d"], rel=0.05, abs=0.05)
    weights = load_weights(latest_checkpoint(tmp_path / "bf16"), "G")
    assert all(t.dtype == torch.float32 for t in weights.values())


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr()


@pytest.fixture(scope="module")
def cli_run(store, tmp_path_factory):
    """A run trained through ``heliogen train gan`` (StyleGAN2-ADA D)."""
    folder = tmp_path_factory.mktemp("cli")
    run = folder / "run"
    # widths and the discriminator from a config file, the rest as flags
    (folder / "tiny.yaml").write_text("discriminator: stylegan2\nchannel-base: 256\nchannel_max: 16\nr1-interval: 2\n")
    with pytest.raises(SystemExit) as e:
        main(["train", "gan", "--config", str(folder / "tiny.yaml"), "--data", str(store), "--out", str(run),
              "--steps", "2", "--batch", "4", "--checkpoint-every", "2", "--no-progress"])
    assert e.value.code in (0, None)
    return run


def test_cli_applies_gan_defaults(cli_run):
    import yaml

    cfg = yaml.safe_load((cli_run / "config.yaml").read_text())
    assert cfg["discriminator"] == "stylegan2" and cfg["batch"] == 4
    assert cfg["channel_base"] == 256 and cfg["channel_max"] == 16 and cfg["r1_interval"] == 2  # from --config
    # left at their shared defaults, these take the GAN's values
    assert cfg["grad_clip"] == 0.0 and cfg["ema_kimg"] == 10.0 and cfg["ema_rampup"] == 0.05
    assert cfg["lr_g"] == 5e-4 and cfg["lr_d"] == 2e-3 and cfg["betas"] == [0.0, 0.99]
    assert cfg["z_dim"] == 64 and cfg["w_dim"] == 128 and cfg["mapping_layers"] == 2


def test_sample_writes_physical_fits_with_wcs_and_provenance(cli_run, store, tmp_path, capsys):
    out = tmp_path / "s"
    code, _ = _cli(["sample", str(cli_run), "--n", "3", "--seed", "5", "--truncation", "0.7", "--out", str(out), "--no-progress"], capsys)
    assert code in (0, None)
    assert (out / "grid.png").stat().st_size > 0
    G = open_run(cli_run).load_module("G", ema=True)
    ln_max = open_store(store).normalisation.params["max"]
    for k, seed in enumerate([5, 6, 7]):
        with fits.open(out / f"gan_{seed:06d}.fits") as hdul:
            data, header = hdul[0].data.astype(np.float64), hdul[0].header
        y = G.generate([seed], psi=0.7)[0, 0].double().numpy()
        # network [-1, 1] -> model [0, 1] -> ln I in [0, ln_max] -> I in DN/s
        expected = np.exp((y + 1.0) / 2.0 * ln_max)
        np.testing.assert_allclose(data, expected, rtol=2e-6)
        assert header["BUNIT"] == "DN/s" and header["RUNKIND"] == "gan" and header["MODEL"] == "run"
        assert header["CKPT"] == "step-0000002" and header["WEIGHTS"] == "ema"
        assert header["SEED"] == seed and header["TRUNC"] == pytest.approx(0.7)
        assert WCS(header).has_celestial and header["CTYPE1"] == "HPLN-TAN"


def test_sample_does_not_depend_on_batch(cli_run, tmp_path, capsys):
    images = {}
    for batch in (1, 3):
        out = tmp_path / f"b{batch}"
        code, _ = _cli(["sample", str(cli_run), "--n", "4", "--batch", str(batch), "--weights", "raw", "--out", str(out), "--no-progress"], capsys)
        assert code in (0, None)
        images[batch] = np.stack([fits.getdata(out / f"gan_{s:06d}.fits") for s in range(4)])
    assert np.array_equal(images[1], images[3])
    assert not np.array_equal(images[1][0], images[1][1])  # different seeds, different images


def test_sample_refuses_options_of_other_kinds(cli_run, tmp_path, capsys):
    code, captured = _cli(["sample", str(cli_run), "--steps", "5", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--steps does not apply to a gan run" in captured.err and "--truncation" in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_cli_ablation_switches_reach_the_discriminator(store, tmp_path, capsys):
    run = tmp_path / "run"
    code, _ = _cli(["train", "gan", "--data", str(store), "--out", str(run), *TINY_FLAGS, "--projection", "ccm",
                    "--discriminators", "1,2", "--no-augment", "--trainable-projection", "--lr-d", "1e-3",
                    "--steps", "1", "--batch", "2", "--checkpoint-every", "1", "--no-progress"], capsys)
    assert code in (0, None)
    config = json.loads((run / "run.json").read_text())["modules"]["D"]["config"]
    assert config["projection"] == "ccm" and list(config["discriminators"]) == [1, 2] and config["augment"] is False
    assert config["trainable_projection"] is True and config["backbone"] == "random"
    D = open_run(run).load_module("D", ema=False)
    assert sorted(D.heads) == ["d1", "d2"] and D.diffaug is None
    counts = D.trainable_parameter_counts()
    assert counts["backbone"] == 0 and counts["projection"] > 0 and counts["discriminators"] > 0
    lr_d = load_state(latest_checkpoint(run))["optimizers"]["D"]["param_groups"][0]["lr"]
    assert lr_d == pytest.approx(1e-3)  # no lazy-R1 scaling for the projected D


def test_cli_ema_alone_asks_for_a_fixed_decay(store, tmp_path, capsys):
    import yaml

    run = tmp_path / "run"
    code, _ = _cli(["train", "gan", "--data", str(store), "--out", str(run), "--discriminator", "stylegan2", *TINY_FLAGS,
                    "--ema", "0.5", "--steps", "1", "--batch", "2", "--checkpoint-every", "1", "--no-progress"], capsys)
    assert code in (0, None)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["ema"] == 0.5 and cfg["ema_kimg"] == 0.0 and cfg["ema_rampup"] == 0.0


@pytest.mark.parametrize("flags,message", [
    (["--discriminator", "biggan"], "'biggan' is not one of"),
    (["--backbone", "lite3"], "download timm's tf_efficientnet_lite3"),
    (["--projection", "none", "--trainable-projection"], "--trainable-projection needs a projection"),
    (["--lr", "1e-3"], "--lr-g and --lr-d"),
    (["--weight-decay", "0.1"], "--weight-decay does not apply"),
])
def test_cli_errors_are_one_line_and_write_nothing(store, tmp_path, capsys, flags, message):
    out = tmp_path / "x"
    code, captured = _cli(["train", "gan", "--data", str(store), "--out", str(out), *flags], capsys)
    assert code == 2 and message in captured.err and len(captured.err.strip().splitlines()) == 1
    if "lite3" in flags:
        assert "--backbone-weights" in captured.err
    assert not out.exists()


def test_sample_ema_and_raw_weights_are_the_saved_g_ema_and_g(store, tmp_path):
    """Without the ramp, the EMA of G (10 kimg half-life) barely leaves the initial weights in two
    steps, so sampling it must differ from sampling the raw G; each is the saved folder's G."""
    from heliogen.gan.sample import sample_gan_run
    from heliogen.models.stylegan2.generator import StyleGAN2Generator

    run = tmp_path / "run"
    train_gan(store, run, settings(ema_rampup=0.0), gan_settings("stylegan2"))
    ckpt = latest_checkpoint(run)
    images = {}
    for weights, folder in (("ema", "G_ema"), ("raw", "G")):
        out = sample_gan_run(run, tmp_path / weights, n=2, seed=11, weights=weights, progress=False, device="cpu")
        images[weights] = np.stack([fits.getdata(p) for p in out["fits"]])
        G = StyleGAN2Generator.from_config(StyleGAN2Generator.load_config(ckpt / folder))
        G.load_state_dict(load_weights(ckpt, folder))
        expected = open_run(run).physical(G.eval().generate([11, 12]).numpy())[:, 0]
        np.testing.assert_allclose(images[weights], expected, rtol=2e-6)
    assert not np.allclose(images["ema"], images["raw"], rtol=1e-4)


QUADS = "test-gan-quads"  # a cheap extractor: the mean of each 16x16 quarter of a 32 px image


def _register_quads():
    from heliogen.evaluate.features.registry import FeatureExtractor, register_extractor

    class Quads(FeatureExtractor):
        name, dim, input_size = QUADS, 4, 32

        def _forward(self, x):
            return torch.nn.functional.avg_pool2d(x[:, :1], 16).flatten(1)

    register_extractor(QUADS, lambda device="cpu", **kw: Quads(device))


def test_gan_runs_keep_the_best_fd_checkpoint(store, tmp_path):
    """FD every 2 steps on the EMA generator; `best` is the minimum, and its FD recomputes from
    that checkpoint's G_ema (seeds 0..5) and the held-out images, by hand."""
    import scipy.linalg

    from heliogen.training.best import read_best
    from heliogen.training.rundir import from_model_space

    _register_quads()
    run = tmp_path / "best"
    train_gan(store, run, settings(steps=4, checkpoint_every=100, eval_every=2, eval_data=str(store), eval_n=6,
                                   eval_features=QUADS), gan_settings("projected"))
    fds = {r["step"]: r["fd"] for r in stats(run) if "fd" in r}
    assert sorted(fds) == [2, 4]
    best_step = min(fds, key=fds.get)
    assert read_best(run)["checkpoint"] == f"step-{best_step:07d}"
    r = open_run(run)
    lo, hi = r.data["data_range"]
    G = r.load_module("G", ema=True, checkpoint="best")
    fake = from_model_space(G.generate(list(range(6))).numpy().astype(np.float64), (lo, hi))
    s = open_store(store)
    real = s.normalisation.forward(s.images().astype(np.float64))

    def quads(x):
        u = np.clip((np.asarray(x, np.float64)[:, 0] - lo) / (hi - lo), 0, 1)
        return u.reshape(len(u), 2, 16, 2, 16).mean(axis=(2, 4)).reshape(len(u), 4)

    a, b = quads(real), quads(fake)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    by_hand = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert fds[best_step] == pytest.approx(by_hand, rel=1e-3, abs=1e-6)


def test_a_run_recorded_before_an_option_existed_still_resumes(store, tmp_path):
    # the record lacks an option added since (feature_input): it reads as the default it loads with
    gs = gan_settings("projected")
    run = tmp_path / "run"
    train_gan(store, run, settings(), gs)
    record = json.loads((run / "run.json").read_text())
    assert record["modules"]["D"]["config"].pop("feature_input") == 224
    (run / "run.json").write_text(json.dumps(record))
    assert train_gan(store, run, settings(steps=3), gs)["step"] == 3
    from heliogen.errors import HeliogenError

    with pytest.raises(HeliogenError, match=r"another model \(D differ\)"):  # a real change still refuses
        train_gan(store, run, settings(steps=4), gan_settings("projected", feature_input=128))


# every row of the study's table 1 as its switch; each trains two steps and moves exactly its trainable parts
TABLE_1 = [{}, {"backbone": "lite1"}, {"backbone": "lite2"}, {"unfreeze_backbone": True}, {"projection": "ccm"},
           {"projection": "none"}, {"trainable_projection": True}, {"discriminators": [1]}, {"discriminators": [1, 2]},
           {"discriminators": [1, 2, 3]}, {"augment": False}, {"backbone": "random", "unfreeze_backbone": True}]


@pytest.mark.slow
@pytest.mark.parametrize("switch", TABLE_1, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "baseline")
def test_every_ablation_switch_trains_two_steps_and_moves_only_its_parts(store, tmp_path, switch):
    gs = gan_settings("projected", **{"backbone": "lite0", "feature_input": 128, **switch})
    result = train_gan(store, tmp_path / "run", settings(batch=2), gs)
    assert [r["step"] for r in stats(tmp_path / "run")] == [1, 2]
    torch.manual_seed(0)
    _, D0 = build_gan(gs, 32, 1)
    D = result["modules"]["D"]
    counts = D.trainable_parameter_counts()
    assert counts == D0.trainable_parameter_counts() and counts["discriminators"] > 0
    before, after = dict(D0.named_parameters()), dict(D.named_parameters())
    for part, module in D.parts().items():
        names = [f"{prefix}.{n}" for prefix, m in D.named_children() if m is module for n, _ in module.named_parameters()]
        moved = any(not torch.equal(after[k], before[k]) for k in names if k in before)
        # a trainable part trained, a frozen one is bit-identical
        assert moved == (counts[part] > 0), (part, counts[part])
