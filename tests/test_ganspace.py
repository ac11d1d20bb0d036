"""GANSpace (Härkönen et al. 2020): PCA of W recovers planted directions of a toy mapping, edits move w
by exactly alpha standard deviations along one direction, directions round-trip through .npz and refuse
another generator, edit strings parse or fail in one line, and the figure of a tiny StyleGAN2 has one row
per seed and one column per step, its step-0 column being the seed's unedited sample."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from heliogen.errors import HeliogenError
from heliogen.gan import directions as ganspace
from heliogen.gan.directions import (Directions, apply_edit, find_directions, generate_edited, load_directions,
                                     parse_edit)
from heliogen.gan.directions_figure import plot_directions
from heliogen.models.stylegan2 import StyleGAN2Generator
from heliogen.viz import grid as grid_module

torch.set_num_threads(1)

W_DIM = 12
SCALES = np.array([10.0, 5.0] + [1.0] * (W_DIM - 2))  # two planted directions, well above the isotropic rest


class PlantedW(nn.Module):
    """Toy 'generator': w = mean + z @ diag(s) @ U with orthonormal rows U, so Cov(W) = U^T diag(s^2) U."""

    def __init__(self, seed: int = 0, num_ws: int = 3):
        super().__init__()
        rng = np.random.default_rng(seed)
        basis, _ = np.linalg.qr(rng.standard_normal((W_DIM, W_DIM)))
        self.z_dim = self.w_dim = W_DIM
        self.num_ws = num_ws
        self.config = {"toy": "planted", "seed": seed}
        self.mapping_network = nn.Module()
        self.mapping_network.register_buffer("basis", torch.from_numpy(basis.T.copy()))  # rows: directions
        self.mapping_network.register_buffer("scales", torch.from_numpy(SCALES))
        self.mapping_network.register_buffer("mean", torch.from_numpy(rng.uniform(-3, 3, W_DIM)))

    def mapping(self, z, psi=1.0, truncation_cutoff=None, update_w_avg=None):
        m = self.mapping_network
        w = m.mean + (z.double() * m.scales) @ m.basis
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)


def toy_w(samples: int, seed: int, toy: PlantedW) -> np.ndarray:
    """W of the z find_directions draws (one seeded CPU generator), computed in numpy."""
    z = torch.randn(samples, W_DIM, generator=torch.Generator().manual_seed(seed)).double().numpy()
    m = toy.mapping_network
    return m.mean.numpy() + (z * m.scales.numpy()) @ m.basis.numpy()


def test_pca_recovers_planted_directions_and_variances():
    toy, n = PlantedW(), 4000
    d = find_directions(toy, samples=n, components=4, seed=3, batch=700)
    planted = toy.mapping_network.basis.numpy()
    assert d.components.shape == (4, W_DIM) and d.samples == n and d.seed == 3
    for k in (0, 1):
        assert abs(d.components[k] @ planted[k]) > 0.99
        # the sample variance of a Gaussian has relative standard error sqrt(2 / (N - 1)); allow 5 of them
        assert abs(d.variances[k] - SCALES[k] ** 2) < 5 * math.sqrt(2 / (n - 1)) * SCALES[k] ** 2
    assert d.variances[2] < 1 + 5 * math.sqrt(2 / (n - 1)) * 3  # the rest is isotropic, variance ~1
    np.testing.assert_allclose(d.components @ d.components.T, np.eye(4), atol=1e-12)
    assert np.all(np.diff(d.variances) <= 0)
    # the mean along each coordinate has standard error sqrt(var / N)
    sd = np.sqrt(np.diag(planted.T @ np.diag(SCALES ** 2) @ planted) / n)
    assert np.all(np.abs(d.mean - toy.mapping_network.mean.numpy()) < 5 * sd)
    for v in d.components:  # deterministic sign: the largest-magnitude entry is positive
        assert v[np.abs(v).argmax()] > 0


def test_pca_equals_an_eigendecomposition_of_the_sample_covariance():
    toy, n = PlantedW(seed=1), 500
    d = find_directions(toy, samples=n, components=5, seed=11, batch=64)  # batch does not divide n
    w = toy_w(n, 11, toy)
    cov = np.cov(w, rowvar=False)  # N - 1 normalisation
    values, vectors = np.linalg.eigh(cov)
    values, vectors = values[::-1], vectors[:, ::-1].T
    np.testing.assert_allclose(d.variances, values[:5], rtol=1e-9)
    np.testing.assert_allclose(np.abs(np.sum(d.components * vectors[:5], axis=1)), 1.0, atol=1e-9)
    np.testing.assert_allclose(d.explained_ratio, values[:5] / np.trace(cov), rtol=1e-9)
    np.testing.assert_allclose(d.mean, w.mean(axis=0), atol=1e-12)
    again = find_directions(toy, samples=n, components=5, seed=11, batch=n)
    np.testing.assert_allclose(again.components, d.components, atol=1e-12)  # same signs, whatever the batch


def test_find_directions_bad_counts_fail_clearly():
    toy = PlantedW()
    with pytest.raises(HeliogenError) as err:
        find_directions(toy, samples=100, components=W_DIM + 1)
    assert str(err.value) == f"GANSpace components ({W_DIM + 1}) cannot exceed w_dim ({W_DIM})"
    with pytest.raises(HeliogenError) as err:
        find_directions(toy, samples=4, components=4)
    assert str(err.value) == "GANSpace needs more samples than components: got 4 samples for 4 components"
    with pytest.raises(HeliogenError) as err:
        find_directions(toy, samples=100, components=0)
    assert str(err.value) == "GANSpace components must be an integer >= 1, got 0"
    assert find_directions(toy, samples=5, components=4).k == 4  # samples = components + 1 is enough


def planted_directions() -> Directions:
    basis, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((W_DIM, W_DIM)))
    return Directions(mean=np.zeros(W_DIM), components=basis.T[:4].copy(), variances=np.array([9.0, 4.0, 2.25, 1.0]),
                      explained_ratio=np.full(4, 0.1), samples=100, seed=0)


def test_apply_edit_moves_w_by_alpha_sigma_along_each_direction_only():
    d = planted_directions()
    ws = torch.randn(3, 5, W_DIM, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    before = ws.clone()
    out = apply_edit(ws, d, {0: 2.0, 2: -1.5})
    assert torch.equal(ws, before)  # not in place
    delta = (out - ws).numpy()
    v = d.components
    # sigma = sqrt(variance): 3 and 1.5
    np.testing.assert_allclose(delta @ v[0], 2.0 * 3.0, atol=1e-12)
    np.testing.assert_allclose(delta @ v[2], -1.5 * 1.5, atol=1e-12)
    np.testing.assert_allclose(delta @ v[1], 0.0, atol=1e-12)
    np.testing.assert_allclose(delta @ v[3], 0.0, atol=1e-12)
    residual = delta - (delta @ v[[0, 2]].T) @ v[[0, 2]]  # nothing outside span(v0, v2)
    np.testing.assert_allclose(residual, 0.0, atol=1e-12)
    # a layer range moves only those ws
    part = apply_edit(ws, d, {1: 1.0}, layers=slice(1, 3))
    assert torch.equal(part[:, [0, 3, 4]], ws[:, [0, 3, 4]])
    np.testing.assert_allclose((part[:, 1:3] - ws[:, 1:3]).numpy() @ v[1], 2.0, atol=1e-12)
    assert torch.equal(apply_edit(ws, d, {1: 1.0}, layers=[2, 1]), part)
    # a zero edit is the identity, to the bit, in float32 too
    ws32 = ws.float()
    assert torch.equal(apply_edit(ws32, d, {0: 0.0, 3: 0.0}), ws32)


def test_apply_edit_bad_inputs_fail_clearly():
    d = planted_directions()
    ws = torch.zeros(2, 5, W_DIM)
    with pytest.raises(HeliogenError, match=r"^edit direction 4 is out of range: indices must lie in 0\.\.3$"):
        apply_edit(ws, d, {4: 1.0})
    with pytest.raises(HeliogenError, match=r"^edit layers \[5\] out of range: the generator has ws 0\.\.4$"):
        apply_edit(ws, d, {0: 1.0}, layers=[0, 5])
    with pytest.raises(HeliogenError, match=r"^ws must have shape \(N, num_ws, 12\), got \(2, 5, 3\)$"):
        apply_edit(torch.zeros(2, 5, 3), d, {0: 1.0})


def test_save_load_round_trip_is_exact(tmp_path):
    toy = PlantedW()
    d = find_directions(toy, samples=200, components=3, seed=4)
    path = d.save(tmp_path / "sub" / "directions.npz")
    back = load_directions(path, generator=toy)
    for name in ("mean", "components", "variances", "explained_ratio"):
        assert np.array_equal(getattr(back, name), getattr(d, name))
    assert (back.samples, back.seed, back.config_fingerprint, back.mapping_fingerprint) == \
        (200, 4, d.config_fingerprint, d.mapping_fingerprint)
    with np.load(path) as raw:
        assert str(raw["format"]) == ganspace.FORMAT and int(raw["version"]) == ganspace.VERSION
    assert [p.name for p in path.parent.iterdir()] == ["directions.npz"]  # no temp file left


def test_load_refuses_other_files_and_generators(tmp_path):
    toy = PlantedW()
    path = find_directions(toy, samples=50, components=2).save(tmp_path / "d.npz")
    other_weights = PlantedW()
    other_weights.mapping_network.scales[0] = 9.0  # same config, other weights
    with pytest.raises(HeliogenError, match="^these GANSpace directions were found for other mapping-network weights"):
        load_directions(path, generator=other_weights)
    other_config = PlantedW()
    other_config.config = {"toy": "planted", "seed": 99}
    with pytest.raises(HeliogenError, match="^these GANSpace directions were found for a generator with another config"):
        load_directions(path, generator=other_config)
    with pytest.raises(HeliogenError, match="^no GANSpace directions file at "):
        load_directions(tmp_path / "missing.npz")
    np.savez(tmp_path / "plain.npz", mean=np.zeros(3))
    with pytest.raises(HeliogenError, match="is not a GANSpace directions file \\(no format key"):
        load_directions(tmp_path / "plain.npz")
    np.savez(tmp_path / "future.npz", format=np.array(ganspace.FORMAT), version=np.array(99))
    with pytest.raises(HeliogenError, match="has GANSpace directions format version 99; this heliogen reads version 1$"):
        load_directions(tmp_path / "future.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(HeliogenError, match="text.npz is not a GANSpace directions file"):
        load_directions(tmp_path / "text.npz")


@pytest.mark.parametrize("text, expected", [
    ("0=+2.0,1=-1.5", {0: 2.0, 1: -1.5}),
    (" 3 = -0.5 ", {3: -0.5}),
    ("2=1e-1,0=3", {2: 0.1, 0: 3.0}),
    ("7=0", {7: 0.0}),
])
def test_parse_edit_good(text, expected):
    got = parse_edit(text, components=8)
    assert got == expected and list(got) == list(expected)


@pytest.mark.parametrize("text, components, message", [
    ("", 8, "empty edit: expected INDEX=ALPHA pairs such as 0=+2.0,1=-1.5"),
    ("0:2", 8, "bad edit item '0:2': expected INDEX=ALPHA pairs such as 0=+2.0,1=-1.5"),
    ("a=1", 8, "bad edit item 'a=1': expected INDEX=ALPHA pairs such as 0=+2.0,1=-1.5"),
    ("0=1,", 8, "bad edit item '': expected INDEX=ALPHA pairs such as 0=+2.0,1=-1.5"),
    ("0=abc", 8, "bad edit item '0=abc': 'abc' is not a number"),
    ("1=nan", 8, "bad edit item '1=nan': the step must be finite"),
    ("0=1,0=2", 8, "edit direction 0 is given twice"),
    ("8=1", 8, "edit direction 8 is out of range: indices must lie in 0..7"),
    ("-1=1", None, "edit direction -1 is out of range: indices must not be negative"),
])
def test_parse_edit_bad(text, components, message):
    with pytest.raises(HeliogenError) as err:
        parse_edit(text, components=components)
    assert str(err.value) == message


TINY = dict(z_dim=8, w_dim=16, mapping_layers=2, resolution=32, channels=1, channel_base=256, channel_max=16)


def tiny(seed=0, **kw):
    torch.manual_seed(seed)
    g = StyleGAN2Generator(**{**TINY, **kw}).eval()
    with torch.no_grad():
        for layer in g.synthesis_network.layers():
            layer.noise_strength.fill_(0.5)  # make the per-seed noise matter
    return g


@pytest.fixture(scope="module")
def tiny_found():
    g = tiny()
    return g, find_directions(g, samples=300, components=3, seed=1, batch=128)


def test_edited_images_keep_their_seed(tiny_found):
    g, d = tiny_found
    assert torch.equal(generate_edited(g, [4, 9], d, {0: 0.0, 2: 0.0}), g.generate([4, 9]))  # zero edit: same bits
    edited = generate_edited(g, [9, 4, 6], d, {1: 2.0})
    assert torch.equal(edited[1], generate_edited(g, [4], d, {1: 2.0})[0])  # independent of the other seeds
    assert not torch.allclose(edited[1], g.generate([4])[0])
    # by hand: seed 4's z, then its noise, from one CPU generator; ws moved by 2 sigma_1 v_1
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(1, g.z_dim, generator=gen)
    with torch.no_grad():
        ws = g.mapping(z) + torch.tensor(2.0 * d.sigmas[1] * d.components[1], dtype=torch.float32)
        want = g.synthesis(ws, "random", [gen])
    torch.testing.assert_close(generate_edited(g, [4], d, {1: 2.0}, eval_batch=1), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(HeliogenError, match="another config"):
        generate_edited(tiny(channel_max=8), [4], d, {0: 1.0})
    with pytest.raises(HeliogenError, match="other mapping-network weights"):
        generate_edited(tiny(seed=1), [4], d, {0: 1.0})


def test_figure_has_a_row_per_seed_and_a_column_per_step(tiny_found, tmp_path, monkeypatch):
    g, d = tiny_found
    figures, real_save = [], grid_module.save_figure
    monkeypatch.setattr(grid_module, "save_figure", lambda fig, path, **kw: figures.append(fig) or real_save(fig, path, **kw))
    seeds, steps, components = [3, 5], (-2, 0, 2), [0, 2]
    path = plot_directions(g, d, seeds, tmp_path / "fig" / "ganspace.png", steps=steps, components=components)
    assert path.is_file() and path.stat().st_size > 1000
    axes = figures[0].axes
    assert len(axes) == 2 * 6 and all(len(ax.images) == 1 for ax in axes)
    assert axes[0].get_subplotspec().get_geometry()[:2] == (2, 6)
    assert [ax.get_title() for ax in axes[:6]] == ["seed 3\nPC0 -2σ", "PC0 +0σ", "PC0 +2σ", "PC2 -2σ", "PC2 +0σ", "PC2 +2σ"]
    assert axes[6].get_title() == "seed 5" and axes[7].get_title() == ""
    shown = [np.asarray(ax.images[0].get_array()) for ax in axes]
    for row, seed in enumerate(seeds):
        plain = g.generate([seed])[0, 0].double().numpy()
        assert np.array_equal(shown[row * 6 + 1], plain) and np.array_equal(shown[row * 6 + 4], plain)  # step 0
        for col, (c, step) in enumerate((c, s) for c in components for s in steps):
            want = generate_edited(g, [seed], d, {c: step})[0, 0].double().numpy()
            assert np.array_equal(shown[row * 6 + col], want)
            assert step == 0 or not np.allclose(shown[row * 6 + col], plain)
    with pytest.raises(HeliogenError, match=r"^direction 3 is out of range: indices must lie in 0\.\.2$"):
        plot_directions(g, d, seeds, tmp_path / "x.png", components=[3])
