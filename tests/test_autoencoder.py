"""The super-resolution autoencoder: diffusers KL and VQ models at factors 4-16, training on the
shared loop (L1 + KL or codebook, PatchGAN after a warm-up), pretrained starts, and fig. 4's scores."""

import json

import numpy as np
import pytest
import torch

from heliogen.cli import main
from heliogen.data.build import build_store
from heliogen.data.store import open_store
from heliogen.data.synth import write_synth
from heliogen.errors import HeliogenError
from heliogen.superres.autoencoder import build_autoencoder, decode, encode, latent_shape, load_pretrained_autoencoder
from heliogen.superres.evaluate_autoencoder import evaluate_autoencoders
from heliogen.superres.train_autoencoder import AutoencoderSettings, reconstruct, train_autoencoder
from heliogen.training.rundir import open_run
from heliogen.training.trainer import TrainSettings

pytestmark = pytest.mark.filterwarnings("ignore:'datfix' made the change")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("ae")
    write_synth("magnetogram", 3, 256, 3, root / "hmi", start="2011-01-09T00:00:00")
    build_store(root / "hmi", root / "m.zarr", "magnetogram", None, crop=32, crop_mode="random", n_random=4, progress=False)
    return root / "m.zarr"


@pytest.mark.parametrize("kind", ["kl", "vq"])
@pytest.mark.parametrize("factor", [4, 8, 16])
def test_factor_sets_the_latent_grid(kind, factor):
    model = build_autoencoder(kind, factor, width=8, latent_channels=3, codebook=16)
    x = torch.randn(2, 1, 32, 32)
    z = encode(model, x)
    assert tuple(z.shape) == (2, *latent_shape(model, 32)) == (2, 3, 32 // factor, 32 // factor)
    assert decode(model, z).shape == x.shape
    with pytest.raises(HeliogenError, match="not divisible"):
        latent_shape(model, 34)


def test_unknown_type_and_factor_are_one_line_errors():
    with pytest.raises(HeliogenError, match="--factor must be one of 4, 8, 16"):
        build_autoencoder("kl", 2)
    with pytest.raises(HeliogenError, match="unknown autoencoder type 'ae'"):
        build_autoencoder("ae", 4)


def _settings(out_steps=12, **kw):
    return TrainSettings(steps=out_steps, batch=4, lr=2e-3, checkpoint_every=out_steps, log_every=1, progress=False, **kw)


def _stats(run):
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]


def test_kl_autoencoder_learns_to_reconstruct(store, tmp_path, one_torch_thread):
    run = tmp_path / "kl"
    train_autoencoder(store, run, _settings(30, ema=0.0), AutoencoderSettings(type="kl", factor=4, width=16))
    stats = [s for s in _stats(run) if "rec_l1" in s]
    first, last = np.mean([s["rec_l1"] for s in stats[:3]]), np.mean([s["rec_l1"] for s in stats[-3:]])
    assert last < 0.6 * first  # the L1 reconstruction error falls as it trains
    model = open_run(run).load_module("autoencoder")
    assert type(model).__name__ == "AutoencoderKL" and model.config.in_channels == 1


def test_vq_with_a_patch_discriminator_after_its_warm_up(store, tmp_path, one_torch_thread):
    run = tmp_path / "vq"
    settings = _settings(4)
    settings.checkpoint_every, settings.keep_checkpoints = 1, 10
    train_autoencoder(store, run, settings, AutoencoderSettings(type="vq", factor=8, width=8, codebook=32, disc_start=2))
    stats = {s["step"]: s for s in _stats(run) if "loss" in s}
    assert "loss_d" not in stats[1] and "g_adv" not in stats[1] and "codebook" in stats[1]
    assert {"loss_d", "g_adv", "grad_norm_d"} <= set(stats[3])
    loaded = open_run(run)
    assert loaded.modules == {"autoencoder": "VQModel", "discriminator": "PatchDiscriminator"}

    def weights(step):
        return loaded.load_module("discriminator", ema=False, checkpoint=step).state_dict()

    before, after = weights(2), weights(4)  # step 2 is the warm-up's last (steps count from 0)
    assert all(torch.equal(weights(1)[k], before[k]) for k in before)  # untouched during the warm-up
    assert any(not torch.equal(before[k], after[k]) for k in before)  # then trained


def test_pretrained_rgb_vae_starts_a_run_and_serves_grey_images(store, tmp_path, one_torch_thread):
    folder = tmp_path / "vae"
    torch.manual_seed(1)
    build_autoencoder("kl", 8, channels=3, width=8).save_pretrained(folder)
    rgb = load_pretrained_autoencoder(folder)
    x = torch.randn(2, 1, 32, 32)
    rec, _ = reconstruct(rgb, x, sample=False)
    want = rgb.decode(rgb.encode(x.expand(-1, 3, -1, -1)).latent_dist.mode()).sample.mean(dim=1, keepdim=True)
    torch.testing.assert_close(rec, want)  # grey in: repeated to RGB; RGB out: averaged back
    ae = AutoencoderSettings(type="vq", factor=4, pretrained=str(folder))
    train_autoencoder(store, tmp_path / "run", _settings(1), ae)
    assert (ae.type, ae.factor) == ("kl", 8)  # the pretrained model's own
    assert open_run(tmp_path / "run").config["factor"] == 8
    (tmp_path / "empty").mkdir()
    with pytest.raises(HeliogenError, match="not a diffusers model folder"):
        load_pretrained_autoencoder(tmp_path / "empty")


def test_fig4_scores_recomputed_and_refusals(store, tmp_path, one_torch_thread):
    run = tmp_path / "kl"
    train_autoencoder(store, run, _settings(2), AutoencoderSettings(type="kl", factor=16, width=8))
    table = evaluate_autoencoders([run], store, tmp_path / "report", n=5, seed=3)
    (r,) = table["results"]
    assert r["factor"] == 16 and r["images"] == 5
    # independently: the same rows, the EMA model's posterior mode, PSNR over range 2 and the flux ratio in G
    s = open_store(store)
    stored = np.stack([s.group["images"][i] for i in table["rows"]]).astype(np.float64)
    x = torch.from_numpy(stored / 3000.0).float()
    model = open_run(run).load_module("autoencoder")
    with torch.no_grad():
        rec = model.decode(model.encode(x).latent_dist.mode()).sample.clamp(-1, 1).double().numpy()
    mse = ((rec - stored / 3000.0) ** 2).mean(axis=(1, 2, 3))
    assert r["psnr_db"] == pytest.approx(np.mean(10 * np.log10(4.0 / mse)), rel=1e-4)
    flux = np.abs(stored).sum(axis=(1, 2, 3))
    assert r["flux_error_pct"] == pytest.approx(np.mean(100 * np.abs(np.abs(rec * 3000).sum(axis=(1, 2, 3)) - flux) / flux), rel=1e-4)
    assert {p.name for p in (tmp_path / "report").iterdir()} == {"autoencoders.json", "autoencoders.md", "autoencoders.png"}
    with pytest.raises(HeliogenError, match="is a tilevae run|not an autoencoder run|no run folder|is not a heliogen run"):
        evaluate_autoencoders([tmp_path / "report"], store, tmp_path / "r2")


def test_cli_trains_and_scores(store, tmp_path, capsys, one_torch_thread):
    for kind, factor in (("kl", "4"), ("vq", "8")):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "autoencoder", "--data", str(store), "--out", str(tmp_path / f"{kind}{factor}"), "--type", kind,
                  "--factor", factor, "--width", "8", "--steps", "2", "--batch", "2", "--no-progress"])
        assert exit_info.value.code == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "autoencoder", str(tmp_path / "kl4"), str(tmp_path / "vq8"), "--data", str(store), "--n", "4",
              "--out", str(tmp_path / "fig4")])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "kl  f4" in out and "vq  f8" in out
    assert "| vq | 8 |" in (tmp_path / "fig4" / "autoencoders.md").read_text()


def test_kl_weight_pulls_the_posterior_to_the_prior(store, tmp_path, one_torch_thread):
    kl = {}
    for weight in (0.0, 1.0):
        run = tmp_path / f"w{weight}"
        train_autoencoder(store, run, _settings(10, ema=0.0), AutoencoderSettings(type="kl", factor=4, width=8, kl_weight=weight))
        kl[weight] = np.mean([s["kl"] for s in _stats(run) if "kl" in s][-3:])
    assert kl[1.0] < 0.5 * kl[0.0]


def test_a_pretrained_factor_that_does_not_divide_the_images_is_one_line(store, tmp_path):
    folder = tmp_path / "vae"
    build_autoencoder("kl", 16, channels=1, width=8).save_pretrained(folder)
    from heliogen.data.build import build_store as build

    root = tmp_path / "odd"
    write_synth("magnetogram", 1, 256, 3, root / "hmi", start="2011-01-09T00:00:00")
    build(root / "hmi", root / "m24.zarr", "magnetogram", None, crop=24, crop_mode="center", progress=False)
    with pytest.raises(HeliogenError, match=r"\(24 px\) are not divisible by the autoencoder's factor 16"):
        train_autoencoder(root / "m24.zarr", tmp_path / "run", _settings(1), AutoencoderSettings(pretrained=str(folder)))
    assert not (tmp_path / "run").exists()  # refused before any run folder is written
