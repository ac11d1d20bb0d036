"""The reference-experiment configs resolve through the CLI exactly as written."""

from pathlib import Path

import click
import pytest
import yaml

from heliogen.cli.options import read_config
from heliogen.cli.train import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DIFFUSION = sorted(p for p in CONFIGS.glob("*.yaml") if "preset" in yaml.safe_load(p.read_text()))
GAN_BASE = CONFIGS / "aia193-projgan-1024.yaml"
ABLATIONS = sorted((CONFIGS / "ablations").glob("*.yaml"))

# table 1 of the full-disk EUV study: each ablation file changes exactly this option of the baseline
TABLE_1 = {
    "projgan-random-backbone": ("backbone", "random"), "projgan-lite1": ("backbone", "lite1"),
    "projgan-lite2": ("backbone", "lite2"), "projgan-lite3": ("backbone", "lite3"),
    "projgan-no-csm": ("projection", "ccm"), "projgan-no-csm-ccm": ("projection", "none"),
    "projgan-disc-1": ("discriminators", "1"), "projgan-disc-1-2": ("discriminators", "1,2"),
    "projgan-disc-1-2-3": ("discriminators", "1,2,3"), "projgan-no-augment": ("no_augment", True),
    "projgan-trainable-projection": ("trainable_projection", True),
}


def _params(command: str, path: Path, tmp_path) -> dict:
    cmd = train.commands[command]
    return cmd.make_context(command, ["--config", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "run")]).params


@pytest.mark.parametrize("path", DIFFUSION, ids=lambda p: p.name)
def test_diffusion_config_resolves(path, tmp_path):
    p = _params("diffusion", path, tmp_path)
    assert p["lr"] == 1e-4 and p["ema"] == 0.9999 and p["timesteps"] == 1000


def test_reference_values():
    adm = yaml.safe_load((CONFIGS / "aia193-adm-1024.yaml").read_text())
    assert adm["preset"] == "adm-1024" and adm["hflip"] is True and adm["steps"] == 100_000
    flare = yaml.safe_load((CONFIGS / "aia-flare-cfg-64.yaml").read_text())
    assert flare["preset"] == "adm-64" and flare["batch"] == 12 and flare["cond"] == "class"


def test_projected_gan_config_is_table_2(tmp_path):
    p = _params("gan", GAN_BASE, tmp_path)
    assert (p["discriminator"], p["z_dim"], p["w_dim"], p["mapping_layers"]) == ("projected", 64, 128, 2)
    assert (p["lr_g"], p["lr_d"], tuple(p["betas"]), p["batch"]) == (5e-4, 2e-3, (0.0, 0.99), 32)
    assert (p["backbone"], p["projection"], p["discriminators"], p["no_augment"]) == ("lite0", "ccm+csm", "1,2,3,4", False)
    ada = _params("gan", CONFIGS / "aia193-stylegan2ada-1024.yaml", tmp_path)
    assert ada["discriminator"] == "stylegan2" and ada["r1_gamma"] == 10.0 and ada["ada_target"] == 0.6


def test_every_table_1_row_has_a_config_that_changes_only_its_switch(tmp_path):
    assert sorted(p.stem for p in ABLATIONS) == sorted(TABLE_1)
    base = _params("gan", GAN_BASE, tmp_path)
    for path in ABLATIONS:
        p = _params("gan", path, tmp_path)
        changed = {k for k in p if p[k] != base[k]}
        key, value = TABLE_1[path.stem]
        assert changed == {key} and p[key] == value, path.name


def test_base_key_merges_and_refuses_cycles(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\nsteps: 5\n")
    (tmp_path / "b.yaml").write_text("steps: 1\nbatch: 4\n")
    assert read_config(tmp_path / "a.yaml") == {"steps": 5, "batch": 4}
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(click.BadParameter, match="leads back to itself"):
        read_config(tmp_path / "a.yaml")


SUPERRES = CONFIGS / "superres"


def test_superres_configs_resolve_to_the_papers_settings(tmp_path):
    """Pre-training: the six table-1 models at batch 4 for 30 epochs of 43,912 pairs (sec. 2, 4), f = 8
    latents of 1024 px crops; the MDI stage: LoRA on ldm-res, the deterministic ones in full."""
    six = {}
    for name in ("ldm-res", "ldm", "ddpm-res", "ddpm", "enhance", "progressive"):
        p = _params("superres", SUPERRES / f"{name}-1024.yaml", tmp_path)
        assert p["model"] == name and p["batch"] == 4 and p["steps"] == 30 * 43912 // 4 and p["mixed_precision"] == "fp16"
        six[name] = p
    assert six["ldm-res"]["preset"] == six["ldm"]["preset"] == "sr-latent"
    assert six["ddpm-res"]["preset"] == six["ddpm"]["preset"] == "sr-pixel"
    lora = _params("superres", SUPERRES / "ldm-res-lora-mdi.yaml", tmp_path)
    full = _params("superres", SUPERRES / "deterministic-finetune-mdi.yaml", tmp_path)
    assert lora["lora_rank"] == 8 and full["lora_rank"] is None and lora["steps"] == full["steps"] == 1500
    ae = train.commands["autoencoder"].make_context("autoencoder", ["--config", str(SUPERRES / "hmi-vqgan-f8.yaml"), "--data",
                                                                   str(tmp_path), "--out", str(tmp_path / "ae")]).params
    assert (ae["ae_type"], ae["factor"], ae["codebook"]) == ("vq", "8", 16384)


def test_superres_presets_build_at_full_scale():
    """The latent UNet on 128 px latents has attention at 32 and 16 px; the pixel one is 8 channels wide."""
    from heliogen.models.unet_presets import attention_resolutions, unet_config

    assert attention_resolutions("sr-latent", 128) == [32, 16]
    pixel = unet_config("sr-pixel", 1024, in_channels=2, out_channels=1)
    assert pixel["block_out_channels"][0] == 8 and attention_resolutions("sr-pixel", 1024) == []
    assert pixel["in_channels"] == 2 and pixel["out_channels"] == 1  # Palette: x_t and the condition
