"""The reference-experiment configs resolve through the CLI exactly as written."""

from pathlib import Path

import pytest

from heliogen.cli.train import train

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_resolves(path, tmp_path):
    cmd = train.commands["diffusion"]
    ctx = cmd.make_context("diffusion", ["--config", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    p = ctx.params
    assert p["lr"] == 1e-4 and p["ema"] == 0.9999 and p["timesteps"] == 1000


def test_reference_values():
    import yaml

    adm = yaml.safe_load((CONFIGS[0].parent / "aia193-adm-1024.yaml").read_text())
    assert adm["preset"] == "adm-1024" and adm["hflip"] is True and adm["steps"] == 100_000
    flare = yaml.safe_load((CONFIGS[0].parent / "aia-flare-cfg-64.yaml").read_text())
    assert flare["preset"] == "adm-64" and flare["batch"] == 12 and flare["cond"] == "class"
