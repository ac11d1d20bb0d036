"""End to end: the evaluate CLI and Python API on synthetic stores and FITS directories."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from click.testing import CliRunner

from heliogen.cli.evaluate import evaluate
from heliogen.errors import HeliogenError

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the shared 2-core machine: see conftest


@pytest.fixture(scope="module")
def stores(tmp_path_factory, synth_euv_dir):
    from heliogen.data import build_store
    from heliogen.data.synth import write_synth

    root = tmp_path_factory.mktemp("evalstores")
    write_synth("euv", 8, 128, 5, root / "euv5", wavelength=193)
    build_store(synth_euv_dir, root / "real.zarr", "euv", 32, wavelength=193, progress=False)
    build_store(root / "euv5", root / "fake.zarr", "euv", 32, wavelength=193, progress=False)
    return root / "real.zarr", root / "fake.zarr"


def _run(args):
    res = CliRunner().invoke(evaluate, args, standalone_mode=False, catch_exceptions=True)
    return res


@pytest.mark.slow
def test_cli_distribution_metrics_with_cache_and_report(stores, tmp_path):
    real, fake = stores
    out, rep, cache = tmp_path / "m.json", tmp_path / "r.html", tmp_path / "cache"
    args = ["--real", str(real), "--fake", str(fake), "--metrics", "fd,kid,prdc,patch-fd,cluster,histogram",
            "--features", "inception-random", "--out", str(out), "--report", str(rep), "--clusters", "2",
            "--kid-subset-size", "4", "--kid-subsets", "5", "--patch-sizes", "16", "--crops-per-image", "1", "--cache-dir", str(cache)]
    res = _run(args)
    assert res.exception is None, res.output
    doc = json.loads(out.read_text())
    assert doc["schema"] == "heliogen-metrics/1" and doc["type"] == "distribution"
    assert doc["real"]["n"] == 8 and doc["fake"]["n"] == 8 and len(doc["real"]["sha256"]) == 64
    assert doc["features"]["inception-random"]["dim"] == 2048 and "versions" in doc and doc["versions"]["heliogen"]
    m = doc["metrics"]
    assert m["fd"]["inception-random"] > 0
    assert set(m["kid"]["inception-random"]) >= {"mean", "std"}
    assert 0 <= m["prdc"]["inception-random"]["precision"] <= 1
    assert "16" in m["patch_fd"]["inception-random"]["fd"]
    assert {"ce", "cd", "cs", "benchmark_halves"} <= set(m["cluster"]["inception-random"])
    assert m["histogram"]["wasserstein"] >= 0 and 0 <= m["histogram"]["ks"] <= 1
    assert doc["cache"]["misses"] >= 2
    assert rep.is_file() and "histograms" in rep.read_text()
    figures = [Path(f) for f in doc["figures"]] + [tmp_path / "r_figures" / "samples.png"]
    assert [f.name for f in figures] == ["histograms.png", "samples.png"]
    assert all(f.read_bytes()[:4] == b"\x89PNG" for f in figures)
    # Second run: the real-set features come from the cache and the numbers are identical.
    assert _run(args).exception is None
    again = json.loads(out.read_text())
    assert again["cache"]["hits"] >= 2 and again["cache"]["misses"] == 0
    assert again["metrics"]["fd"] == m["fd"]


def test_api_fd_of_a_set_with_itself_is_zero(stores):
    from heliogen.evaluate import evaluate_distribution

    real, _ = stores
    doc = evaluate_distribution(real, real, metrics="fd,histogram", features="inception", cache_dir=None)
    assert doc["metrics"]["fd"]["inception"] < 1e-6
    assert doc["metrics"]["histogram"]["wasserstein"] == 0.0


def test_fits_directory_is_read_in_the_real_stores_model_space(stores, tmp_path):
    # Write the real store's images back as physical FITS (DN/s): they must load identically.
    from heliogen.data import open_store
    from heliogen.evaluate.io import load_pair

    real, _ = stores
    s = open_store(real)
    phys = s.normalisation.physical(s.normalisation.forward(s.images().astype(np.float64)))
    folder = tmp_path / "fits"
    folder.mkdir()
    for i, img in enumerate(phys):
        h = fits.Header({"WAVELNTH": 193, "BUNIT": "DN/s", "CDELT1": 76.8, "CDELT2": 76.8, "CUNIT1": "arcsec",
                         "CUNIT2": "arcsec", "CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "DATE-OBS": "2011-01-01T00:00:00"})
        fits.PrimaryHDU(img[0].astype(np.float32), h).writeto(folder / f"s{i:02d}.fits")
    r, f = load_pair(real, folder)
    np.testing.assert_allclose(f.images, r.images, atol=1e-5)


def test_user_errors_are_heliogen_errors(stores, tmp_path):
    real, fake = stores
    res = _run(["--real", str(real), "--fake", str(fake), "--metrics", "fd,bogus", "--out", str(tmp_path / "x.json")])
    assert isinstance(res.exception, HeliogenError) and "bogus" in str(res.exception)
    res = _run(["--real", str(real), "--fake", str(fake), "--metrics", "prdc", "--features", "inception-random", "--n", "3",
                "--no-cache", "--out", str(tmp_path / "x.json")])
    assert isinstance(res.exception, HeliogenError) and "more than 3" in str(res.exception)
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _run(["--real", str(real), "--fake", str(empty), "--out", str(tmp_path / "x.json")])
    assert isinstance(res.exception, HeliogenError) and "no FITS files" in str(res.exception)


def test_sets_of_other_sizes_or_kinds_are_refused_unless_allowed(stores, tmp_path, synth_euv_dir):
    """64 px against 32 px, or EUV against granulation, is one clear line and exit code 2 from
    the real command line; --allow-mismatch runs the comparison and records that it was allowed."""
    import subprocess
    import sys

    from heliogen.data import build_store
    from heliogen.data.synth import write_synth

    real, _ = stores
    big = tmp_path / "big.zarr"
    build_store(synth_euv_dir, big, "euv", 64, wavelength=193, progress=False)
    write_synth("granulation", 2, 128, 0, tmp_path / "gran")
    gran = tmp_path / "gran.zarr"
    build_store(tmp_path / "gran", gran, "granulation", 32, progress=False)
    common = ["--metrics", "histogram", "--no-cache"]
    for fake, words in ((big, ["32x32 px", "64x64 px", "--allow-mismatch"]), (gran, ["euv", "granulation", "--allow-mismatch"])):
        proc = subprocess.run([sys.executable, "-m", "heliogen", "evaluate", "--real", str(real), "--fake", str(fake), *common,
                               "--out", str(tmp_path / "refused.json")], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("heliogen: error: ") and all(w in lines[0] for w in words), lines
        assert not (tmp_path / "refused.json").exists()
    out = tmp_path / "allowed.json"
    res = _run(["--real", str(real), "--fake", str(big), *common, "--allow-mismatch", "--out", str(out)])
    assert res.exception is None, res.output
    doc = json.loads(out.read_text())
    assert doc["settings"]["allow_mismatch"] is True and doc["fake"]["n"] == 8


def _mag_pair(folder_p, folder_t, name, seed, noise):
    from heliogen.data.synth import synth_magnetogram

    m = synth_magnetogram(seed, size=64, cdelt=0.5, center=(-200.0, 150.0))
    data = np.nan_to_num(np.asarray(m.data, np.float64))
    header = fits.Header({k: v for k, v in m.fits_header.items() if k not in ("COMMENT", "HISTORY", "") and not k.startswith("NAXIS")
                          and k not in ("SIMPLE", "BITPIX", "EXTEND")})
    rng = np.random.default_rng(seed)
    fits.PrimaryHDU(data.astype(np.float32), header).writeto(folder_t / name)
    fits.PrimaryHDU((data * 1.1 + noise * rng.normal(size=data.shape)).astype(np.float32), header).writeto(folder_p / name)


def test_cli_pairs_and_uncertainty(tmp_path):
    pred, target, samples = tmp_path / "pred", tmp_path / "target", tmp_path / "samples"
    for d in (pred, target, samples):
        d.mkdir()
    for i in range(2):
        _mag_pair(pred, target, f"m{i}.fits", i, 0.0)
    out = tmp_path / "pairs.json"
    res = _run(["pairs", "--pred", str(pred), "--target", str(target), "--out", str(out), "--report", str(tmp_path / "p.html")])
    assert res.exception is None, res.output
    doc = json.loads(out.read_text())
    assert doc["type"] == "pairs" and doc["pred"]["n"] == 2
    # Prediction = 1.1 x target everywhere: unsigned flux exactly +10 %.
    assert doc["metrics"]["unsigned_flux_pct"]["mean"] == pytest.approx(10.0, rel=1e-4)
    assert "skipped" in doc["settings"]["lpips"]
    assert any("spectrum" in f for f in doc["figures"])
    assert len(doc["figures"]) == 3 and all(Path(f).read_bytes()[:4] == b"\x89PNG" for f in doc["figures"])
    from heliogen.data.synth import synth_magnetogram

    m = synth_magnetogram(0, size=64, cdelt=0.5)
    for k in range(3):
        noisy = np.nan_to_num(np.asarray(m.data)) + np.random.default_rng(k).normal(0, 20, (64, 64))
        h = fits.Header({"CDELT1": 0.5, "CDELT2": 0.5, "CUNIT1": "arcsec", "CUNIT2": "arcsec", "BUNIT": "Gauss"})
        fits.PrimaryHDU(noisy.astype(np.float32), h).writeto(samples / f"s{k}.fits")
    res = _run(["uncertainty", "--samples", str(samples), "--out", str(tmp_path / "u.json"), "--report", str(tmp_path / "u.html")])
    assert res.exception is None, res.output
    u = json.loads((tmp_path / "u.json").read_text())
    assert 10 < u["metrics"]["mean_std"] < 25
    assert [Path(f).name for f in u["figures"]] == ["uncertainty.png"] and Path(u["figures"][0]).read_bytes()[:4] == b"\x89PNG"


def test_cli_rank_and_human(tmp_path):
    from heliogen.evaluate.schema import new_document, write_metrics

    rng = np.random.default_rng(0)
    files = []
    for i in range(5):
        doc = new_document("distribution", {})
        doc["metrics"] = {"fd": {"inception": float(i)}, "kid": {"inception": {"mean": float(i) ** 2}},
                          "prdc": {"inception": {"precision": float(-i)}}, "noise": float(rng.normal())}
        files.append(write_metrics(doc, tmp_path / f"m{i}.json"))
    res = _run(["rank", *map(str, files), "--out", str(tmp_path / "rank.json")])
    assert res.exception is None, res.output
    r = json.loads((tmp_path / "rank.json").read_text())
    names = r["metric_names"]
    rho = np.array(r["metrics"]["spearman"])
    i, j, p = names.index("fd/inception"), names.index("kid/inception/mean"), names.index("prdc/inception/precision")
    assert rho[i, j] == pytest.approx(1.0) and rho[i, p] == pytest.approx(-1.0)
    with pytest.raises(HeliogenError, match="at least 3"):
        from heliogen.evaluate.metrics.ranking import rank_metrics

        rank_metrics(files[:2])
    # Human study: 4 subjects x 10 answers; independent binomial p-value by summation.
    rows = []
    for s, (n_correct, expertise) in enumerate([(5, 1), (6, 2), (7, 3), (9, 5)]):
        for q in range(10):
            rows.append({"subject": s, "truth": "real", "answer": "real" if q < n_correct else "fake", "expertise": expertise})
    pd.DataFrame(rows).to_csv(tmp_path / "answers.csv", index=False)
    res = _run(["human", str(tmp_path / "answers.csv"), "--out", str(tmp_path / "h.json")])
    assert res.exception is None, res.output
    h = json.loads((tmp_path / "h.json").read_text())["metrics"]
    from math import comb

    k, n = 27, 40
    pmf = [comb(n, i) / 2**n for i in range(n + 1)]
    p_ref = sum(v for v in pmf if v <= pmf[k] * (1 + 1e-7))
    assert h["accuracy"] == pytest.approx(27 / 40) and h["binomial_p_two_sided"] == pytest.approx(p_ref, rel=1e-9)
    assert h["spearman_expertise"] == pytest.approx(1.0)
