"""``heliogen gan directions RUN`` and ``heliogen sample RUN --edit``: GANSpace from the command line."""

import numpy as np
import pytest
import torch
from astropy.io import fits

from heliogen.cli import main
from heliogen.data.build import build_store
from heliogen.gan.directions import load_directions
from heliogen.gan.train import GANSettings, train_gan
from heliogen.training.rundir import open_run
from heliogen.training.trainer import TrainSettings


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from heliogen.data.synth import write_synth

    d = tmp_path_factory.mktemp("gandir")
    write_synth("euv", 4, 64, 3, d / "euv")
    build_store(d / "euv", d / "euv32.zarr", "euv", 32, progress=False)
    settings = TrainSettings(steps=1, batch=2, checkpoint_every=1, log_every=1, progress=False, grad_clip=0.0)
    gs = GANSettings(discriminator="projected", channel_base=256, channel_max=16, backbone="random", head_width=0.125)
    train_gan(d / "euv32.zarr", d / "run", settings, gs)
    return d / "run"


def _cli(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_directions_then_edit_moves_w_by_the_asked_steps(run, tmp_path, capsys):
    code, out, err = _cli(["gan", "directions", str(run), "--samples", "300", "--components", "3", "--figure-seeds", "0,1",
                           "--steps", "-1,0,1", "--figure-components", "2", "--device", "cpu"], capsys)
    assert code == 0, err
    assert "3 directions from 300 w" in out
    found = load_directions(run / "ganspace" / "directions.npz")
    assert found.k == 3 and (run / "ganspace" / "directions.png").stat().st_size > 1000
    # an edit of +2 sigma along direction 0 and -1 along 2: the image is the synthesis of w + 2 s0 v0 - s2 v2
    code, _, err = _cli(["sample", str(run), "--n", "2", "--seed", "5", "--edit", "0=+2,2=-1", "--out", str(tmp_path / "e"),
                         "--no-progress", "--device", "cpu"], capsys)
    assert code == 0, err
    code, _, err = _cli(["sample", str(run), "--n", "2", "--seed", "5", "--out", str(tmp_path / "plain"), "--no-progress",
                         "--device", "cpu"], capsys)
    assert code == 0, err
    r = open_run(run)
    G = r.load_module("G", ema=True)
    shift = torch.as_tensor(2 * found.sigmas[0] * found.components[0] - found.sigmas[2] * found.components[2], dtype=torch.float32)
    expected = G.generate([6], ws_edit=lambda ws: ws + shift).numpy()
    edited, plain = (fits.getdata(tmp_path / f / "gan_000006.fits") for f in ("e", "plain"))
    want = r.physical(expected)[0, 0]
    np.testing.assert_allclose(edited, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    assert not np.allclose(edited, plain)
    assert fits.getheader(tmp_path / "e" / "gan_000006.fits")["EDIT"] == "0=+2,2=-1"


def test_edit_errors_are_one_line(run, tmp_path, capsys):
    for args, needle in [(["--edit", "0=+2", "--directions", str(tmp_path / "none.npz")], "no GANSpace directions file"),
                         (["--edit", "9=1"], "out of range"),
                         (["--edit", "0:1"], "bad edit item")]:
        code, _, err = _cli(["sample", str(run), "--n", "1", "--out", str(tmp_path / "x"), "--no-progress", *args], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
