"""Frozen third-party networks in heliogen.models.backbones: loaders, and models/ never importing evaluate/."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import heliogen
from heliogen.errors import HeliogenError
from heliogen.models.backbones.alexnet import alexnet_features, load_alexnet_features

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the shared 2-core machine: see conftest

SRC = Path(heliogen.__file__).resolve().parents[1]
MODELS = SRC / "heliogen" / "models"


def _imported_modules(source: str, package: str) -> list[str]:
    """Absolute names of every module ``source`` (a module of ``package``) imports, lazy imports too."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names += [module] + [f"{module}.{a.name}" for a in node.names]
    return names


def _package_of(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])  # a module's or __init__'s package


def test_models_source_never_imports_evaluate():
    files = sorted(MODELS.rglob("*.py"))
    assert MODELS / "backbones" / "inception_tf.py" in files
    offenders = {str(f.relative_to(SRC)): m for f in files for m in _imported_modules(f.read_text(), _package_of(f))
                 if m.startswith("heliogen.evaluate")}
    assert offenders == {}


def test_the_import_check_resolves_relative_and_lazy_imports():
    # What an offender in models/backbones/ would write, at module level or inside a function.
    package = "heliogen.models.backbones"
    assert "heliogen.evaluate.metrics.fd" in _imported_modules("def f():\n    from ...evaluate.metrics import fd\n", package)
    assert "heliogen.evaluate" in _imported_modules("from ... import evaluate\n", package)
    assert "heliogen.evaluate.io" in _imported_modules("import heliogen.evaluate.io\n", package)
    assert _imported_modules("from .alexnet import alexnet_features\n", package) == [
        "heliogen.models.backbones.alexnet", "heliogen.models.backbones.alexnet.alexnet_features"]
    assert _package_of(MODELS / "backbones" / "clip.py") == package == _package_of(MODELS / "backbones" / "__init__.py")


def test_every_models_module_imports_with_evaluate_blocked():
    code = """
import importlib, importlib.abc, pkgutil, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "heliogen.evaluate" or name.startswith("heliogen.evaluate."):
            raise ImportError(f"blocked: {name}")
        return None

sys.meta_path.insert(0, Block())
import heliogen.models as models
names = [m.name for m in pkgutil.walk_packages(models.__path__, "heliogen.models.")]
for name in names:
    importlib.import_module(name)
assert "heliogen.models.backbones.inception_tf" in names, names
assert not any(n.startswith("heliogen.evaluate") for n in sys.modules)
print(len(names))
"""
    env = {"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert int(res.stdout.split()[-1]) >= 5  # models/ and its backbones were all imported


def test_alexnet_loader_reads_torchvision_and_bare_state_dicts(tmp_path):
    torch.manual_seed(3)
    ref = alexnet_features()
    whole = {f"features.{k}": v for k, v in ref.state_dict().items()}
    whole["classifier.1.weight"] = torch.zeros(4, 9216)  # torchvision's classifier is ignored
    torch.save(whole, tmp_path / "alexnet.pth")
    torch.save(ref.state_dict(), tmp_path / "features.pth")
    x = torch.randn(1, 3, 64, 64)
    for name in ("alexnet.pth", "features.pth"):
        net = load_alexnet_features(tmp_path / name)
        with torch.no_grad():
            torch.testing.assert_close(net(x), ref(x), rtol=0, atol=0)


def test_alexnet_loader_rejects_other_state_dicts(tmp_path):
    torch.save({"features.0.weight": torch.zeros(3, 3)}, tmp_path / "bad.pth")
    with pytest.raises(HeliogenError, match="not an AlexNet state dict") as err:
        load_alexnet_features(tmp_path / "bad.pth")
    assert "\n" not in str(err.value)


def test_lpips_with_backbone_weights_from_a_file_equals_the_same_random_backbone(tmp_path):
    from heliogen.evaluate.metrics.lpips import LPIPS

    random = LPIPS(random_backbone=True, seed=5)
    torch.save({f"features.{k}": v for k, v in random.net.state_dict().items()}, tmp_path / "alexnet.pth")
    loaded = LPIPS(backbone=tmp_path / "alexnet.pth")
    assert loaded.backbone == str(tmp_path / "alexnet.pth")
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, (2, 1, 48, 48)), rng.uniform(-1, 1, (2, 1, 48, 48))
    np.testing.assert_array_equal(loaded(a, b), random(a, b))


def test_efficientnet_lite_loader_gives_the_pretrained_network():
    from heliogen.models.backbones.efficientnet_lite import EFFNET_LITE_SIZES, effnet_weights_path, load_efficientnet_lite

    net, path = load_efficientnet_lite(0)
    assert path == effnet_weights_path(0) and path.suffix == ".pth"
    assert not net.training
    state = torch.load(path, map_location="cpu", weights_only=True)
    key = next(k for k, v in state.items() if v.dim() == 4)
    torch.testing.assert_close(net.state_dict()[key], state[key], rtol=0, atol=0)
    with torch.no_grad():
        f = net.extract_features(torch.zeros(1, 3, EFFNET_LITE_SIZES[0], EFFNET_LITE_SIZES[0]))
    assert f.shape[:2] == (1, 1280)


def test_efficientnet_lite_loader_rejects_unknown_variants():
    from heliogen.models.backbones.efficientnet_lite import load_efficientnet_lite

    with pytest.raises(HeliogenError, match="choose lite0, lite1 or lite2"):
        load_efficientnet_lite(7)
