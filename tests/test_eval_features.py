"""Feature extractors: shapes, input conventions, batch-size independence, errors, cache."""

import json

import numpy as np
import pytest

from heliogen.errors import HeliogenError
from heliogen.evaluate.features import get_extractor, resize_batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the shared 2-core machine: see conftest


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:48, :48] / 48
    return np.stack([np.clip(0.5 + 0.4 * np.sin(6 * x * (i + 1)) * np.cos(4 * y) + 0.05 * rng.normal(size=x.shape), 0, 1)
                     for i in range(3)])[:, None].astype(np.float32)


@pytest.mark.parametrize("name,dim", [("inception", 2048), ("inception-random", 2048), ("effnet-lite0", 1280)])
def test_features_are_independent_of_batch_size(images, name, dim):
    ext = get_extractor(name)
    a = ext(images, batch_size=1)
    b = ext(images, batch_size=3)
    assert a.shape == (3, dim) and a.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())
    assert np.abs(a).max() > 0 and np.std(a) > 0


def test_grey_images_equal_their_rgb_repeat(images):
    ext = get_extractor("inception")
    np.testing.assert_allclose(ext(images), ext(np.repeat(images, 3, axis=1)), rtol=1e-6, atol=1e-6)


def test_inception_input_scaling_is_the_tf_range(images):
    # The extractor feeds u * 255/128 - 1 to the TorchScript graph: recompute by hand.
    import torch

    ext = get_extractor("inception")
    x = resize_batch(torch.from_numpy(images).expand(-1, 3, -1, -1), 299)
    with torch.no_grad():
        ref = ext.net(x * 255 / 128 - 1).double().numpy()
    np.testing.assert_allclose(ext(images), ref, rtol=1e-5, atol=1e-5)


def test_legacy_uint8_quantises_before_resizing(images):
    legacy = get_extractor("inception", legacy_uint8=True)
    q = np.round(images * 255) / 255
    np.testing.assert_allclose(legacy(images), get_extractor("inception")(q), rtol=1e-5, atol=1e-5)
    assert legacy.describe()["legacy_uint8"] is True


def test_random_inception_is_seeded_and_differs_from_trained(images):
    from heliogen.evaluate.features.inception import InceptionExtractor

    a = get_extractor("inception-random")(images)
    b = InceptionExtractor(random=True)(images)   # a fresh build with the same seed
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(a, get_extractor("inception")(images))


def test_resize_is_antialiased_bicubic():
    # Downsampling a 1-px checkerboard must average it out (an aliasing resize would not).
    import torch

    board = (np.indices((300, 300)).sum(0) % 2).astype(np.float32)[None, None]
    out = resize_batch(torch.from_numpy(board), 100).numpy()
    assert abs(out.mean() - 0.5) < 0.01 and out.std() < 0.05


def test_bad_inputs_are_clear_errors():
    ext = get_extractor("inception-random")
    with pytest.raises(HeliogenError, match="empty"):
        ext(np.zeros((0, 1, 8, 8)))
    with pytest.raises(HeliogenError, match="channels"):
        ext(np.zeros((2, 2, 8, 8)))
    with pytest.raises(HeliogenError, match="NaN"):
        ext(np.full((2, 1, 8, 8), np.nan))
    with pytest.raises(HeliogenError, match="unknown feature extractor"):
        get_extractor("vgg")


def test_clip_gives_clear_errors_without_weights_or_open_clip(monkeypatch, tmp_path):
    monkeypatch.delenv("HELIOGEN_CLIP_WEIGHTS", raising=False)
    with pytest.raises(HeliogenError, match="HELIOGEN_CLIP_WEIGHTS"):
        get_extractor("clip-rn50")
    monkeypatch.setenv("HELIOGEN_CLIP_WEIGHTS", str(tmp_path / "missing.pt"))
    with pytest.raises(HeliogenError, match="no CLIP weights"):
        get_extractor("clip-vitb32")


def test_domain_encoder_from_torchscript(tmp_path, images):
    import torch

    from heliogen.evaluate.features.domain import DomainExtractor

    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, stride=2), torch.nn.ReLU())
    path = tmp_path / "enc.pt"
    torch.jit.save(torch.jit.script(enc), str(path), _extra_files={"heliogen.json": json.dumps({"input_size": 32, "range": [-1, 1]})})
    ext = get_extractor(f"domain:{path}")
    f = ext(images)
    assert f.shape == (3, 8)
    # Independent: model space = 2u - 1 at 32 px, spatial mean of the encoder output.
    x = resize_batch(torch.from_numpy(images), 32) * 2 - 1
    with torch.no_grad():
        ref = enc(x).mean(dim=(2, 3)).double().numpy()
    np.testing.assert_allclose(f, ref, rtol=1e-5, atol=1e-6)
    bad = tmp_path / "bare.pt"
    torch.jit.save(torch.jit.script(enc), str(bad))
    with pytest.raises(HeliogenError, match="input_size"):
        DomainExtractor.from_path(bad)
