"""Shared fixtures: real files shipped in the sunpy wheel, synthetic-Sun folders, bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FLARE_LIST = SHARED_DATA / "swpc_flarelist_20100101-20210810.csv"


def sunpy_test_file(name: str) -> Path:
    from sunpy.data.test import get_test_filepath

    return Path(get_test_filepath(name))


@pytest.fixture(scope="session")
def aia_file():
    return sunpy_test_file("aia_171_level1.fits")


@pytest.fixture(scope="session")
def eit_files():
    return [sunpy_test_file("EIT/efz20040301.000010_s.fits"), sunpy_test_file("EIT/efz20040301.010016_s.fits")]


@pytest.fixture(scope="session")
def hmi_file():
    return sunpy_test_file("resampled_hmi.fits")


@pytest.fixture(scope="session")
def goes_file():
    return sunpy_test_file("go1520110607.fits")


@pytest.fixture(scope="session")
def flare_list():
    if not FLARE_LIST.is_file():
        pytest.skip("../shared/data (the SWPC flare list) is not present")
    return FLARE_LIST


@pytest.fixture(scope="session")
def synth_euv_dir(tmp_path_factory):
    """Eight synthetic AIA 193 files at 128 px, 6 h apart from 2011-01-01."""
    from heliogen.data.synth import write_synth

    out = tmp_path_factory.mktemp("synth_euv")
    write_synth("euv", 8, 128, 0, out, wavelength=193)
    return out


def build_granulation_store(root: Path, n_fields: int) -> Path:
    """A 32 px granulation store under ``root`` from ``n_fields`` synthetic 96 px fields (ten variants each)."""
    from heliogen.data import build_store
    from heliogen.data.synth import write_synth

    write_synth("granulation", n_fields, 96, 0, root / "synth")
    build_store(root / "synth", root / "gran.zarr", "granulation", 32, progress=False)
    return root / "gran.zarr"


def _rewrite(src: Path, dst: Path, edit) -> Path:
    with fits.open(src) as hdul:
        hdu = hdul[0] if hdul[0].data is not None else hdul[1]
        data, header = np.array(hdu.data, dtype=np.float32), hdu.header.copy()
    data, header = edit(data, header)
    fits.PrimaryHDU(data, header).writeto(dst, overwrite=True)
    return dst


def make_bad_inputs(good: Path, folder: Path) -> dict:
    """One file per bad-input kind, made from a good EUV file; returns {name: expected reason part}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.fits").write_text("this is not a FITS file\n")
    raw = good.read_bytes()
    (folder / "truncated.fits").write_bytes(raw[: len(raw) // 2])

    def all_nan(d, h):
        return np.full_like(d, np.nan), h

    def cube(d, h):
        return np.stack([d, d, d]), h

    def no_exptime(d, h):
        del h["EXPTIME"]
        return d, h

    def bad_quality(d, h):
        h["QUALITY"] = 1024
        return d, h

    def other_wave(d, h):
        h["WAVELNTH"] = 171
        return d, h

    for name, edit in [("allnan", all_nan), ("cube", cube), ("noexptime", no_exptime), ("quality", bad_quality), ("wave171", other_wave)]:
        _rewrite(good, folder / f"{name}.fits", edit)
    return {
        "notes.fits": "not a FITS file",
        "truncated.fits": "truncated",
        "allnan.fits": "all NaN",
        "cube.fits": "3-D data cube",
        "noexptime.fits": "missing keyword EXPTIME",
        "quality.fits": "QUALITY=1024",
        "wave171.fits": "wavelength 171",
    }


@pytest.fixture
def copy_files():
    def _copy(paths, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy(p, folder)) for p in paths]

    return _copy


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch and BLAS on one thread for a module: with 2 cores shared, OpenMP spin-waiting on
    2 threads under load runs ~8x slower than 1 thread. Restored afterwards."""
    import torch
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    limits = threadpool_limits(1)  # BLAS/OpenMP too (eigh of 2048^2 covariances)
    yield
    limits.restore_original_limits()
    torch.set_num_threads(n)
