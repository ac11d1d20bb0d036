"""The demo's mosaic stage at a small scale: trains, banks, builds three mosaics and caches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.mark.slow
def test_mosaic_for_demo(tmp_path):
    from heliogen.data import build_store
    from heliogen.data.synth import write_synth
    from heliogen.demo.mosaic import mosaic_for_demo

    write_synth("granulation", 1, 96, 0, tmp_path / "synth")
    build_store(tmp_path / "synth", tmp_path / "gran.zarr", "granulation", 32, progress=False)
    r = mosaic_for_demo(tmp_path / "gran.zarr", tmp_path / "out", steps=4, n_bank=60, grid="4x4", ga_generations=1)
    assert set(r["seams"]) == {"pixel", "latent", "ga"}
    for path in r["figures"].values():
        assert Path(path).is_file()
    assert r["overlap"] == 2 and r["shape"] == [4 * 30 + 2] * 2
    assert r["seams"]["ga"]["mean_distance"] <= r["seams"]["pixel"]["mean_distance"]
    assert json.loads((tmp_path / "out" / "mosaic_summary.json").read_text())["grid"] == "4x4"
    # second call: the run and the bank are cached (no new checkpoint, same bank)
    mtime = (tmp_path / "out" / "bank.zarr" / "zarr.json").stat().st_mtime
    mosaic_for_demo(tmp_path / "gran.zarr", tmp_path / "out", steps=4, n_bank=60, grid="4x4", ga_generations=1)
    assert (tmp_path / "out" / "bank.zarr" / "zarr.json").stat().st_mtime == mtime
