"""Run folders (training/rundir.py): one format for every kind, the legacy reader, ``heliogen
sample`` dispatch, tile banks that name their run, and the trainer's EMA schedule and
trainable-only saves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.io import fits

from heliogen.data.kinds import kind_spec
from heliogen.errors import HeliogenError
from heliogen.training.rundir import RUN_FORMAT, create_run, open_run

LEGACY = Path(__file__).parent / "fixtures" / "legacy_runs"

# Made by tests/fixtures/legacy_runs/make_legacy.py run against heliogen 63ec75f (the commit
# before run.json): `git archive 63ec75f src | tar -x -C OLD`, then
# `PYTHONPATH=OLD/src python make_legacy.py WORK tests/fixtures/legacy_runs`. It trained each
# run 2 steps on a synthetic store and printed what the old code sampled: diffusion through the
# old `generate(run, n=2, sampler="ddim", steps=3, seed=5)` (FITS data, DN/s), the tile models
# from z drawn with seeds 5 and 6, in I/<I> through the store's normalisation.
OLD_OUTPUT = {
    "diffusion": (304597.3486955166, [[2.7773427963256836, 2473.9208984375, 1519.5545654296875, 1.0346866846084595],
                                      [1.2633265256881714, 196.11495971679688, 1.0529640913009644, 45.0219841003418]]),
    "tilegan": (2059.9076133463045, [[0.8646316416648459, 0.9394261454104336, 0.9190907573339535, 0.974428229141866],
                                     [0.9696122750447334, 1.092293104327129, 0.7130158004004805, 0.9128372429489495]]),
    "tilevae": (2005.7706004613606, [[0.9639467515667244, 0.9640249832191172, 0.9666812141778702, 0.9672939547212578],
                                     [0.9641479888557347, 0.9731778305959499, 0.9660423626649572, 0.9667760199674003]]),
}


def _fits(paths):
    import sunpy.map

    return [sunpy.map.Map(p) for p in paths]


@pytest.fixture(scope="module")
def gran_store(tmp_path_factory):
    from conftest import build_granulation_store

    return build_granulation_store(tmp_path_factory.mktemp("gran"), 1)


def _settings(**kw):
    from heliogen.training.trainer import TrainSettings

    base = dict(steps=2, batch=4, lr=1e-3, grad_clip=0.0, checkpoint_every=1, log_every=1, progress=False, sample_every=0, ema=0.5,
                keep_checkpoints=5)
    base.update(kw)
    return TrainSettings(**base)


@pytest.fixture(scope="module")
def tile_runs(gran_store, tmp_path_factory):
    from heliogen.tiles import TileGANSettings, TileVAESettings, train_tilegan, train_tilevae

    root = tmp_path_factory.mktemp("runs")
    train_tilegan(gran_store, root / "gan", _settings(), TileGANSettings(latent_dim=8, width=4, taper_from=8, heatmap_n=2))
    train_tilevae(gran_store, root / "vae", _settings(), TileVAESettings(width=4, hidden=16, latent_dim=4, heatmap_n=2))
    return root


@pytest.mark.parametrize("kind", ["diffusion", "tilegan", "tilevae"])
def test_legacy_runs_open_and_sample_as_the_old_code_did(kind, tmp_path, monkeypatch):
    from heliogen.sample import sample_run

    run = open_run(LEGACY / kind)
    assert run.kind == kind and run.legacy and run.format == "heliogen-run/1"
    assert [c.name for c in run.checkpoints()] == ["step-0000002"]
    options = dict(sampler="ddim", steps=3) if kind == "diffusion" else {}
    if kind == "diffusion":
        # The old code sampled with diffusers' DDIM, which steps by T // steps (16 of T = 50 at 3
        # steps, off the trailing schedule); heliogen's DDIM now steps to the next listed timestep,
        # so the old numbers come back through the old scheduler: what is tested is the run.
        from diffusers import DDIMScheduler

        import heliogen.diffusion.sampling as sampling
        from heliogen.diffusion.schedule import make_scheduler

        old = lambda kind_, config: (DDIMScheduler.from_config(config, set_alpha_to_one=True) if kind_ == "ddim"  # noqa: E731
                                     else make_scheduler(kind_, config))
        monkeypatch.setattr(sampling, "make_scheduler", old)
    out = sample_run(LEGACY / kind, tmp_path, n=2, seed=5, progress=False, **options)
    data = np.stack([fits.getdata(p) for p in out["fits"]]).astype(np.float64)
    total, first = OLD_OUTPUT[kind]
    # float32 sampling on another CPU (its BLAS kernels) moves the last digits: 1e-4, not 1e-5
    np.testing.assert_allclose(data.reshape(2, -1)[:, :4], first, rtol=1e-4)
    assert data.sum() == pytest.approx(total, rel=1e-5)


@pytest.mark.parametrize("kind", ["tilegan", "tilevae"])
def test_legacy_tile_runs_whose_store_is_gone_claim_no_geometry(kind, tmp_path):
    import astropy.wcs

    from heliogen.sample import sample_run

    # the fixture names the store it was trained on, which is gone (made sure of on a copy)
    run_dir = shutil.copytree(LEGACY / kind, tmp_path / "old")
    data = json.loads((run_dir / "data.json").read_text())
    (run_dir / "data.json").write_text(json.dumps({**data, "store": str(tmp_path / "gone.zarr")}))
    out = sample_run(run_dir, tmp_path / "s", n=1, seed=5, progress=False)
    header = fits.getheader(out["fits"][0])
    for invented in ("CUNIT1", "CUNIT2", "TELESCOP", "INSTRUME", "DSUN_OBS", "HGLN_OBS", "RSUN_OBS", "DATE-OBS"):
        assert invented not in header, invented
    assert header["CTYPE1"] == header["CTYPE2"] == "PIXEL" and header["CDELT1"] == header["CDELT2"] == 1.0
    assert header["CRPIX1"] == header["CRPIX2"] == 16.5
    assert list(header["COMMENT"]) == ["training store gone: plate scale, observer and instrument unknown"]
    assert header["BUNIT"] == kind_spec("granulation").fits_bunit and header["WEIGHTS"] == "ema"
    wcs = astropy.wcs.WCS(header)
    assert wcs.wcs.ctype[0] == "PIXEL" and np.allclose(wcs.pixel_to_world_values(15.5, 15.5), (0.0, 0.0))


def test_legacy_tile_run_takes_its_grid_from_its_store_when_it_is_there(gran_store, tmp_path):
    from heliogen.data.grid_header import grid_header_from_store
    from heliogen.data.store import open_store
    from heliogen.sample import sample_run

    run_dir = shutil.copytree(LEGACY / "tilegan", tmp_path / "old")
    data = json.loads((run_dir / "data.json").read_text())
    (run_dir / "data.json").write_text(json.dumps({**data, "store": str(gran_store)}))
    expected = grid_header_from_store(open_store(gran_store))
    assert open_run(run_dir).header == expected and expected["CUNIT1"] == "arcsec"
    header = fits.getheader(sample_run(run_dir, tmp_path / "s", n=1, progress=False)["fits"][0])
    assert header["CDELT1"] == pytest.approx(expected["CDELT1"]) and header["CTYPE1"] == "XOFFSET"
    # another store in its place (another kind or size) is not taken for it
    (run_dir / "data.json").write_text(json.dumps({**data, "store": str(gran_store), "size": 64}))
    assert open_run(run_dir).header["CTYPE1"] == "PIXEL"


def test_legacy_fixture_stays_small():
    size = sum(p.stat().st_size for p in LEGACY.rglob("*") if p.is_file())
    assert size < 600_000


def test_open_run_on_each_kind(tile_runs):
    gan, vae = open_run(tile_runs / "gan"), open_run(tile_runs / "vae")
    assert gan.kind == "tilegan" and gan.format == RUN_FORMAT and not gan.legacy
    assert gan.modules == {"G": "TileGenerator", "D": "TileDiscriminator"} and gan.ema == ["G"]
    assert vae.kind == "tilevae" and vae.modules == {"vae": "TileVAE"}
    assert gan.data["kind"] == "granulation" and gan.shape == (1, 32, 32) and gan.header["CTYPE1"] == "XOFFSET"
    assert gan.config["width"] == 4 and gan.config["steps"] == 2
    ckpt = gan.latest
    assert sorted(p.name for p in ckpt.iterdir()) == ["D", "G", "G_ema", "state.pt"]
    assert (ckpt / "G_ema" / "config.json").is_file() and (ckpt / "G_ema" / "diffusion_pytorch_model.safetensors").is_file()
    assert json.loads((tile_runs / "gan" / "run.json").read_text())["heliogen"]
    with pytest.raises(HeliogenError, match="keeps no EMA of D"):
        gan.load_module("D", ema=True)
    assert gan.load_module("D").training is False  # no EMA kept: the raw weights
    with pytest.raises(HeliogenError, match="has no module 'model'"):
        gan.load_module("model")


def test_load_ema_or_raw_from_a_chosen_checkpoint(tile_runs):
    from diffusers.utils import SAFETENSORS_WEIGHTS_NAME
    from safetensors.torch import load_file

    from heliogen.models.tilegan import TileGenerator

    run = open_run(tile_runs / "gan")
    assert [c.name for c in run.checkpoints()] == ["step-0000001", "step-0000002"]
    for step in (1, 2):
        ckpt = run.checkpoint(step)
        for ema, folder in ((True, "G_ema"), (False, "G")):
            g = run.load_module("G", ema=ema, checkpoint=f"step-{step:07d}")
            saved = load_file(str(ckpt / folder / SAFETENSORS_WEIGHTS_NAME))
            assert all(torch.equal(v, saved[k]) for k, v in g.state_dict().items())
            # the folder is an ordinary diffusers save: from_pretrained reads it too
            again = TileGenerator.from_pretrained(ckpt / folder, low_cpu_mem_usage=False)
            assert all(torch.equal(v, again.state_dict()[k]) for k, v in g.state_dict().items())
    raw, ema = run.load_module("G", ema=False), run.load_module("G")
    assert any(not torch.equal(a, b) for a, b in zip(raw.parameters(), ema.parameters()))
    first, last = run.load_module("G", checkpoint=1), run.load_module("G", checkpoint=run.latest)
    assert any(not torch.equal(a, b) for a, b in zip(first.parameters(), last.parameters()))
    with pytest.raises(HeliogenError, match="no checkpoint step-0000007 in .*; it has step-0000001, step-0000002"):
        run.checkpoint(7)


def test_create_run_refuses_another_kind_or_model(gran_store, tile_runs, tmp_path):
    from heliogen.models.tilegan import TileGenerator
    from heliogen.tiles import TileGANSettings, TileVAESettings, train_tilegan, train_tilevae

    with pytest.raises(HeliogenError, match="holds a tilegan run, not a tilevae run") as err:
        train_tilevae(gran_store, tile_runs / "gan", _settings(), TileVAESettings(width=4, hidden=16, latent_dim=4))
    assert len(str(err.value).splitlines()) == 1
    with pytest.raises(HeliogenError, match=r"another model \(D, G differ\)"):
        train_tilegan(gran_store, tile_runs / "gan", _settings(), TileGANSettings(latent_dim=8, width=8, taper_from=8))
    with pytest.raises(HeliogenError, match="older heliogen-run/1 format"):
        create_run(shutil.copytree(LEGACY / "tilegan", tmp_path / "old"), "tilegan", {"G": TileGenerator(size=32, width=4)}, {}, {})
    with pytest.raises(HeliogenError, match="unknown run kind"):
        create_run(tmp_path / "x", "flow", {}, {}, {})
    # the same model again is fine (resume)
    create_run(tmp_path / "same", "tilegan", {"G": TileGenerator(size=32, width=4)}, {"kind": "granulation"}, {"a": 1})
    create_run(tmp_path / "same", "tilegan", {"G": TileGenerator(size=32, width=4)}, {"kind": "granulation"}, {"a": 2})


def test_not_a_run_says_what_a_run_is(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HeliogenError, match="not a heliogen run.*written by `heliogen train"):
        open_run(tmp_path / "empty")
    with pytest.raises(HeliogenError, match="no run folder at"):
        open_run(tmp_path / "missing")


@pytest.mark.parametrize("kind", ["tilegan", "tilevae"])
def test_sample_tile_runs_write_fits_with_wcs_and_provenance(tile_runs, kind, tmp_path):
    from heliogen.sample import sample_run
    from heliogen.tiles.sample import tile_generator

    folder = tile_runs / ("gan" if kind == "tilegan" else "vae")
    run = open_run(folder)
    out = sample_run(folder, tmp_path / "a", n=3, seed=4, batch=2, progress=False, checkpoint=1)
    maps = _fits(out["fits"])
    assert [p.name for p in out["fits"]] == ["tile_000004.fits", "tile_000005.fits", "tile_000006.fits"]
    m = maps[1]
    assert m.meta["seed"] == 5 and m.meta["ckpt"] == "step-0000001" and m.meta["model"] == folder.name
    assert m.meta["runkind"] == kind and m.meta["weights"] == "ema" and m.meta["hgver"]
    assert m.meta["ctype1"] == "XOFFSET" and m.reference_pixel.x.value == pytest.approx(15.5) and m.data.shape == (32, 32)
    # physical units: the EMA generator of checkpoint 1 on z from seed 5, through the normalisation
    g = tile_generator(run, checkpoint=1)
    with torch.no_grad():
        tile = g(torch.randn(1, g.latent_dim, generator=torch.Generator().manual_seed(5)))[0, 0].numpy()
    np.testing.assert_allclose(m.data, run.normalisation.physical(tile.astype(np.float64)), rtol=1e-5)
    assert out["grid"].stat().st_size > 2000
    # a tile depends on its seed, not on n or --batch (the network runs on fixed micro-batches)
    again = sample_run(folder, tmp_path / "b", n=1, seed=4, batch=1, progress=False, checkpoint=1)
    assert np.array_equal(_fits(again["fits"])[0].data, maps[0].data)


@pytest.mark.parametrize("kind", ["tilegan", "tilevae"])
def test_sample_tile_runs_with_ema_or_raw_weights(tile_runs, kind, tmp_path):
    from heliogen.models.tilevae import TileVAEDecoder
    from heliogen.sample import sample_run

    folder = tile_runs / ("gan" if kind == "tilegan" else "vae")
    run = open_run(folder)
    name = "G" if kind == "tilegan" else "vae"
    tiles = {}
    for weights in ("ema", "raw"):
        module = run.load_module(name, ema=weights == "ema")  # the saved G_ema/ or G/ folder (vae_ema/ or vae/)
        net = module if kind == "tilegan" else TileVAEDecoder.from_vae(module)
        with torch.no_grad():
            z = torch.cat([torch.randn(1, net.latent_dim, generator=torch.Generator().manual_seed(s)) for s in (3, 4)])
            expected = run.physical(net(z)[:, 0].numpy().astype(np.float64))
        out = sample_run(folder, tmp_path / weights, n=2, seed=3, weights=weights, progress=False)
        tiles[weights] = np.stack([fits.getdata(p) for p in out["fits"]])
        np.testing.assert_allclose(tiles[weights], expected, rtol=1e-5, atol=1e-6)
        assert all(fits.getheader(p)["WEIGHTS"] == weights for p in out["fits"])
    assert not np.allclose(tiles["ema"], tiles["raw"], rtol=1e-5, atol=1e-6)  # the comparison above tells them apart


def test_sampled_tile_fits_carry_the_stores_plate_scale_and_unit(tile_runs, gran_store, tmp_path):
    import astropy.wcs

    from heliogen.data.store import open_store
    from heliogen.sample import sample_run

    run = open_run(tile_runs / "gan")
    cdelt = float(np.median(open_store(gran_store).column("cdelt")))
    assert run.data["header"]["CDELT1"] == pytest.approx(cdelt) and cdelt != 1.0
    header = fits.getheader(sample_run(tile_runs / "gan", tmp_path, n=1, progress=False)["fits"][0])
    assert header["CDELT1"] == header["CDELT2"] == pytest.approx(run.data["header"]["CDELT1"])
    assert header["CUNIT1"] == header["CUNIT2"] == "arcsec"
    assert header["BUNIT"] == kind_spec("granulation").fits_bunit
    assert astropy.wcs.WCS(header).wcs.cunit[0] == "arcsec"


def test_sample_cli_dispatches_and_refuses_options_of_another_kind(tile_runs, tmp_path, capsys):
    from heliogen.cli import main

    def cli(*argv):
        with pytest.raises(SystemExit) as e:
            main(list(argv))
        return e.value.code, capsys.readouterr()

    code, out = cli("sample", str(tile_runs / "vae"), "--n", "2", "--out", str(tmp_path / "s"), "--weights", "raw", "--no-progress")
    assert code == 0 and "wrote 2 FITS" in out.out
    assert _fits([tmp_path / "s" / "tile_000001.fits"])[0].meta["weights"] == "raw"
    for flag in (["--sampler", "ddim"], ["--class", "M"], ["--steps", "5"], ["--stats"]):
        code, out = cli("sample", str(tile_runs / "gan"), "--out", str(tmp_path / "x"), *flag)
        assert code == 2 and f"{flag[0]} does not apply to a tilegan run" in out.err and len(out.err.strip().splitlines()) == 1


def test_checkpoint_errors_say_what_the_argument_may_be(tile_runs, gran_store, tmp_path, capsys):
    import re
    import subprocess
    import sys

    from safetensors.torch import load_file, save_file

    from heliogen.cli import main

    run = open_run(tile_runs / "gan")
    with pytest.raises(HeliogenError) as err:
        run.checkpoint("99")
    assert str(err.value) == f"no checkpoint step-0000099 in {run.path}; it has step-0000001, step-0000002"
    with pytest.raises(HeliogenError) as err:
        run.load_module("G", checkpoint=gran_store)  # a store, not a checkpoint
    assert str(err.value) == (f"{gran_store} is not a checkpoint folder ({run.path / 'checkpoints' / 'step-N'}); "
                              "it has step-0000001, step-0000002")
    with pytest.raises(HeliogenError, match=f"^no checkpoint at {re.escape(str(tmp_path / 'nowhere'))}; it has step-0000001"):
        run.checkpoint(tmp_path / "nowhere")
    # weights of another model: the module and its first missing and unexpected keys
    copy = open_run(shutil.copytree(tile_runs / "gan", tmp_path / "gan"))
    weights_file = copy.latest / "G_ema" / "diffusion_pytorch_model.safetensors"
    weights = load_file(str(weights_file))
    first = sorted(weights)[0]
    save_file({**{k: v for k, v in weights.items() if k != first}, "extra.weight": torch.zeros(1)}, str(weights_file))
    with pytest.raises(HeliogenError) as err:
        copy.load_module("G")
    assert str(err.value) == (f"{copy.latest / 'G_ema'} does not fit the G module (TileGenerator): it lacks {first}; "
                              "it has an unexpected extra.weight")
    save_file({**weights, first: torch.zeros(3)}, str(weights_file))
    with pytest.raises(HeliogenError, match=rf"its {re.escape(first)} is \(3,\), the model's \("):
        copy.load_module("G")
    # plural flags, and the complete list of what a tile run takes
    with pytest.raises(SystemExit) as code:
        main(["sample", str(tile_runs / "gan"), "--out", str(tmp_path / "x"), "--sampler", "ddim", "--steps", "5"])
    assert code.value.code == 2 and capsys.readouterr().err.strip().endswith(
        "--sampler, --steps do not apply to a tilegan run (it takes --batch, --checkpoint, --device, --n, --no-progress, --out, "
        "--seed, --weights)")
    # the command line: exit code 2 and one line
    res = subprocess.run([sys.executable, "-m", "heliogen", "sample", str(tile_runs / "gan"), "--checkpoint", "99", "--out",
                          str(tmp_path / "y")], capture_output=True, text=True)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.strip().endswith(f"no checkpoint step-0000099 in {run.path}; it has step-0000001, step-0000002")


def test_sample_registry_rejects_kinds_without_a_sampler(tile_runs, monkeypatch, tmp_path):
    from heliogen import sample

    monkeypatch.delitem(sample.SAMPLERS, "tilegan")
    with pytest.raises(HeliogenError, match="cannot sample tilegan runs"):
        sample.sample_run(tile_runs / "gan", tmp_path)


def test_samplers_share_output_folder_and_seeds(tile_runs, tmp_path):
    from heliogen.sample import output_folder, sample_seeds
    from heliogen.tiles.sample import sample_tiles

    assert sample_seeds(5, 3) == [5, 6, 7] and sample_seeds(0, 0) == []
    made = output_folder(tmp_path / "a" / "b")
    assert made == tmp_path / "a" / "b" and made.is_dir() and output_folder(made) == made
    (tmp_path / "file").write_text("x")
    with pytest.raises(HeliogenError, match="cannot create") as err:
        output_folder(tmp_path / "file" / "sub")
    assert "\n" not in str(err.value)
    with pytest.raises(HeliogenError, match="cannot create"):
        sample_tiles(tile_runs / "gan", tmp_path / "file" / "sub", n=1, progress=False)


def test_bank_names_its_run_and_checkpoint(tile_runs, gran_store, tmp_path):
    import zarr

    from heliogen.mosaic.bank import bank_from_run, open_bank

    bank = bank_from_run(tile_runs / "gan", tmp_path / "b.zarr", n=5, seed=1, progress=False, checkpoint=1)
    assert bank.attrs["run"] == str((tile_runs / "gan").resolve()) and bank.attrs["checkpoint"] == "step-0000001"
    assert bank.attrs["generator_class"] == "TileGenerator" and (tmp_path / "b.zarr" / "generator" / "config.json").is_file()
    ref = open_run(tile_runs / "gan").load_module("G", checkpoint=1)
    g = open_bank(tmp_path / "b.zarr").generator()
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), g.state_dict().values()))
    vbank = bank_from_run(tile_runs / "vae", tmp_path / "v.zarr", n=3, progress=False)
    assert vbank.attrs["generator_class"] == "TileVAEDecoder" and vbank.attrs["checkpoint"] == "step-0000002"
    assert vbank.generator().latent_dim == 4
    # an old-format bank: one line saying how to rebuild it
    zarr.open_group(str(tmp_path / "b.zarr"), mode="r+").attrs["format"] = "heliogen-tile-bank/1"
    with pytest.raises(HeliogenError, match=r"older format; rebuild it with `heliogen mosaic bank RUN`"):
        open_bank(tmp_path / "b.zarr")
    with pytest.raises(HeliogenError, match="diffusion run; a bank needs a tile GAN or tile VAE run"):
        bank_from_run(LEGACY / "diffusion", tmp_path / "d.zarr", n=2, progress=False)


def test_mosaic_bank_on_neither_run_nor_store(tmp_path):
    from click.testing import CliRunner

    from heliogen.cli.mosaic import mosaic

    (tmp_path / "junk").mkdir()
    res = CliRunner().invoke(mosaic, ["bank", str(tmp_path / "junk"), "--out", str(tmp_path / "b.zarr")])
    assert res.exit_code != 0 and "neither a run nor a store" in str(res.exception)
