"""Seam quality (issue 5): what latent blending and GA refinement buy over greedy pixel blending.

The demo's set-up: the thesis's tile GAN at a CPU width (32 channels tapered from 16 px) trained
on synthetic granulation (64 px tiles), a bank of 2,000 tiles, 10x10 mosaics with a 4 px
overlap, built with pixel blending (eq. 4), latent blending (sec. 3.4.2) and GA refinement
(sec. 3.4.3, with heliogen's normalised fitness and with the thesis's plain eq. 5), over several seeds (each seed picks another first tile, so another mosaic).

Figures (:mod:`heliogen.mosaic.seams`): the seam ratio (squared gradient per unit variance,
seams over interior; 1 is seamless), the raw gradient ratio, the band contrast and the mean
eq. 5 distance of the placed tiles. Goal: latent blending and GA refinement each lower the seam
ratio against greedy pixel blending: the mean paired difference over seeds more than two
standard errors below zero (the seeds where each is lower are counted too). Reference: the thesis judges seams by
eye (figures 15-16); there is no published number.

Usage: python benchmarks/bench_seams.py [--steps N] [--seeds K] [--generations G]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, granulation_store, write_result  # noqa: E402


def main():
    import torch

    torch.set_num_threads(1)
    from heliogen.mosaic import bank_from_run, build_mosaic, open_bank
    from heliogen.mosaic.refine import GASettings
    from heliogen.tiles import TileGANSettings, train_tilegan
    from heliogen.training.trainer import TrainSettings

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--grid", default="10x10")
    args = ap.parse_args()

    work = WORK / "seams"
    store = granulation_store(work, patches=8, tile=64)
    run = work / f"tilegan-{args.steps}"
    settings = TrainSettings(steps=args.steps, batch=8, lr=1e-3, grad_clip=0.0, ema=0.999, checkpoint_every=args.steps,
                             sample_every=args.steps, log_every=max(1, args.steps // 10), progress=False, seed=0)
    train_tilegan(store, run, settings, TileGANSettings(width=32, taper_from=16))
    bank_path = work / f"bank-{args.steps}.zarr"
    if not bank_path.exists():
        bank_from_run(run, bank_path, n=2000, seed=0, progress=False)
    bank = open_bank(bank_path)
    tiles = bank.tiles()
    overlap = 4
    ga = GASettings(population=50, generations=args.generations)  # normalised fitness (heliogen's default)
    ga_eq5 = GASettings(population=50, generations=args.generations, fitness="eq5")  # the thesis's plain eq. 5
    rows = []
    for seed in range(args.seeds):
        row = {"seed": seed, "grid": args.grid, "overlap": overlap}
        for name, kw in (("pixel", {}), ("latent", {"blend": "latent"}), ("ga", {"refine": "ga", "ga": ga}),
                         ("ga_eq5", {"refine": "ga", "ga": ga_eq5})):
            r = build_mosaic(bank, args.grid, overlap, work / f"m_{name}_{seed}.fits", seed=seed, progress=False, tiles=tiles, **kw)
            row[name] = {**r["seams"], "mean_distance": r["mean_distance"], "seconds": r["seconds"]}
            if "ga" in r:
                row[name]["ga_fitness"] = {k: r["ga"][k] for k in ("fitness", "mean_fitness_before", "mean_fitness_after")}
        row["latent_below_pixel"] = row["latent"]["ratio"] < row["pixel"]["ratio"]
        row["ga_below_pixel"] = row["ga"]["ratio"] < row["pixel"]["ratio"]
        row["ga_eq5_below_pixel"] = row["ga_eq5"]["ratio"] < row["pixel"]["ratio"]
        rows.append(row)
        print({k: (v["ratio"] if isinstance(v, dict) else v) for k, v in row.items()}, flush=True)
    names = ("pixel", "latent", "ga", "ga_eq5")
    mean = {name: float(np.mean([r[name]["ratio"] for r in rows])) for name in names}
    paired = {}
    for name in names[1:]:
        d = np.array([r[name]["ratio"] - r["pixel"]["ratio"] for r in rows])
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        paired[name] = {"mean_minus_pixel": float(d.mean()), "standard_error": se, "seeds_below_pixel": int((d < 0).sum()),
                        "seeds": len(d)}
    met = all(paired[n]["mean_minus_pixel"] + 2 * paired[n]["standard_error"] < 0 for n in ("latent", "ga"))
    write_result(
        "seams", rows,
        reference={"what": "greedy search with pixel (alpha) blending, eq. 4, on the same bank and seeds", "value": {"mean_pixel_ratio": mean["pixel"]},
                   "source": "measured side by side in this run; the thesis judges seams by eye (figures 15-16)"},
        goal={"metric": "seam ratio (squared gradient per unit variance, seams / interior): latent blending and GA refinement each "
                        "lower than greedy pixel blending, the mean paired difference over seeds more than 2 standard errors below 0",
              "target": {"latent_minus_pixel": "< -2 SE", "ga_minus_pixel": "< -2 SE"},
              "achieved": {"mean_ratio": mean, "paired": paired},
              "met": bool(met)},
        setup={"tile_gan": {"steps": args.steps, "width": 32, "taper_from": 16, "tile_size": 64}, "bank": 2000,
               "ga": {"population": ga.population, "generations": ga.generations, "fitness": [ga.fitness, ga_eq5.fitness]}},
        note="ga: heliogen's default GA fitness (eq. 5 over the strips' energy); ga_eq5: the thesis's plain eq. 5, which lowers "
             "the eq. 5 distance by flattening tile edges (band contrast falls) and does not reliably lower the seam ratio.",
    )


if __name__ == "__main__":
    main()
