"""Inception feature throughput and FD speed (issue 4), against the classic pipelines.

1. Images/s of heliogen's Inception features on CPU (float images, batched antialiased
   bicubic resize in torch, one network call per batch, heliogen's eager port of the
   network with batch norm folded and channels-last activations) against the classic
   pipeline on the same images and the same weights run as shipped (TorchScript): quantise each image to uint8, resize
   it with PIL (bicubic, as clean-fid; pytorch-fid feeds PIL-decoded uint8 too), convert,
   then batch. Goal: ratio >= 1.0. Also reports how far the two pipelines' features are
   apart (the uint8 quantisation and PIL's integer resize are the difference).
2. FD on 2048-d features: heliogen's eigenvalue route against ``scipy.linalg.sqrtm``.
   Goal: >= 10x faster with values within 1e-6 (relative).

Usage: python benchmarks/bench_features.py [--images N] [--size S]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402


def solar_like_images(n: int, size: int) -> np.ndarray:
    """Synthetic-Sun EUV images in model space ([0, 1]), the evaluation's real input."""
    from heliogen.data.resample import area_resample
    from heliogen.data.synth import synth_euv

    out = []
    for k in range(n):
        m = synth_euv(k % 8, size=size)
        x = np.log(np.clip(np.nan_to_num(np.asarray(m.data, np.float64)), 1, None))
        out.append(x)
    a = np.stack(out)
    a = a / a.max()
    rng = np.random.default_rng(0)
    a = np.clip(a + 0.01 * rng.normal(size=a.shape), 0, 1)  # distinct images even where seeds repeat
    return a[:, None].astype(np.float32)


def classic_features(net, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The classic pipeline: uint8, PIL bicubic per image, batch, then the TorchScript network as shipped."""
    import torch
    from PIL import Image

    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            batch = []
            for img in images[i : i + batch_size]:
                u8 = np.round(np.clip(img[0], 0, 1) * 255).astype(np.uint8)
                pil = Image.fromarray(u8).convert("RGB").resize((299, 299), Image.BICUBIC)
                batch.append(np.asarray(pil, dtype=np.float32).transpose(2, 0, 1))
            x = torch.from_numpy(np.stack(batch))
            out.append(net(x / 128.0 - 1.0).double().numpy())
    return np.concatenate(out)


def bench_inception(n: int, size: int, batch_size: int = 32, repeats: int = 3) -> dict:
    from heliogen.evaluate.features import get_extractor
    from heliogen.models.backbones.inception_tf import load_torchscript_inception

    images = solar_like_images(n, size)
    ext = get_extractor("inception")
    ts = load_torchscript_inception()  # the same weights, run as the classic tools run them
    ext(images[:2])
    classic_features(ts, images[:2], 2)  # warm both paths
    t_ours, t_classic = [], []
    for _ in range(repeats):  # interleaved, best of: the machine is shared
        t0 = time.perf_counter()
        f_ours = ext(images, batch_size=batch_size)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        f_classic = classic_features(ts, images, batch_size)
        t_classic.append(time.perf_counter() - t0)
    from heliogen.evaluate.metrics.fd import fd_from_features

    rel = np.linalg.norm(f_ours - f_classic, axis=1) / np.linalg.norm(f_classic, axis=1)
    return {"images": n, "size": size, "batch_size": batch_size,
            "heliogen_images_per_s": n / min(t_ours), "classic_images_per_s": n / min(t_classic),
            "ratio": min(t_classic) / min(t_ours), "feature_rel_l2_mean": float(rel.mean()), "feature_rel_l2_max": float(rel.max()),
            "fd_between_pipelines": fd_from_features(f_ours, f_classic),
            "heliogen_resize": "torch bicubic antialias=True on float32, batched",
            "heliogen_network": "eager port of default_1.pt, batch norm folded, channels-last activations",
            "classic_network": "default_1.pt TorchScript as shipped",
            "classic_resize": "uint8 quantisation, PIL Image.resize BICUBIC per image, then batch"}


def bench_fd(n: int = 4096, d: int = 2048, repeats: int = 3, ref_repeats: int = 2) -> dict:
    import scipy.linalg

    from heliogen.evaluate.metrics.fd import frechet_distance, gaussian_stats

    rng = np.random.default_rng(0)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    a = gaussian_stats(rng.normal(size=(n, d)) @ mix)
    b = gaussian_stats(rng.normal(0.05, 1.1, size=(n, d)) @ mix)
    t_ours = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
        t_ours.append(time.perf_counter() - t0)
    t_refs = []
    for _ in range(ref_repeats):
        t0 = time.perf_counter()
        covmean = scipy.linalg.sqrtm(a.sigma @ b.sigma).real
        ref = float(np.sum((a.mu - b.mu) ** 2) + np.trace(a.sigma) + np.trace(b.sigma) - 2 * np.trace(covmean))
        t_refs.append(time.perf_counter() - t0)
    t_ref = min(t_refs)
    return {"dim": d, "samples": n, "heliogen_s": min(t_ours), "scipy_sqrtm_s": t_ref, "speedup": t_ref / min(t_ours),
            "fd_heliogen": ours, "fd_scipy": ref, "rel_diff": abs(ours - ref) / abs(ref)}


def main():
    import scipy.linalg  # noqa: F401 - load scipy's own BLAS before limiting it
    import torch
    from threadpoolctl import threadpool_limits

    # One thread for torch and BLAS in both arms: the 2-core machine is shared, and
    # multi-threaded spin-waiting under load made timings swing 10x between runs.
    torch.set_num_threads(1)
    threadpool_limits(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    inc = bench_inception(args.images, args.size)
    fd = bench_fd()
    rows = [dict(inc, what="inception features"), dict(fd, what="FD 2048-d")]
    write_result(
        "features", rows,
        reference={"what": "classic uint8 + per-image PIL resize pipeline (pytorch-fid / clean-fid feeding) on the same network; "
                           "scipy.linalg.sqrtm FD", "value": {"classic_images_per_s": inc["classic_images_per_s"], "scipy_sqrtm_s": fd["scipy_sqrtm_s"]},
                   "source": "measured side by side in this run"},
        goal={"metric": "inception throughput ratio >= 1.0; FD speedup >= 10 with rel diff <= 1e-6",
              "target": {"ratio": 1.0, "fd_speedup": 10.0, "fd_rel_diff": 1e-6},
              "achieved": {"ratio": inc["ratio"], "fd_speedup": fd["speedup"], "fd_rel_diff": fd["rel_diff"]},
              "met": bool(inc["ratio"] >= 1.0 and fd["speedup"] >= 10 and fd["rel_diff"] <= 1e-6)},
        threads="torch 1, BLAS 1 (both arms)",
        note="heliogen resizes float data with torch's antialiased bicubic (PIL's filter support, no 8-bit rounding, batched) and "
             "runs an eager port of the same network (batch norm folded into the convolutions, activations kept channels-last; "
             "features within 2e-6 of the TorchScript graph, tests/test_inception_net.py); the feature difference to the classic "
             "pipeline comes from the uint8 quantisation and PIL's rounding.",
    )


if __name__ == "__main__":
    main()
