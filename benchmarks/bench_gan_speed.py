"""GAN sampling speed against diffusion sampling, and the GAN trainer's overhead per step.

Both models are the full-disk EUV study's architectures at one resolution (64 px by default):
the StyleGAN2 generator of its best GAN (z 64, w 128, 2 mapping layers, channel base 32768,
at most 512 channels) and the ADM-64 U-Net preset, sampled with DPM-Solver++(2M) at 20 steps,
``heliogen sample``'s default. Weights do not change the cost, so both are freshly
initialised runs (one training step each).

* Images/s in process: the generator's ``generate`` and ``sample_images``, the same seeds,
  batch 16, after a two-image warm-up, median of interleaved repeats. Goal: GAN >= 20x faster per image.
* Images/s as a user waits: ``heliogen sample RUN --n N`` as a subprocess, start-up, loading
  and FITS writing included, for both runs.
* Train-step overhead: the trainer's own images/s (stats.jsonl, log intervals after the first)
  against the bare forward and backward passes one step needs (D on real and fake images,
  then G through D), same batch, no optimizer step, EMA, data loading or logging. Goal: < 10%.
  Measured at 32 px (the study's generator and projected discriminator, backbone fed at 224 px
  as upstream), trainer runs and bare steps interleaved, as this machine's speed drifts.

Usage: python benchmarks/bench_gan_speed.py [--size 64] [--n 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, write_result  # noqa: E402

BATCH = 16
SAMPLER, STEPS = "dpmpp", 20
TRAIN_SIZE, TRAIN_BATCH, TRAIN_STEPS, LOG_EVERY = 32, 8, 6, 2


def euv_store(work: Path, size: int) -> Path:
    from heliogen.data.build import build_store
    from heliogen.data.synth import write_synth

    store = work / f"euv{size}.zarr"
    if not store.exists():
        if not (work / "synth").exists():
            write_synth("euv", 32, 128, 0, work / "synth", wavelength=193)
        build_store(work / "synth", store, "euv", size, wavelength=193, progress=False)
    return store


def make_runs(work: Path, store: Path) -> dict:
    """A one-step GAN run (study generator) and a one-step ADM-64 diffusion run."""
    from heliogen.diffusion.train import DiffusionSettings, train_diffusion
    from heliogen.gan.train import GANSettings, train_gan
    from heliogen.training.trainer import TrainSettings

    runs = {"gan": work / "run_gan", "diffusion": work / "run_diffusion"}
    one = dict(steps=1, batch=2, checkpoint_every=1, log_every=1, progress=False, seed=0)
    if not (runs["gan"] / "checkpoints").exists():
        train_gan(store, runs["gan"], TrainSettings(**one, grad_clip=0.0), GANSettings(discriminator="stylegan2"))
    if not (runs["diffusion"] / "checkpoints").exists():
        train_diffusion(store, runs["diffusion"], TrainSettings(**one), DiffusionSettings(preset="adm-64"))
    return runs


def in_process_arms(runs: dict) -> dict:
    """Functions ``arm(n) -> seconds`` that generate images of seeds 0..n-1 with each model."""
    from heliogen.diffusion.sampling import sample_images
    from heliogen.training.rundir import open_run

    gan = open_run(runs["gan"]).load_module("G")
    diff_run = open_run(runs["diffusion"])
    model = diff_run.load_module("model")
    shape = diff_run.shape
    scheduler = diff_run.extras["scheduler"]

    @torch.no_grad()
    def gan_arm(n):
        seeds = list(range(n))
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):  # micro-batches pad to eval_batch: no larger than the images
            gan.generate(seeds[start:start + BATCH], eval_batch=min(n, BATCH))
        return time.perf_counter() - t0

    def diffusion_arm(n):
        t0 = time.perf_counter()
        sample_images(model, scheduler, SAMPLER, STEPS, list(range(n)), shape, batch=BATCH, eval_batch=min(n, BATCH), progress=False)
        return time.perf_counter() - t0

    return {"gan": gan_arm, "diffusion": diffusion_arm}


def cli_seconds(run: Path, out: Path, n: int, *extra: str) -> float:
    """``heliogen sample`` as a user runs it (a fresh process; FITS and grid written)."""
    shutil.rmtree(out, ignore_errors=True)
    exe = Path(sys.executable).with_name("heliogen")
    t0 = time.perf_counter()
    subprocess.run([str(exe), "-q", "sample", str(run), "--n", str(n), "--seed", "0", "--out", str(out), "--no-progress",
                    "--batch", str(BATCH), *extra],
                   check=True, env=dict(os.environ))
    return time.perf_counter() - t0


def trainer_step_seconds(store: Path, run: Path) -> list[float]:
    """Seconds per step from the trainer's own stats.jsonl (intervals after the first)."""
    from heliogen.gan.train import GANSettings, train_gan
    from heliogen.training.trainer import TrainSettings

    shutil.rmtree(run, ignore_errors=True)
    settings = TrainSettings(steps=TRAIN_STEPS, batch=TRAIN_BATCH, log_every=LOG_EVERY, checkpoint_every=TRAIN_STEPS,
                             progress=False, seed=0, grad_clip=0.0, ema_kimg=10.0, ema_rampup=0.05)
    train_gan(store, run, settings, GANSettings(discriminator="projected"))
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    rates = [r["images_per_s"] for r in rows if "images_per_s" in r][1:]
    return [TRAIN_BATCH / r for r in rates]


def bare_step_seconds(store: Path, repeats: int) -> list[float]:
    """The forward and backward passes of one projected-GAN step, and nothing else."""
    from heliogen.data.store import open_store
    from heliogen.gan.train import GANSettings, build_gan
    from heliogen.models.gan_losses import hinge_d_loss, hinge_g_loss

    gs = GANSettings(discriminator="projected")
    s = open_store(store)
    G, D = build_gan(gs, s.size, 1)
    real = torch.rand(TRAIN_BATCH, 1, s.size, s.size) * 2 - 1
    gen = torch.Generator().manual_seed(0)

    def step():
        with torch.no_grad():
            fake = G(torch.randn(TRAIN_BATCH, gs.z_dim, generator=gen), generator=gen)
        hinge_d_loss(D(real, generator=gen), D(fake, generator=gen)).backward()
        hinge_g_loss(D(G(torch.randn(TRAIN_BATCH, gs.z_dim, generator=gen), generator=gen), generator=gen)).backward()

    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    work = WORK / "gan_speed"
    store = euv_store(work, args.size)
    runs = make_runs(work, store)

    arms = in_process_arms(runs)
    for arm in arms.values():
        arm(2)  # warm-up: first-call costs out of the timings
    seconds = {k: [] for k in arms}
    for r in range(args.repeats):
        for k in (list(arms) if r % 2 == 0 else list(arms)[::-1]):
            seconds[k].append(arms[k](args.n))
    per_image = {k: statistics.median(v) / args.n for k, v in seconds.items()}
    speedup = per_image["diffusion"] / per_image["gan"]

    cli = {"gan": cli_seconds(runs["gan"], work / "samples_gan", args.n),
           "diffusion": cli_seconds(runs["diffusion"], work / "samples_diffusion", args.n, "--eval-batch", str(min(args.n, BATCH)))}

    small = euv_store(work, TRAIN_SIZE)
    trainer_runs, bare_runs = [], []
    for _ in range(args.repeats):
        trainer_runs += trainer_step_seconds(small, work / "run_train")
        bare_runs += bare_step_seconds(small, TRAIN_STEPS - LOG_EVERY)
    step_trainer, step_bare = statistics.median(trainer_runs), statistics.median(bare_runs)
    overhead = step_trainer / step_bare - 1.0
    # the bare passes' own run-to-run spread (coefficient of variation): an overhead smaller than it is noise
    bare_spread = statistics.stdev(bare_runs) / statistics.mean(bare_runs) if len(bare_runs) > 1 else float("nan")

    results = [
        {"config": f"StyleGAN2 generator (study: z64 w128, 2 mapping layers, <=512 ch), {args.size} px, in process",
         "images": args.n, "seconds_runs": [round(t, 3) for t in seconds["gan"]], "seconds_per_image": per_image["gan"],
         "images_per_s": round(1 / per_image["gan"], 3)},
        {"config": f"ADM-64 U-Net, {SAMPLER} {STEPS} steps, {args.size} px, in process", "images": args.n,
         "seconds_runs": [round(t, 3) for t in seconds["diffusion"]], "seconds_per_image": per_image["diffusion"],
         "images_per_s": round(1 / per_image["diffusion"], 3), "gan_speedup": round(speedup, 2)},
        {"config": f"heliogen sample GAN run --n {args.n} (whole process)", "seconds": round(cli["gan"], 2)},
        {"config": f"heliogen sample diffusion run --n {args.n} (whole process, {SAMPLER}-{STEPS})", "seconds": round(cli["diffusion"], 2),
         "gan_speedup": round(cli["diffusion"] / cli["gan"], 2)},
        {"config": f"GAN training step at {TRAIN_SIZE} px, projected D (lite0, 224 px backbone input), batch {TRAIN_BATCH}, trainer",
         "seconds_per_step": round(step_trainer, 3), "seconds_runs": [round(t, 3) for t in trainer_runs]},
        {"config": "the same step's forward and backward passes of G and D alone", "seconds_per_step": round(step_bare, 3),
         "seconds_runs": [round(t, 3) for t in bare_runs], "trainer_overhead": round(overhead, 4),
         "bare_step_spread": round(bare_spread, 4)},
    ]
    write_result(
        "gan_speed", results,
        reference={"what": f"diffusion sampling (ADM-64, DPM-Solver++ {STEPS} steps) at the same resolution, and bare forward/backward "
                   "passes of the same step", "value": {"diffusion_seconds_per_image": per_image["diffusion"],
                                                         "bare_step_seconds": step_bare},
                   "source": "measured side by side"},
        goal={"metric": "GAN speed-up per image in process; trainer step time over bare passes - 1",
              "target": {"gan_speedup": ">= 20", "trainer_overhead": "< 0.10"},
              "achieved": {"gan_speedup": round(speedup, 2), "trainer_overhead": round(overhead, 4)},
              "met": bool(speedup >= 20 and overhead < 0.10)},
        notes=("Untrained weights (cost does not depend on them). The whole-process rows include Python start-up, "
               "imports, loading the run and writing FITS, which shrink the GAN's lead; the goal is on the in-process rows. "
               "The trainer's step includes the data loader, both Adam steps and the EMA of G (the interval it is timed over "
               "ends before that interval's log row is written). Single bare steps spread by bare_step_spread (coefficient of "
               "variation); an overhead within that spread, of either sign, is noise. Arms are interleaved because this "
               "machine's speed drifts with other load."),
    )


if __name__ == "__main__":
    main()
