"""The six super-resolution models: Palette conditioning and residual targets (known answers on a
toy), training on the shared loop, self-contained latent runs, batch-independent sampling."""

import numpy as np
import pytest
import torch

from heliogen.cli import main
from heliogen.data.build import build_store
from heliogen.data.synth import write_synth
from heliogen.errors import HeliogenError
from heliogen.superres.autoencoder import build_autoencoder, encode
from heliogen.superres.deterministic import replicate
from heliogen.superres.models import MODELS, diffusion_spaces, to_image
from heliogen.superres.sample import SuperResolver, super_resolve
from heliogen.superres.train import SuperResSettings, train_superres
from heliogen.superres.train_autoencoder import AutoencoderSettings, train_autoencoder
from heliogen.training.rundir import open_run
from heliogen.training.trainer import TrainSettings

pytestmark = pytest.mark.filterwarnings("ignore:'datfix' made the change")


def test_palette_condition_and_residual_targets_on_a_toy():
    hr = torch.arange(64.0).reshape(1, 1, 8, 8) / 64
    lr = torch.tensor([[[[0.1, 0.2], [0.3, 0.4]]]])
    up = replicate(lr, 4)
    assert up[0, 0, 3, 3] == 0.1 and up[0, 0, 4, 4] == 0.4 and up[0, 0, 0, 7] == 0.2  # pixel replication
    plain, res = diffusion_spaces("ddpm", hr, lr), diffusion_spaces("ddpm-res", hr, lr)
    torch.testing.assert_close(plain.condition, up)
    torch.testing.assert_close(res.condition, up)
    torch.testing.assert_close(plain.x0, hr)
    torch.testing.assert_close(res.x0, hr - up)  # the residual HR - LR_up
    for s, name in ((plain, "ddpm"), (res, "ddpm-res")):
        torch.testing.assert_close(to_image(name, s.x0, s.base), hr)  # and back
    torch.manual_seed(0)
    ae = build_autoencoder("kl", 4, width=8, latent_channels=2).eval()
    latent, latent_res = diffusion_spaces("ldm", hr, lr, ae), diffusion_spaces("ldm-res", hr, lr, ae)
    with torch.no_grad():
        z_hr, z_lr = encode(ae, hr), encode(ae, up)
    torch.testing.assert_close(latent.condition, z_lr)
    torch.testing.assert_close(latent.x0, z_hr)
    torch.testing.assert_close(latent_res.x0, z_hr - z_lr)  # z_HR - z_LR
    with pytest.raises(HeliogenError, match="needs an autoencoder"):
        diffusion_spaces("ldm", hr, lr)
    with pytest.raises(HeliogenError, match="do not match"):
        diffusion_spaces("ddpm", hr, lr[..., :1])


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sr")
    write_synth("magnetogram", 2, 256, 5, root / "hmi", start="2011-01-09T00:00:00")
    build_store(root / "hmi", root / "p.zarr", "magnetogram", None, crop=32, crop_mode="random", n_random=4, pairs=4, progress=False)
    build_store(root / "hmi", root / "plain.zarr", "magnetogram", None, crop=32, crop_mode="random", n_random=2, progress=False)
    ae_run = root / "ae"
    train_autoencoder(root / "p.zarr", ae_run, TrainSettings(steps=1, batch=2, progress=False, checkpoint_every=1),
                      AutoencoderSettings(type="kl", factor=4, width=8, latent_channels=2))
    return root, ae_run


def _train(root, ae_run, model, out):
    settings = TrainSettings(steps=2, batch=2, progress=False, checkpoint_every=2, log_every=1)
    sr = SuperResSettings(model=model, autoencoder=str(ae_run) if model.startswith("ldm") else None, width=8, blocks=2,
                          timesteps=50, eval_steps=3)
    train_superres(root / "p.zarr", out, settings, sr)
    return open_run(out)


@pytest.mark.parametrize("model", MODELS)
def test_each_model_trains_and_super_resolves(pairs, tmp_path, model, one_torch_thread):
    root, ae_run = pairs
    run = _train(root, ae_run, model, tmp_path / model)
    assert run.kind == "superres" and run.extras["model"] == model
    assert (run.path / "autoencoder" / "config.json").is_file() == model.startswith("ldm")  # the run is whole
    resolver = SuperResolver.from_run(run)
    if model.startswith(("ldm", "ddpm")):
        c = 2 if model.startswith("ldm") else 1
        assert resolver.net.unet.config.in_channels == 2 * c and resolver.net.unet.config.out_channels == c  # concat(x_t, cond)
        assert run.extras["target_scale"] > 0 and run.extras["condition_scale"] > 0
    lowres = torch.randn(3, 1, 8, 8) * 0.05
    out = super_resolve(resolver, lowres, [7, 8, 9], steps=3)
    assert out.shape == (3, 1, 32, 32) and torch.isfinite(out).all()
    # one seed per sample: a row alone is the row in the batch, to float precision of the network
    alone = super_resolve(resolver, lowres[1:2], [8], steps=3)
    torch.testing.assert_close(alone, out[1:2], rtol=1e-4, atol=1e-5)


def test_mistakes_are_one_line_errors(pairs, tmp_path):
    root, ae_run = pairs
    s = TrainSettings(steps=1, batch=2, progress=False)
    with pytest.raises(HeliogenError, match="no low-resolution images"):
        train_superres(root / "plain.zarr", tmp_path / "a", s, SuperResSettings(model="enhance"))
    with pytest.raises(HeliogenError, match="needs --autoencoder"):
        train_superres(root / "p.zarr", tmp_path / "b", s, SuperResSettings(model="ldm-res"))
    with pytest.raises(HeliogenError, match="works in pixel space"):
        train_superres(root / "p.zarr", tmp_path / "c", s, SuperResSettings(model="ddpm", autoencoder=str(ae_run)))
    enh = _train(root, ae_run, "enhance", tmp_path / "enh")
    with pytest.raises(HeliogenError, match="is a superres run, not an autoencoder run"):
        train_superres(root / "p.zarr", tmp_path / "d", s, SuperResSettings(model="ldm", autoencoder=str(enh.path)))
    with pytest.raises(HeliogenError, match="unknown super-resolution model"):
        train_superres(root / "p.zarr", tmp_path / "e", s, SuperResSettings(model="srgan"))


def test_cli_trains_ldm_res(pairs, tmp_path, one_torch_thread):
    root, ae_run = pairs
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "superres", "--model", "ldm-res", "--autoencoder", str(ae_run), "--data", str(root / "p.zarr"),
              "--out", str(tmp_path / "run"), "--steps", "1", "--timesteps", "50", "--no-progress"])
    assert exit_info.value.code == 0
    run = open_run(tmp_path / "run")
    assert run.config["batch"] == 4  # the paper's batch unless given
    assert np.isfinite(run.extras["target_scale"])


def test_lora_fine_tune_keeps_only_adapters_and_the_bottleneck(pairs, tmp_path, one_torch_thread):
    from safetensors import safe_open

    root, ae_run = pairs
    base = _train(root, ae_run, "ldm-res", tmp_path / "base")
    settings = TrainSettings(steps=3, batch=2, lr=1e-2, progress=False, checkpoint_every=3, ema=0.0)
    train_superres(root / "p.zarr", tmp_path / "lora", settings, SuperResSettings(model="", init=str(base.path), lora_rank=4))
    run = open_run(tmp_path / "lora")
    assert run.extras["lora"]["rank"] == 4 and run.extras["init"] == str(base.path.resolve())
    with safe_open(str(run.latest / "model" / "diffusion_pytorch_model.safetensors"), "pt") as fh:
        keys = list(fh.keys())
    assert keys and all("lora_" in k or k.startswith("unet.mid_block.") for k in keys)  # adapters and bottleneck only
    assert any("lora_" in k and "to_q" in k for k in keys) and any(k.startswith("unet.mid_block.resnets") for k in keys)
    # loading puts them on the base: frozen tensors are the base's, trained ones moved
    tuned, original = SuperResolver.from_run(run).net.state_dict(), SuperResolver.from_run(base).net.state_dict()
    frozen = [k for k in original if not k.startswith("unet.mid_block.")]
    assert all(torch.equal(tuned[k.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")]
                           if k not in tuned else tuned[k], original[k]) for k in frozen)
    assert any(not torch.equal(tuned[k], original[k]) for k in original if k.startswith("unet.mid_block.") and k in tuned)
    # the deterministic baselines are fine-tuned in full; LoRA is refused for them
    enh = _train(root, ae_run, "enhance", tmp_path / "enh")
    with pytest.raises(HeliogenError, match="fine-tuned in full"):
        train_superres(root / "p.zarr", tmp_path / "x", settings, SuperResSettings(model="", init=str(enh.path), lora_rank=4))
    train_superres(root / "p.zarr", tmp_path / "enh-ft", settings, SuperResSettings(model="", init=str(enh.path)))
    assert open_run(tmp_path / "enh-ft").load_module("model") is not None  # a whole model, not a partial save
    with pytest.raises(HeliogenError, match="give it with --init"):
        train_superres(root / "p.zarr", tmp_path / "y", settings, SuperResSettings(model="ddpm", lora_rank=4))


def test_lora_starts_as_the_base_model(pairs, tmp_path, one_torch_thread):
    from heliogen.superres.lora import add_lora

    root, ae_run = pairs
    base = _train(root, ae_run, "ddpm-res", tmp_path / "base")
    net = SuperResolver.from_run(base).net
    x, t = torch.randn(2, 2, 32, 32), torch.tensor([10, 500])
    before = net(x, t)
    add_lora(net, 2)
    torch.testing.assert_close(net(x, t), before)  # B = 0: the adapters change nothing until trained
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("unet.mid_block.") for n in trainable)
