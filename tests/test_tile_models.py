"""Tile GAN / VAE (granulation thesis sec. 3.2-3.3, tables 3-4): shapes, parameter counts,
equalised LR, tapering, and training on the shared loop with exact resume."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from heliogen.errors import HeliogenError
from heliogen.models.equalized import EqualizedConv2d, MinibatchStdDev, PixelNorm
from heliogen.models.tilegan import TileDiscriminator, TileGenerator, tile_channels
from heliogen.models.tilevae import TileVAE, vae_loss

torch.set_num_threads(1)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_thesis_parameter_counts():
    # table 4 / sec. 3.3: 12,848,641 (G) and 11,813,377 (D); the minibatch-std channel adds 16 weights
    assert n_params(TileGenerator()) == 12_848_641
    assert n_params(TileDiscriminator()) == 11_813_377 + 16


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_shapes_follow_tile_size(size):
    g = TileGenerator(size=size, width=8)
    d = TileDiscriminator(size=size, width=8)
    with torch.no_grad():
        x = g(torch.randn(2, 128))
        assert x.shape == (2, 1, size, size)
        assert d(x).shape == (2,)
    assert g.resolutions[-1] == size and g.resolutions[0] == 4


def test_bad_tile_size():
    with pytest.raises(HeliogenError, match="power of two from 32 to 256"):
        TileGenerator(size=48)


def test_taper_keeps_coarse_layers_wide():
    # the thesis's artifacts came from 256 channels everywhere: the taper keeps the coarse ones
    g = TileGenerator(size=128, width=64, taper_from=16)
    assert g.channels == [64, 64, 64, 32, 16, 8]
    assert tile_channels(8, 64, 16) == 64 and tile_channels(128, 64, 16) == 8
    assert TileGenerator(size=128, width=64).channels == [64] * 6


def test_equalized_scale_and_pixel_norm():
    conv = EqualizedConv2d(8, 4, 3, padding=1)
    assert conv.scale == pytest.approx(math.sqrt(2 / (8 * 9)))
    x = torch.randn(2, 8, 5, 5)
    ref = torch.nn.functional.conv2d(x, conv.weight * math.sqrt(2 / 72), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), ref)
    y = PixelNorm()(torch.randn(3, 6, 4, 4) * 7)
    torch.testing.assert_close(y.pow(2).mean(1), torch.ones(3, 4, 4), rtol=1e-4, atol=1e-4)
    x = torch.randn(4, 3, 2, 2)
    out = MinibatchStdDev()(x)
    assert out.shape == (4, 4, 2, 2)
    assert out[0, 3, 0, 0].item() == pytest.approx(x.std(0, unbiased=False).mean().item(), rel=1e-4)


def test_features_roundtrip():
    g = TileGenerator(size=32, width=8).eval()
    z = torch.randn(3, 128)
    with torch.no_grad():
        full = g(z)
        for layer in range(g.n_layers):
            h = g.features(z, layer)
            assert h.shape[-1] == g.resolutions[layer]
            torch.testing.assert_close(g.from_features(h, layer), full)


def test_vae_shapes_and_loss():
    v = TileVAE(size=32, width=8)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    recon, mean, logvar = v(x, generator=torch.Generator().manual_seed(0))
    assert recon.shape == x.shape and mean.shape == (4, 256)
    total, mse, kl = vae_loss(recon, x, mean, logvar)
    ref_kl = (-0.5 * (1 + logvar - mean ** 2 - logvar.exp()).sum(1)).mean() / (32 * 32)
    assert kl.item() == pytest.approx(ref_kl.item(), rel=1e-5)
    assert mse.item() == pytest.approx(((recon - x) ** 2).mean().item(), rel=1e-5)
    # zero KL at the prior
    z0 = torch.zeros(2, 5)
    assert vae_loss(x[:2], x[:2], z0, z0)[2].item() == pytest.approx(0.0, abs=1e-9)


def test_vae_steps_lower_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    v = TileVAE(size=32, width=8, hidden=64, latent_dim=8)
    x = torch.tanh(torch.randn(8, 1, 32, 32))
    opt = torch.optim.Adam(v.parameters(), lr=1e-3, betas=(0.5, 0.999))
    losses = []
    for i in range(15):
        recon, m, lv = v(x, generator=torch.Generator().manual_seed(i))
        loss = vae_loss(recon, x, m, lv)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.fixture(scope="module")
def gran_store(tmp_path_factory):
    from conftest import build_granulation_store

    return build_granulation_store(tmp_path_factory.mktemp("gran"), 2)


def _settings(**kw):
    from heliogen.training.trainer import TrainSettings

    base = dict(steps=4, batch=4, lr=1e-3, grad_clip=0.0, checkpoint_every=2, log_every=1, progress=False, sample_every=4, ema=0.9)
    base.update(kw)
    return TrainSettings(**base)


def test_tilegan_trains_resumes_and_banks(gran_store, tmp_path):
    from heliogen.mosaic.bank import bank_from_run
    from heliogen.tiles import TileGANSettings, train_tilegan
    from heliogen.training.rundir import open_run

    gan_settings = TileGANSettings(width=16, taper_from=8, heatmap_n=8)
    full = train_tilegan(gran_store, tmp_path / "full", _settings(), gan_settings)
    assert full["step"] == 4
    run = tmp_path / "full"
    cfg = json.loads((run / "run.json").read_text())
    assert cfg["kind"] == "tilegan" and cfg["modules"]["G"]["config"]["size"] == 32
    assert (run / "heatmaps" / "step-0000004.png").is_file() and (run / "samples" / "step-0000004.png").is_file()
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert {"loss_d", "loss_g"} <= set(rows[-1]) and all(np.isfinite(r["loss_d"]) for r in rows)
    # stop at 2, resume to 4: same weights as the uninterrupted run
    train_tilegan(gran_store, tmp_path / "split", _settings(steps=2), gan_settings)
    train_tilegan(gran_store, tmp_path / "split", _settings(), gan_settings)
    a, b = open_run(run).load_module("G"), open_run(tmp_path / "split").load_module("G")
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, msg=k)
    bank = bank_from_run(run, tmp_path / "bank.zarr", n=7, seed=3, batch=3, progress=False)
    assert bank.n == 7 and bank.has_latents and bank.tiles().dtype == np.float16
    with torch.no_grad():
        ref = a(torch.as_tensor(bank.latents()))[:, 0].numpy()
    np.testing.assert_allclose(bank.tiles().astype(np.float32), ref, atol=2e-3, rtol=1e-3)


def test_tilevae_trains(gran_store, tmp_path):
    """40 steps on the whole store as one fixed batch: the loss falls, reconstructions come closer,
    the KL term is logged, and the saved EMA is the moving average of the saved raw weights."""
    from heliogen.data import open_store
    from heliogen.tiles import TileVAESettings, train_tilevae
    from heliogen.training.rundir import open_run

    store = open_store(gran_store)
    steps, vae_settings = 40, TileVAESettings(width=8, hidden=64, latent_dim=16, heatmap_n=4)
    r = train_tilevae(gran_store, tmp_path / "vae", _settings(steps=steps, batch=store.n, checkpoint_every=steps - 1, sample_every=steps),
                      vae_settings)
    assert r["step"] == steps
    run = open_run(tmp_path / "vae")
    v = run.load_module("vae")
    assert v.decode(torch.zeros(1, 16)).shape == (1, 1, 32, 32)
    assert (tmp_path / "vae" / "heatmaps" / f"step-{steps:07d}.png").is_file()

    # every step's loss is logged as MSE + beta KL, with a finite, positive KL
    rows = [json.loads(line) for line in (tmp_path / "vae" / "stats.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == list(range(1, steps + 1))
    for row in rows:
        assert np.isfinite([row["loss"], row["mse"], row["kl"]]).all() and row["kl"] > 0
        assert row["loss"] == pytest.approx(row["mse"] + vae_settings.beta * row["kl"], rel=1e-6)
    losses = np.array([row["loss"] for row in rows])
    assert losses[-5:].mean() < 0.85 * losses[:5].mean(), losses

    # the mean's reconstruction of the batch, against the untrained network (train_tilevae seeds, then builds)
    x = torch.as_tensor(store.normalisation.forward(store.images()).astype(np.float32))

    def recon_error(model):
        with torch.no_grad():
            model = copy.deepcopy(model).train()  # batch statistics: the running ones have seen only 40 updates
            return ((model.decode(model.encode(x)[0]) - x) ** 2).mean().item()

    torch.manual_seed(_settings().seed)
    untrained = TileVAE(size=32, width=8, hidden=64, latent_dim=16)
    trained = run.load_module("vae", ema=False)
    assert recon_error(trained) < 0.8 * recon_error(untrained)

    # EMA (diffusers' EMAModel, decay min(ema, (1 + k) / (10 + k)) at update k + 1): the last step's
    # average is decay x the one before + (1 - decay) x the last raw weights; BatchNorm statistics are the raw model's
    decay = min(0.9, steps / (steps + 9))
    before = dict(run.load_module("vae", ema=True, checkpoint=steps - 1).named_parameters())
    last = dict(trained.named_parameters())
    ema = run.load_module("vae", ema=True, checkpoint=steps)
    for name, p in ema.named_parameters():
        torch.testing.assert_close(p, decay * before[name] + (1 - decay) * last[name], rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.allclose(ema.decoder[-1].weight, last["decoder.{}.weight".format(len(ema.decoder) - 1)])
    for (name, b), b_raw in zip(ema.named_buffers(), trained.buffers()):
        assert torch.equal(b, b_raw), name


def test_tilevae_run_fills_a_bank_for_latent_blending_and_ga(gran_store, tmp_path):
    """A VAE run banks decoder tiles with their z; the decoder's layer split reproduces decode()."""
    from heliogen.models.tilevae import TileVAEDecoder
    from heliogen.mosaic.bank import bank_from_run
    from heliogen.mosaic.build import build_mosaic
    from heliogen.mosaic.refine import GASettings
    from heliogen.tiles import TileVAESettings, train_tilevae
    from heliogen.training.rundir import open_run

    train_tilevae(gran_store, tmp_path / "vae", _settings(steps=2, sample_every=0), TileVAESettings(width=8, hidden=64, latent_dim=16, heatmap_n=4))
    vae = open_run(tmp_path / "vae").load_module("vae")
    dec = TileVAEDecoder.from_vae(vae)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = vae.decode(z)
        assert torch.equal(dec(z), ref)
        for layer in range(dec.n_layers):
            h = dec.features(z, layer)
            assert h.shape[-1] == dec.resolutions[layer]
            torch.testing.assert_close(dec.from_features(h, layer), ref)
    bank = bank_from_run(tmp_path / "vae", tmp_path / "vbank.zarr", n=40, seed=2, batch=16, progress=False)
    assert bank.n == 40 and bank.has_latents and bank.attrs["model"] == "tilevae"
    with torch.no_grad():
        again = vae.decode(torch.as_tensor(bank.latents()))[:, 0].numpy()
    np.testing.assert_allclose(bank.tiles().astype(np.float32), again, atol=2e-3, rtol=1e-3)
    common = dict(grid=(3, 3), overlap=8, seed=0, progress=False, physical=False)
    lat = build_mosaic(bank, out=tmp_path / "l.fits", blend="latent", **common)
    ga = build_mosaic(bank, out=tmp_path / "g.fits", refine="ga", ga=GASettings(population=10, generations=2), **common)
    assert lat["shape"] == [3 * 24 + 8] * 2 and np.isfinite(lat["seams"]["ratio"])
    assert ga["ga"]["mean_fitness_after"] < ga["ga"]["mean_fitness_before"]


def test_tilegan_cli(gran_store, tmp_path):
    import click
    from click.testing import CliRunner

    from heliogen.cli.mosaic import mosaic
    from heliogen.cli.train_tiles import tilegan

    group = click.Group("train", commands={"tilegan": tilegan})
    res = CliRunner().invoke(group, ["tilegan", "--data", str(gran_store), "--out", str(tmp_path / "run"), "--steps", "2", "--width", "8",
                                     "--checkpoint-every", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    cfg = (tmp_path / "run" / "config.yaml").read_text()
    assert "lr: 0.001" in cfg and "batch: 8" in cfg  # the thesis's defaults
    res = CliRunner().invoke(mosaic, ["bank", str(tmp_path / "run"), "--n", "30", "--out", str(tmp_path / "b.zarr"), "--no-progress"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(mosaic, ["build", "--bank", str(tmp_path / "b.zarr"), "--grid", "3x4", "--overlap", "4", "--out",
                                      str(tmp_path / "m.fits"), "--preview", str(tmp_path / "m.png"), "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["shape"] == [3 * 28 + 4, 4 * 28 + 4]
    assert (tmp_path / "m.png").is_file()
