import json
import re
import time

import pytest

from heliogen.data.store import open_store
from heliogen.demo import DEMO_BUDGET_S, RESERVED_S, STAGE_BUDGETS, STAGES, run_demo


def test_demo_is_a_list_of_budgeted_stages_that_fits_the_demo_budget():
    names = [stage.name for stage in STAGES]
    assert names == ["synthesise", "build stores", "flare labels", "quicklooks", "train class-conditional diffusion",
                     "evaluate samples", "granulation tiles and mosaics", "full-disk EUV GAN",
                     "magnetogram super-resolution"]
    assert all(callable(stage.run) and stage.budget_s > 0 for stage in STAGES)
    assert STAGE_BUDGETS == {stage.name: stage.budget_s for stage in STAGES}
    # Python's start-up keeps a share of the same ten minutes
    assert "start-up and imports" in RESERVED_S and not set(RESERVED_S) & set(STAGE_BUDGETS)
    assert sum(STAGE_BUDGETS.values()) + sum(RESERVED_S.values()) <= DEMO_BUDGET_S == 600


def test_stages_pass_products_on_and_report_sections_with_a_budget_table(tmp_path):
    from heliogen.demo import Stage, StageOutput
    from heliogen.viz.report import Section

    def first(ctx):
        (ctx.out / "made.txt").write_text("x")
        return StageOutput([Section("First stage").text("one")], {"made": ctx.out / "made.txt"})

    def second(ctx):
        assert ctx["made"].read_text() == "x" and ctx.budget_s == 0.5
        return StageOutput([Section("Second stage").text("two")])

    def third(ctx):
        ctx["never made"]

    def slow(ctx):
        time.sleep(0.05)
        return StageOutput()

    report = run_demo(tmp_path / "demo", stages=[Stage("first", first, 30.0), Stage("second", second, 0.5), Stage("slow", slow, 0.01)])
    html = report.read_text()
    assert "class-conditional diffusion" in html.split("<h2")[0]  # the title and opening say what the demo covers
    anchors = re.findall(r"<h2 id='([^']+)'>", html)
    assert anchors == ["first-stage", "second-stage", "timing"]
    assert re.findall(r"<a href='#([^']+)'>", html) == anchors
    timing = html.split("<h2 id='timing'>")[1]
    assert "budget (s)" in timing and "CPU seconds" in timing and "within budget" in timing
    assert re.search(r"<td>first</td><td>30</td><td>[0-9.]+</td><td>[0-9.]+</td><td>yes</td>", timing)
    assert re.search(r"<td>slow</td><td>0.01</td><td>[0-9.]+</td><td>[0-9.]+</td><td>over</td>", timing)
    assert re.search(r"<td>total</td><td>30.51</td>", timing)
    with pytest.raises(KeyError, match="never made"):
        run_demo(tmp_path / "demo", stages=[Stage("third", third, 1.0)])


@pytest.mark.slow
def test_demo_writes_a_report_whose_figures_exist(tmp_path):
    report = run_demo(tmp_path / "demo", diffusion_steps=30, tile_steps=8, gan_steps=4)
    html = report.read_text()
    figures = re.findall(r"<img src='([^']+)'", html)
    assert len(figures) >= 14  # data, labels, diffusion samples/statistics/loss, evaluation, mosaics and seams, GAN
    assert {"figures/gan_samples.png", "figures/gan_fd.png", "figures/gan_directions.png"} <= set(figures)
    gan_run = tmp_path / "demo" / "runs" / "gan-projected-tiny"
    fds = [json.loads(line) for line in (gan_run / "stats.jsonl").read_text().splitlines() if '"fd"' in line]
    assert [row["step"] for row in fds] == [1, 2, 3, 4]  # an FD every steps // 4
    from heliogen.training.best import read_best

    assert read_best(gan_run)["fd"] == min(row["fd"] for row in fds)  # the samples come from the best-FD checkpoint
    assert len(list((tmp_path / "demo" / "runs" / "gan-projected-tiny-samples").glob("*.fits"))) == 16
    assert "Granulation mosaics" in html and "mosaic latent" in html
    # super-resolution: the table, the Fourier figure and the uncertainty maps; a full disk with its WCS at 4x
    assert {"figures/superres_fourier.png", "figures/superres_uncertainty.png", "figures/superres_disk.png"} <= set(figures)
    assert "<td>PSNR (dB)</td>" in html and "ldm-res" in html
    import sunpy.map

    disk = sunpy.map.Map(next((tmp_path / "demo" / "superres").glob("*_superres.fits")))[0]  # the mean; STD etc. follow
    mdi = sunpy.map.Map(next((tmp_path / "demo" / "data" / "mdi").glob("*.fits")))
    assert disk.data.shape == (4 * mdi.data.shape[0], 4 * mdi.data.shape[1])
    assert disk.scale.axis1.value == pytest.approx(mdi.scale.axis1.value / 4)
    for rel in figures:
        assert (report.parent / rel).stat().st_size > 5000
    # the README's mosaic figure, and a contents link to every section including the timing table
    assert "figures/mosaic_demo.png" in figures
    anchors = re.findall(r"<h2 id='([^']+)'>", html)
    assert re.findall(r"<a href='#([^']+)'>", html) == anchors and len(anchors) == len(STAGES) + 1
    assert "granulation-mosaics" in anchors and anchors[-1] == "timing"
    timing = html.split("<h2 id='timing'>")[1]
    for stage in STAGES:
        assert f"<td>{stage.name}</td><td>{stage.budget_s:.4g}</td>" in timing
    euv = open_store(tmp_path / "demo" / "stores" / "euv.zarr")
    assert euv.n == 48 and euv.attrs["labels"]["counts"]["unlabelled"] == 0
    # the synthetic Sun's flare history gives the rare classes too
    assert euv.attrs["labels"]["counts"]["M"] > 0 and euv.attrs["labels"]["counts"]["X"] > 0
    samples = sorted(p.name for p in (tmp_path / "demo" / "runs" / "flare-cfg-tiny-samples").glob("*.fits"))
    assert {name[0] for name in samples} == set("ABCMX") and len(samples) == 40  # every class sampled
    # a second run resumes: same stores, nothing rebuilt twice
    run_demo(tmp_path / "demo", diffusion_steps=30, tile_steps=8, gan_steps=4)
    assert open_store(tmp_path / "demo" / "stores" / "euv.zarr").n == 48


def test_demo_command_sets_torch_threads_only_when_asked(tmp_path, monkeypatch):
    import torch
    from click.testing import CliRunner

    import heliogen.demo
    from heliogen.cli import cli

    seen = []
    monkeypatch.setattr(heliogen.demo, "run_demo", lambda out, seed: seen.append(torch.get_num_threads()) or tmp_path / "report.html")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--threads", "1"])
        assert result.exit_code == 0 and seen == [1] and "report.html" in result.output
        torch.set_num_threads(2)
        result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
        assert result.exit_code == 0 and seen == [1, 2]
    finally:
        torch.set_num_threads(before)
    assert CliRunner().invoke(cli, ["demo", "--threads", "0"]).exit_code == 2
