"""Figures: one image-grid plotter, and plotting without touching the user's matplotlib state."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import Normalize

from heliogen.errors import HeliogenError
from heliogen.viz import grid as grid_module
from heliogen.viz.grid import plot_image_grid

SRC = Path(__file__).resolve().parents[1] / "src" / "heliogen"


@pytest.fixture
def captured(monkeypatch):
    """The figure plot_image_grid saves (and still save it)."""
    figures = []
    real_save = grid_module.save_figure

    def spy(fig, path, **kw):
        figures.append(fig)
        return real_save(fig, path, **kw)

    monkeypatch.setattr(grid_module, "save_figure", spy)
    return figures


def test_grid_lays_out_panels_titles_norms_and_a_colour_bar(tmp_path, captured):
    images = [np.full((4, 6), 0.5), None, np.arange(24.0).reshape(4, 6), np.zeros((4, 6)), np.ones((4, 6))]
    norms = [Normalize(0, 1), None, Normalize(0, 23), Normalize(-1, 1), Normalize(0, 2)]
    path = plot_image_grid(images, tmp_path / "sub" / "g.png", titles=["a", "blank", "", "d", "e"], norm=norms, cmap="magma",
                           suptitle="five", colorbar_label="G")
    assert path == tmp_path / "sub" / "g.png" and path.stat().st_size > 1000
    fig = captured[0]
    panels = fig.axes[:-1]
    assert len(panels) == 6 and fig.axes[-1].get_ylabel() == "G"  # 3 x 2 panels, then the colour bar
    assert [len(ax.images) for ax in panels] == [1, 0, 1, 1, 1, 0]
    assert [ax.get_title() for ax in panels] == ["a", "blank", "", "d", "e", ""]
    shown = [ax.images[0] for ax in panels if ax.images]
    assert [(im.norm.vmin, im.norm.vmax) for im in shown] == [(0, 1), (0, 23), (-1, 1), (0, 2)]
    assert all(im.origin == "lower" and im.get_cmap().name == "magma" for im in shown)
    assert not any(ax.axison for ax in panels)
    assert fig._suptitle.get_text() == "five"
    np.testing.assert_allclose(fig.get_size_inches(), (2.2 * 3 + 0.8, 2.3 * 2))


def test_grid_shared_range_columns_and_size(tmp_path, captured):
    plot_image_grid(np.zeros((7, 5, 5)), tmp_path / "t.png", cols=4, vmin=-1, vmax=1, figsize=(6.4, 3.5), layout=None, dpi=80)
    fig = captured[0]
    assert len(fig.axes) == 8 and sum(len(ax.images) for ax in fig.axes) == 7
    assert {(ax.images[0].norm.vmin, ax.images[0].norm.vmax) for ax in fig.axes if ax.images} == {(-1, 1)}
    np.testing.assert_allclose(fig.get_size_inches(), (6.4, 3.5))
    from matplotlib.image import imread

    assert imread(tmp_path / "t.png").shape[:2] == (280, 512)  # 3.5 x 6.4 in at 80 dpi


def test_grid_errors_are_one_line(tmp_path):
    with pytest.raises(HeliogenError, match="no images to plot"):
        plot_image_grid([], tmp_path / "x.png")
    with pytest.raises(HeliogenError, match="no images to plot"):
        plot_image_grid([None, None], tmp_path / "x.png")
    (tmp_path / "file").write_text("")
    with pytest.raises(HeliogenError, match="cannot write") as err:
        plot_image_grid([np.zeros((3, 3))], tmp_path / "file" / "x.png")
    assert "\n" not in str(err.value)


def test_library_figures_leave_backend_and_pyplot_alone(tmp_path, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt
    import pandas as pd

    from heliogen.mosaic.writer import PreviewAccumulator
    from heliogen.tiles.common import save_heatmap, save_tile_grid
    from heliogen.viz.goes_plot import plot_goes_labels
    from heliogen.viz.quicklook import plot_grid
    from heliogen.viz.training_plot import plot_losses

    def refuse(*args, **kwargs):
        raise AssertionError("library code chose a matplotlib backend")

    monkeypatch.setattr(matplotlib, "use", refuse)
    before = plt.get_fignums()
    rng = np.random.default_rng(0)
    plot_grid(np.exp(rng.normal(3, 1, (3, 8, 8))), "euv", tmp_path / "euv.png", titles=["a", "b", "c"], wavelength=171.0)
    plot_grid(rng.normal(0, 500, (2, 8, 8)), "magnetogram", tmp_path / "mag.png")
    t = pd.date_range("2011-01-01", periods=20, freq="10min")
    xrs = pd.DataFrame({"xrsa": np.full(20, 1e-8), "xrsb": 10 ** rng.uniform(-7, -5, 20)}, index=t)
    plot_goes_labels(xrs, [str(t[3])], ["C"], tmp_path / "goes.png")
    (tmp_path / "stats.jsonl").write_text("\n".join(json.dumps({"step": i, "loss": 1 / (i + 1)}) for i in range(5)))
    plot_losses(tmp_path, tmp_path / "loss.png")
    preview = PreviewAccumulator(10, 10)
    preview.update(rng.normal(size=(10, 10)))
    preview.save(tmp_path / "preview.png")
    tiles = rng.uniform(-1, 1, (5, 8, 8))
    save_tile_grid(tiles, tmp_path / "tiles.png", "tiles")
    save_heatmap(tiles, tmp_path / "heatmap.png", "heatmap")
    assert plt.get_fignums() == before
    for name in ("euv", "mag", "goes", "loss", "preview", "tiles", "heatmap"):
        assert (tmp_path / f"{name}.png").stat().st_size > 100


def test_no_backend_choice_in_library_modules():
    entry_point = SRC / "cli" / "__init__.py"
    library = [p for p in sorted(SRC.rglob("*.py")) if p != entry_point]
    assert len(library) > 50 and SRC / "diffusion" / "generate.py" in library
    offenders = [str(p.relative_to(SRC)) for p in library if re.search(r"matplotlib\.use\(|pyplot\.switch_backend", p.read_text())]
    assert offenders == []
    assert "matplotlib.use(" in (SRC / "cli" / "__init__.py").read_text()  # the entry point's choice
