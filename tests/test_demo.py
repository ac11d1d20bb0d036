import re

import pytest

from heliogen.data.store import open_store
from heliogen.demo import run_demo


@pytest.mark.slow
def test_demo_writes_a_report_whose_figures_exist(tmp_path):
    report = run_demo(tmp_path / "demo", diffusion_steps=30, tile_steps=8)
    html = report.read_text()
    figures = re.findall(r"<img src='([^']+)'", html)
    assert len(figures) >= 11  # data, labels, diffusion samples/statistics/loss, evaluation, mosaics and seams
    assert "Granulation mosaics" in html and "mosaic latent" in html
    for rel in figures:
        assert (report.parent / rel).stat().st_size > 5000
    euv = open_store(tmp_path / "demo" / "stores" / "euv.zarr")
    assert euv.n == 48 and euv.attrs["labels"]["counts"]["unlabelled"] == 0
    # the synthetic Sun's flare history gives the rare classes too
    assert euv.attrs["labels"]["counts"]["M"] > 0 and euv.attrs["labels"]["counts"]["X"] > 0
    samples = sorted(p.name for p in (tmp_path / "demo" / "runs" / "flare-cfg-tiny-samples").glob("*.fits"))
    assert {name[0] for name in samples} == set("ABCMX") and len(samples) == 40  # every class sampled
    # a second run resumes: same stores, nothing rebuilt twice
    run_demo(tmp_path / "demo", diffusion_steps=30, tile_steps=8)
    assert open_store(tmp_path / "demo" / "stores" / "euv.zarr").n == 48
