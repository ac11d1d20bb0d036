"""Super-resolution speed: few-step sampling against the paper's 1000-step DDPM, and full disks at 4096 px.

1. Samplers, side by side in one process on the same held-out crops (16 px -> 64 px) and seeds:
   the tiny ldm-res with DPM-Solver++(2M) at 20 steps (heliogen's default) and with DDPM at 1000
   steps (the paper's inference, appendix A), and the tiny pixel-space ddpm-res with DDPM at 1000
   steps (the paper's slower route). Whole ``super_resolve`` calls, after a warm-up. Goal:
   DPM-Solver++ 20 is >= 40x faster per image than latent DDPM-1000, at an Inception FD (against
   the targets) within 10 % of DDPM-1000's.
2. ``heliogen superres`` as a user runs it (a subprocess: start-up, reading, tiling, writing the
   FITS with its uncertainty extensions) on synthetic MDI full disks of 256 and 1024 px, giving
   1024 and 4096 px results, with the tiny ldm-res (2 samples, 2 DPM-Solver++ steps). Goals: peak
   RSS of the 4096 px run <= 4 GB, and time(4096) / time(1024) <= 18 (16x the pixels).

The models are bench_superres_fidelity's seed-0 ldm-res and ddpm-res runs when they exist (trained
for equal CPU budgets), else fresh 40-step ones: weights do not change the cost, only the FD.

Usage: python benchmarks/bench_superres_speed.py [--n 16]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, write_result  # noqa: E402

FIDELITY = WORK / "superres_fidelity"


def runs(work: Path) -> dict:
    """ldm-res and ddpm-res runs and the held-out store: the fidelity benchmark's, else trained here."""
    found = {m: FIDELITY / f"{m}-s0" for m in ("ldm-res", "ddpm-res")}
    if all((p / "budget.txt").exists() for p in found.values()):
        return {**found, "test": FIDELITY / "test.zarr", "source": "bench_superres_fidelity seed 0"}
    from bench_superres_fidelity import make_data, model_settings, settings

    from heliogen.superres.train import train_superres
    from heliogen.superres.train_autoencoder import AutoencoderSettings, train_autoencoder

    paths = make_data(FIDELITY)
    ae = work / "autoencoder"
    train_autoencoder(paths["train"], ae, settings(40, 0, batch=8), AutoencoderSettings(type="kl", factor=4, width=16, latent_channels=2))
    out = {}
    for m in ("ldm-res", "ddpm-res"):
        out[m] = work / m
        train_superres(paths["train"], out[m], settings(40, 0), model_settings(m, ae))
    return {**out, "test": paths["test"], "source": "trained here for 40 steps"}


def sampler_speed(found: dict, n: int) -> dict:
    import torch

    from heliogen.data.store import open_store
    from heliogen.evaluate.features.registry import extract_features
    from heliogen.evaluate.metrics.fd import fd_from_features
    from heliogen.superres.sample import SuperResolver, super_resolve
    from heliogen.training.rundir import from_model_space, open_run, to_model_space

    store = open_store(found["test"])
    n = min(n, store.n)
    lr_stored = np.stack([store.normalisation.forward(store.lowres(slice(i, i + 1))[0]) for i in range(n)])
    truth = np.stack([store.images(slice(i, i + 1))[0] for i in range(n)]).astype(np.float64)
    unit = lambda g: (np.clip(g, -3000, 3000) / 3000 + 1) / 2  # noqa: E731 - evaluate superres's FD input
    real = extract_features(unit(truth), "inception")
    out = {}
    for label, model, sampler, steps, rows in (("ldm-res dpmpp-20", "ldm-res", "dpmpp", 20, n), ("ldm-res ddpm-1000", "ldm-res", "ddpm", 1000, n),
                                               ("ddpm-res ddpm-1000", "ddpm-res", "ddpm", 1000, max(2, n // 4))):
        run = open_run(found[model])
        sr = SuperResolver.from_run(run)
        lr = to_model_space(torch.from_numpy(lr_stored[:rows]).float(), run.data["data_range"])
        super_resolve(sr, lr[:2], [0, 1], sampler, min(steps, 3))  # warm-up
        t0 = time.perf_counter()
        pred = super_resolve(sr, lr, list(range(rows)), sampler, steps, eval_batch=16)
        seconds = time.perf_counter() - t0
        gauss = store.normalisation.physical(from_model_space(pred.clamp(-1, 1).numpy().astype(np.float64), run.data["data_range"]))
        entry = {"images": rows, "seconds": round(seconds, 2), "s_per_image": seconds / rows}
        if rows == n:
            entry["fd_inception"] = fd_from_features(real, extract_features(unit(gauss), "inception"))
        out[label] = entry
        print(label, entry, flush=True)
    return out


def full_disk(found: dict, work: Path) -> dict:
    from heliogen.data.synth import write_synth

    out = {}
    for size in (256, 1024):
        mdi = write_synth("magnetogram", 1, size, 0, work / f"mdi{size}", instrument="mdi", start="2011-01-06T00:00:00")[0]
        target = work / f"sr{size}"
        cmd = [sys.executable, "-m", "heliogen", "superres", str(mdi), "-o", str(target), "--model", str(found["ldm-res"]),
               "--samples", "2", "--steps", "2", "--tile", "64", "--tile-batch", "8", "--no-progress"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far
        out[f"{size}_to_{4 * size}"] = {"seconds": round(seconds, 1), "peak_rss_gb": round(peak_kb / 2**20, 3),
                                        "peak_rss_is_this_run": peak_kb > before}
        print(size, out[f"{size}_to_{4 * size}"], flush=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=16, help="held-out crops per sampler (the pixel DDPM times a quarter)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    work = WORK / "superres_speed"
    work.mkdir(parents=True, exist_ok=True)
    found = runs(work)
    samplers = sampler_speed(found, args.n)
    disks = full_disk(found, work)
    fast, slow = samplers["ldm-res dpmpp-20"], samplers["ldm-res ddpm-1000"]
    speedup = slow["s_per_image"] / fast["s_per_image"]
    fd_gap = abs(fast["fd_inception"] - slow["fd_inception"]) / slow["fd_inception"]
    ratio = disks["1024_to_4096"]["seconds"] / disks["256_to_1024"]["seconds"]
    rss = disks["1024_to_4096"]["peak_rss_gb"]
    held = {"dpmpp20_40x_faster": speedup >= 40, "fd_within_10pct": fd_gap <= 0.10, "rss_4096_le_4GB": rss <= 4.0,
            "time_ratio_le_18": ratio <= 18}
    write_result(
        "superres_speed", [{"samplers": samplers}, {"full_disk": disks}],
        reference={"what": "the paper's inference, appendix A: 1000 DDPM steps, 40 s per 1024 px crop in latent space and "
                           "1 min 41 s in pixel space on a TITAN X (2.5x)",
                   "value": {"latent_ddpm1000_s": 40, "pixel_ddpm1000_s": 101}, "source": "../shared/references/003_*.txt, appendix A"},
        goal={"metric": "per-image time of DPM-Solver++ 20 against latent DDPM-1000 at equal FD; 4096 px full disk RSS and time scaling",
              "target": ">= 40x faster with |FD difference| <= 10 %; peak RSS <= 4 GB; time(4096)/time(1024) <= 18",
              "achieved": {"speedup": round(speedup, 1), "fd_relative_difference": round(fd_gap, 3),
                           "pixel_over_latent_ddpm1000": round(samplers["ddpm-res ddpm-1000"]["s_per_image"] / slow["s_per_image"], 2),
                           "peak_rss_4096_gb": rss, "time_ratio_4096_over_1024": round(ratio, 2)},
              "held": held, "met": all(held.values())},
        settings={"models": found["source"], "held_out_crops": args.n, "crop_hr": 64, "full_disk": "2 samples, 2 DPM-Solver++ steps, --tile 64",
                  "fd": "Inception, against the same crops' targets (few images: biased high, compared at equal n)"})


if __name__ == "__main__":
    main()
