"""Schedules, presets, conditioning and guidance of the diffusion models."""

import json
import math

import numpy as np
import pytest
import torch

from heliogen.diffusion.conditioning import ConditionEncoder
from heliogen.diffusion.guidance import from_poster_scale, guide
from heliogen.diffusion.model import SolarDiffusionModel
from heliogen.diffusion.schedule import make_scheduler, scheduler_config
from heliogen.errors import HeliogenError
from heliogen.models.unet_presets import attention_resolutions, unet_config


def adm_linear_betas(T):
    """guided-diffusion's get_named_beta_schedule('linear', T), written out independently."""
    scale = 1000 / T
    return np.linspace(scale * 0.0001, scale * 0.02, T, dtype=np.float64)


def adm_cosine_betas(T, s=0.008):
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return np.array([min(1 - f(i + 1) / f(i), 0.999) for i in range(T)])


@pytest.mark.parametrize("T", [1000, 250, 4000])
def test_diffusers_reproduces_adm_linear_schedule(T):
    sched = make_scheduler("train", scheduler_config(T, "linear"))
    np.testing.assert_allclose(sched.betas.double().numpy(), adm_linear_betas(T), rtol=1e-6)
    np.testing.assert_allclose(sched.alphas_cumprod.double().numpy(), np.cumprod(1 - adm_linear_betas(T)), rtol=1e-5)


def test_cosine_schedule():
    sched = make_scheduler("train", scheduler_config(1000, "cosine"))
    np.testing.assert_allclose(sched.betas.double().numpy(), adm_cosine_betas(1000), rtol=1e-5, atol=1e-8)


def test_samplers_share_the_training_betas():
    cfg = scheduler_config(1000)
    train = make_scheduler("train", cfg)
    for kind in ("ddpm", "ddim", "dpmpp"):
        s = make_scheduler(kind, cfg)
        np.testing.assert_allclose(s.alphas_cumprod.numpy(), train.alphas_cumprod.numpy())
    with pytest.raises(HeliogenError, match="unknown sampler"):
        make_scheduler("euler", cfg)


def test_presets_and_attention_levels():
    assert attention_resolutions("adm-1024") == [16]  # 8 px is never reached at 1024 px
    assert attention_resolutions("adm-64") == [32, 16, 8]
    cfg = unet_config("adm-1024")
    assert cfg["block_out_channels"][0] == 64 and cfg["layers_per_block"] == 2
    assert cfg["resnet_time_scale_shift"] == "scale_shift"
    assert cfg["down_block_types"].count("AttnDownBlock2D") == 1 and cfg["down_block_types"][-1] == "AttnDownBlock2D"
    assert cfg["block_out_channels"][-1] // cfg["attention_head_dim"] == 4  # 4 heads
    with pytest.raises(HeliogenError, match="not divisible"):
        unet_config("adm-64", size=60)
    with pytest.raises(HeliogenError, match="unknown preset"):
        unet_config("huge")


@pytest.mark.parametrize("preset,size", [("tiny", 32), ("adm-64", 64)])
def test_models_build_and_keep_shape(preset, size, tmp_path, one_torch_thread):
    torch.manual_seed(0)
    m = SolarDiffusionModel(unet=unet_config(preset, size, 1, conditioned=True), cond="class+flux").eval()
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        y = m(x, torch.tensor([10, 900]), class_index=torch.tensor([0, 4]), log10_flux=torch.tensor([-7.5, -3.5]))
    assert y.shape == x.shape and torch.isfinite(y).all()
    # rows 2 and 3 repeat rows 0 and 1 with another flux and with the condition dropped
    x4, t4 = x.repeat(2, 1, 1, 1), torch.tensor([10, 900, 10, 900])
    cond4 = dict(class_index=torch.tensor([0, 4, 0, 4]), log10_flux=torch.tensor([-7.5, -3.5, -4.0, -3.5]), drop=torch.tensor([False, False, False, True]))

    def run(model):
        with torch.no_grad():
            return model.eval()(x4, t4, **cond4)

    y4 = run(m)
    assert torch.allclose(y4[:2], y, rtol=1e-4, atol=1e-5)
    # the condition reaches the output: another flux, or a dropped condition, changes it
    assert not torch.allclose(y4[2], y4[0], rtol=1e-3, atol=1e-5) and not torch.allclose(y4[3], y4[1], rtol=1e-3, atol=1e-5)
    rebuilt = SolarDiffusionModel.from_config(m.config)
    # the comparisons below can fail: a model of the same config with its own weights answers otherwise
    assert not torch.allclose(run(rebuilt), y4, rtol=1e-3, atol=1e-4)
    rebuilt.load_state_dict(m.state_dict())
    assert dict(rebuilt.config)["cond"] == "class+flux" and rebuilt.unet.config.sample_size == size
    m.save_pretrained(tmp_path / "model", safe_serialization=True)
    reloaded = SolarDiffusionModel.from_pretrained(tmp_path / "model", low_cpu_mem_usage=False)
    assert reloaded.config["cond"] == "class+flux"
    assert json.dumps(reloaded.config["unet"], sort_keys=True) == json.dumps(m.config["unet"], sort_keys=True)
    # every weight, the condition encoder's and its null vector included, survives: equal bits on CPU
    assert torch.equal(run(rebuilt), y4)
    assert torch.equal(run(reloaded), y4)


def test_condition_encoder_null_and_classes():
    enc = ConditionEncoder("class", 16)
    with torch.no_grad():
        enc.null.fill_(0.5)
        e = enc(torch.tensor([0, 1, 4]), drop=torch.tensor([False, True, False]))
    assert torch.equal(e[1], torch.full((16,), 0.5))
    assert not torch.equal(e[0], e[2])
    with pytest.raises(HeliogenError, match="give a class"):
        enc(None)
    with pytest.raises(HeliogenError):
        ConditionEncoder("none", 16)


def test_guidance_conventions():
    eu, ec = torch.tensor([1.0]), torch.tensor([3.0])
    assert guide(eu, ec, 0.0) == eu and guide(eu, ec, 1.0) == ec
    assert guide(eu, ec, 2.0) == torch.tensor([5.0])
    # the poster's eps_c + w'(eps_c - eps_u) equals heliogen's w = 1 + w'
    w_prime = 2.0
    assert guide(eu, ec, from_poster_scale(w_prime)) == ec + w_prime * (ec - eu)
