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
    _check_values_independently(doc, real, fake, cache)
    # Second run: the real-set features come from the cache and the numbers are identical.
    assert _run(args).exception is None
    again = json.loads(out.read_text())
    assert again["cache"]["hits"] >= 2 and again["cache"]["misses"] == 0
    assert again["metrics"]["fd"] == m["fd"]


def _check_values_independently(doc, real, fake, cache):
    """Recompute FD, KID, PRDC and the pixel distances from the run's own inputs, by other formulas.

    The real features are the cached file the recorded content hash names; the fake features
    come from the same extractor on the fake set's unit-range pixels.
    """
    from heliogen.evaluate.features import get_extractor
    from heliogen.evaluate.features.cache import FeatureCache
    from heliogen.evaluate.io import load_pair

    m, settings = doc["metrics"], doc["settings"]
    r, f = load_pair(real, fake)
    assert r.content_hash() == doc["real"]["sha256"] and f.content_hash() == doc["fake"]["sha256"]
    ext = get_extractor("inception-random", device="cpu", legacy_uint8=False)  # the instance the run used
    fr = np.load(cache / f"{FeatureCache().key(doc['real']['sha256'], ext.cache_key(), 'whole')}.npy")
    lo, hi = doc["model_space"]["range"]
    ff = ext(np.clip((f.images - lo) / (hi - lo), 0, 1).astype(np.float32))
    assert fr.shape == ff.shape == (8, 2048)
    np.testing.assert_array_equal(fr, ext(np.clip((r.images - lo) / (hi - lo), 0, 1).astype(np.float32)))

    # FD (Heusel et al. eq. 6) with 8 samples of 2048-d features: both covariances are low rank,
    # S = A^T A / (n - 1) with A the centred features, and the non-zero eigenvalues of S_1 S_2 are
    # the squared singular values of A_1 A_2^T / (n - 1): Tr((S_1 S_2)^(1/2)) = ||A_1 A_2^T||_* / (n - 1).
    a1, a2 = fr - fr.mean(0), ff - ff.mean(0)
    trace_sqrt = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum() / 7
    fd = np.sum((fr.mean(0) - ff.mean(0)) ** 2) + (a1**2).sum() / 7 + (a2**2).sum() / 7 - 2 * trace_sqrt
    assert m["fd"]["inception-random"] == pytest.approx(fd, rel=1e-5)  # the eigenvalue route leaves ~2e-7

    # KID: the unbiased MMD^2 of the cubic kernel (Binkowski et al. eq. 3) on the seeded subsets, by loops.
    size, rng = settings["kid_subset_size"], np.random.default_rng(settings["seed"])
    kernel = lambda u, v: (u @ v / u.size + 1.0) ** 3
    values = []
    for _ in range(settings["kid_subsets"]):
        x, y = fr[rng.choice(8, size, replace=False)], ff[rng.choice(8, size, replace=False)]
        pairs = [(i, j) for i in range(size) for j in range(size) if i != j]
        values.append(sum(kernel(x[i], x[j]) + kernel(y[i], y[j]) for i, j in pairs) / len(pairs)
                      - 2 * sum(kernel(x[i], y[j]) for i in range(size) for j in range(size)) / size**2)
    assert m["kid"]["inception-random"]["mean"] == pytest.approx(np.mean(values), rel=1e-9, abs=1e-12)
    assert m["kid"]["inception-random"]["std"] == pytest.approx(np.std(values), rel=1e-9, abs=1e-12)

    # PRDC (Kynkaanniemi et al. 2019; Naeem et al. 2020) with k = 3 by brute force over all pairs.
    k = settings["prdc_k"]
    dist = lambda u, v: np.sqrt(((u[:, None] - v[None]) ** 2).sum(-1))
    radius_r, radius_f = np.sort(dist(fr, fr), 1)[:, k], np.sort(dist(ff, ff), 1)[:, k]
    d = dist(fr, ff)  # real i, fake j
    expected = {"precision": np.mean([(d[:, j] < radius_r).any() for j in range(8)]),
                "recall": np.mean([(d[i] < radius_f).any() for i in range(8)]),
                "density": sum((d[:, j] < radius_r).sum() for j in range(8)) / (k * 8),
                "coverage": np.mean([d[i].min() < radius_r[i] for i in range(8)])}
    assert {key: m["prdc"]["inception-random"][key] for key in expected} == pytest.approx(expected, abs=1e-12)

    # Pixel distances on all 8 x 32 x 32 pixels: W1 of equal-size samples is the mean gap between
    # the sorted values; KS is the largest gap between the two empirical CDFs.
    pr, pf = np.sort(r.images.ravel().astype(np.float64)), np.sort(f.images.ravel().astype(np.float64))
    grid = np.concatenate([pr, pf])
    ks = np.abs(np.searchsorted(pr, grid, "right") - np.searchsorted(pf, grid, "right")).max() / pr.size
    h = m["histogram"]
    assert h["pixels_used"] == pr.size == pf.size == 8 * 32 * 32
    assert h["wasserstein"] == pytest.approx(np.abs(pr - pf).mean(), rel=1e-9) and h["ks"] == pytest.approx(ks, abs=1e-12)
    assert [h["mean_real"], h["mean_fake"], h["std_real"], h["std_fake"]] == pytest.approx([pr.mean(), pf.mean(), pr.std(), pf.std()], rel=1e-9)


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
