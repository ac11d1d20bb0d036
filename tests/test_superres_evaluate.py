"""``heliogen evaluate superres``: the paper's table-1 metrics on known answers, an independent
re-computation of a run's scores, the table, JSON and figures, and bad inputs."""

import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from heliogen.cli import main
from heliogen.data.build import build_store
from heliogen.data.grid_header import sample_header
from heliogen.data.store import open_store
from heliogen.data.synth import write_synth
from heliogen.errors import HeliogenError
from heliogen.evaluate.metrics.lpips_lite import LiteLPIPS
from heliogen.evaluate.metrics.pairwise import psnr
from heliogen.superres.evaluate import SuperResEvalSettings, crop_metrics, evaluate_superres
from heliogen.superres.sample import SuperResolver, super_resolve
from heliogen.superres.train import SuperResSettings, train_superres
from heliogen.superres.train_autoencoder import AutoencoderSettings, train_autoencoder
from heliogen.training.rundir import from_model_space, open_run, to_model_space
from heliogen.training.trainer import TrainSettings

pytestmark = pytest.mark.filterwarnings("ignore:'datfix' made the change", "ignore:FD from")

HEADER = {"CDELT1": 0.5, "CDELT2": 0.5, "CUNIT1": "arcsec", "CUNIT2": "arcsec", "DSUN_OBS": 1.496e11}


class _Zero:
    """A perceptual distance stand-in for the metric-wiring tests: zero iff equal, else mean |a - b|."""

    def __call__(self, a, b):
        return np.abs(np.asarray(a) - np.asarray(b)).mean(axis=(1, 2))


def _field(seed=0, size=64):
    rng = np.random.default_rng(seed)
    b = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 1.0) * 900.0
    b[20:28, 20:28] += 1200.0  # an active region: |B| > 300 G for sure
    return b


def test_crop_metrics_known_answers():
    truth = _field()
    settings = SuperResEvalSettings()
    same = crop_metrics(np.stack([truth, truth]), truth, HEADER, settings, _Zero())
    assert same["psnr"] == [np.inf, np.inf] and np.allclose(same["ssim"], 1.0) and same["perceptual"] == [0.0, 0.0]
    assert same["unsigned_flux_pct"] == [0.0, 0.0] and same["ar_size_pct"] == [0.0, 0.0]
    assert same["power_ratio"] == pytest.approx([1.0, 1.0])
    assert same["uncertainty_small"] == [0.0] and same["uncertainty_large"] == [0.0]  # identical samples: no spread
    # every prediction 10 % stronger: +10 % flux, power x 1.21, AR pixels those above 300/1.1 G (holes filled)
    scaled = crop_metrics(np.stack([1.1 * truth]), truth, HEADER, settings, _Zero())
    assert scaled["unsigned_flux_pct"] == pytest.approx([10.0])
    assert scaled["power_ratio"] == pytest.approx([1.21])
    area = [ndimage.binary_fill_holes(np.abs(b) > 300).sum() for b in (1.1 * truth, truth)]  # inside the contours
    expected_ar = 100.0 * (area[0] / area[1] - 1.0)
    assert scaled["ar_size_pct"] == pytest.approx([expected_ar])
    assert "uncertainty_small" not in scaled  # one prediction: no spread to measure
    # PSNR in model space: +-3000 G -> [-1, 1], range 2, as the paper
    mse = np.mean((np.clip(1.1 * truth, -3000, 3000) / 3000 - np.clip(truth, -3000, 3000) / 3000) ** 2)
    assert scaled["psnr"][0] == pytest.approx(10 * np.log10(4 / mse))
    # two samples differing by +-50 G everywhere: a constant std map, all of it large-scale
    board = 50.0 * (np.indices(truth.shape).sum(axis=0) % 2 * 2 - 1)
    flat = crop_metrics(np.stack([truth + board, truth - board]), truth, HEADER, settings, _Zero())
    assert flat["uncertainty_small"][0] == pytest.approx(0.0, abs=1e-6) and flat["uncertainty_large"][0] == pytest.approx(50.0)
    assert flat["power_ratio"][0] > 1.0  # the checkerboard adds power at the finest scale
    # differing on every other pixel only: std = 25 + 25 x (checkerboard), whose +-25 lies at the
    # Nyquist corner, far beyond the 2" cut-off (0.125 cycles/px at 0.5"), so passes the high-pass
    odd = np.indices(truth.shape).sum(axis=0) % 2 * 50.0
    fine = crop_metrics(np.stack([truth + odd, truth - odd]), truth, HEADER, settings, _Zero())
    assert fine["uncertainty_small"][0] == pytest.approx(25.0, rel=0.02)
    assert fine["uncertainty_large"][0] == pytest.approx(25.0, rel=0.02)


def test_coarse_pixels_have_no_power_or_uncertainty_split():
    truth = _field()
    coarse = {**HEADER, "CDELT1": 2.0, "CDELT2": 2.0}
    out = crop_metrics(np.stack([truth, truth + 1.0]), truth, coarse, SuperResEvalSettings(), _Zero())
    assert "power_ratio" not in out and "uncertainty_small" not in out and len(out["psnr"]) == 2


def test_lite_lpips_form():
    rng = np.random.default_rng(0)
    x = np.tanh(rng.normal(size=(2, 48, 48)))
    blurred = [np.stack([ndimage.gaussian_filter(a, s) for a in x]) for s in (0.7, 1.5, 3.0)]
    d = LiteLPIPS()
    assert d(x, x) == pytest.approx([0.0, 0.0], abs=1e-6)
    np.testing.assert_allclose(d(x, blurred[1]), d(blurred[1], x), rtol=1e-5)  # symmetric
    steps = [d(x, b).mean() for b in blurred]
    assert steps[0] < steps[1] < steps[2]  # more blur, farther
    with pytest.raises(HeliogenError, match="shape"):
        d(x[0], x[0])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sreval")
    write_synth("magnetogram", 2, 256, 5, root / "hmi", start="2011-01-09T00:00:00", cdelt=1.0)
    build_store(root / "hmi", root / "p.zarr", "magnetogram", None, crop=32, crop_mode="ar", pairs=4, progress=False)
    build_store(root / "hmi", root / "plain.zarr", "magnetogram", None, crop=32, crop_mode="ar", progress=False)
    train_autoencoder(root / "p.zarr", root / "ae", TrainSettings(steps=1, batch=2, progress=False, checkpoint_every=1),
                      AutoencoderSettings(type="kl", factor=4, width=8, latent_channels=2))
    for model in ("enhance", "ldm-res"):
        train_superres(root / "p.zarr", root / model, TrainSettings(steps=2, batch=2, progress=False, checkpoint_every=2),
                       SuperResSettings(model=model, autoencoder=str(root / "ae") if model == "ldm-res" else None, width=8,
                                        blocks=2, timesteps=50))
    return root


def test_cli_writes_the_table_json_and_figures(runs, tmp_path, one_torch_thread):
    out = tmp_path / "ev"
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "superres", "--model", str(runs / "enhance"), "--model", str(runs / "ldm-res"), "--data", str(runs / "p.zarr"),
              "--n", "2", "--samples", "3", "--steps", "2", "--out", str(out), "--no-progress"])
    assert exit_info.value.code == 0
    doc = json.loads((out / "superres.json").read_text())
    enhance, ldm = doc["results"]
    assert (enhance["label"], ldm["label"]) == ("enhance", "ldm-res")
    assert len(enhance["values"]["psnr"]) == 2 and len(ldm["values"]["psnr"]) == 6  # n x samples for diffusion
    assert "uncertainty_small" not in enhance["metrics"] and ldm["metrics"]["uncertainty_small"]["n"] == 2
    assert doc["networks"]["fd"] == "inception" and "not LPIPS" in doc["networks"]["perceptual"]
    table = (out / "superres.md").read_text()
    assert "| lpips_lite0 |" in table and "| FD (inception) |" in table and "| PSNR (dB) |" in table
    assert table.count("\n| ") == 10  # header + 9 metric rows
    for name in ("samples.png", "fourier.png", "physics_boxplots.png", "uncertainty.png"):
        assert (out / name).stat().st_size > 5000

    # independent re-computation of the deterministic run's PSNR and flux error
    store = open_store(runs / "p.zarr")
    run = open_run(runs / "enhance")
    data_range = run.data["data_range"]
    rows = doc["rows"]
    stored_lr = np.stack([store.normalisation.forward(store.lowres(slice(i, i + 1))[0]) for i in rows])
    pred = super_resolve(SuperResolver.from_run(run), to_model_space(torch.from_numpy(stored_lr).float(), data_range), rows)
    gauss = store.normalisation.physical(from_model_space(pred.clamp(-1, 1).numpy().astype(np.float64), data_range))[:, 0]
    truth = np.stack([store.images(slice(i, i + 1))[0, 0] for i in rows]).astype(np.float64)
    expect = [psnr(np.clip(g, -3000, 3000) / 3000, np.clip(t, -3000, 3000) / 3000, 2.0) for g, t in zip(gauss, truth)]
    np.testing.assert_allclose(enhance["values"]["psnr"], expect, rtol=1e-6)
    flux = [100 * (np.abs(g).sum() - np.abs(t).sum()) / np.abs(t).sum() for g, t in zip(gauss, truth)]
    np.testing.assert_allclose(enhance["values"]["unsigned_flux_pct"], flux, rtol=1e-5)
    assert sample_header(store, rows[0])["CDELT1"] == pytest.approx(1.0)


def test_bad_inputs_are_one_line_errors(runs, tmp_path):
    settings = SuperResEvalSettings(n=1, samples=1, steps=1, progress=False)
    with pytest.raises(HeliogenError, match="is a autoencoder run, not a super-resolution run|not a super-resolution run"):
        evaluate_superres([runs / "ae"], runs / "p.zarr", tmp_path / "a", settings)
    with pytest.raises(HeliogenError, match="not a paired magnetogram store"):
        evaluate_superres([runs / "enhance"], runs / "plain.zarr", tmp_path / "b", settings)
    with pytest.raises(HeliogenError, match="at least 1"):
        evaluate_superres([runs / "enhance"], runs / "p.zarr", tmp_path / "c", SuperResEvalSettings(samples=0))


def test_a_shared_spectrum_saturation_below_a_map_still_draws(tmp_path):
    """The Fourier figure saturates every panel at the target's level; a far stronger prediction
    (an untrained model) lies wholly above it and must still draw."""
    from matplotlib.figure import Figure

    from heliogen.evaluate.metrics.fourier import draw_amplitude_spectrum

    ax = Figure().subplots()
    img = _field()
    vmax = draw_amplitude_spectrum(ax, img, 0.5)
    assert vmax == pytest.approx(np.percentile(np.log10(np.abs(np.fft.fftshift(np.fft.fft2(img))) + 1e-12), 99.5))
    draw_amplitude_spectrum(ax, 1e9 * (img + 1e4), 0.5, vmax=vmax)
    ax.figure.savefig(tmp_path / "s.png")
