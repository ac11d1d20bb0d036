"""The demo's stages in order, each with its time share, and the runner that times them.

The whole demo must finish within :data:`DEMO_BUDGET_S` on two CPU cores once the virtual
environment exists, including Python's start-up (:data:`RESERVED_S`). Each stage's
budget is a declared share; the training stages keep to theirs by a fixed step count measured
to fit (so a seed gives the same result on any machine), and the report's timing table shows
each budget beside the measured time.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..viz.report import Report, Section
from .diffusion import class_conditional_diffusion
from .evaluation import evaluate_samples
from .gan import full_disk_gan
from .labels import flare_labels
from .mosaic import granulation_mosaics
from .quicklooks import quicklooks
from .stage import DemoContext, DemoSizes, Stage
from .stores import build_stores
from .superres import magnetogram_superres
from .synthesise import synthesise

__all__ = ["STAGES", "STAGE_BUDGETS", "RESERVED_S", "DEMO_BUDGET_S", "TITLE", "run_demo"]

log = logging.getLogger("heliogen")

DEMO_BUDGET_S = 600.0  # `make demo` on 2 cores, after the virtual environment is built

STAGES: list[Stage] = [
    Stage("synthesise", synthesise, 20.0),  # magnetograms with sub-arcsecond structure take ~10 s of it
    Stage("build stores", build_stores, 10.0),
    Stage("flare labels", flare_labels, 5.0),
    Stage("quicklooks", quicklooks, 10.0),
    Stage("train class-conditional diffusion", class_conditional_diffusion, 150.0),
    Stage("evaluate samples", evaluate_samples, 60.0),
    Stage("granulation tiles and mosaics", granulation_mosaics, 60.0),
    Stage("full-disk EUV GAN", full_disk_gan, 130.0),
    Stage("magnetogram super-resolution", magnetogram_superres, 130.0),
]
STAGE_BUDGETS = {stage.name: stage.budget_s for stage in STAGES}

# Held back for starting Python and importing torch.
RESERVED_S = {"start-up and imports": 20.0}

TITLE = ("heliogen demo: synthetic Sun → stores → class-conditional diffusion → evaluation → granulation tiles and mosaics "
         "→ full-disk EUV GAN → magnetogram super-resolution")
OPENING = (
    "This report runs heliogen's pipeline end to end on the synthetic Sun, with no network and no observation: "
    "it writes seeded EUV images, magnetograms, granulation and GOES curves as FITS/CSV, builds the dataset stores, "
    "labels the EUV images with their GOES flare class, trains a small class-conditional diffusion model and samples "
    "every class, evaluates the samples against held-out images, trains a granulation tile GAN whose tiles are "
    "stitched into mosaics, trains a StyleGAN2 against the ProjectedGAN discriminator on the full-disk EUV images, "
    "and trains 4x magnetogram super-resolution (latent diffusion on residuals and two deterministic baselines) "
    "that it evaluates and applies to a synthetic MDI full disk.",
    "Every model here is trained for CPU minutes: the figures show the pipeline working, not the models' quality. "
    "The timing table at the end gives each stage's time share beside the time it took.",
)


def run_demo(out="demo-output", seed: int = 0, n_euv: int = DemoSizes.n_euv, euv_size: int = DemoSizes.euv_size,
             diffusion_steps: int = DemoSizes.diffusion_steps, tile_steps: int = DemoSizes.tile_steps,
             gan_steps: int = DemoSizes.gan_steps, stages: list[Stage] | None = None) -> Path:
    """Run every demo stage into ``out`` and return the path of ``out/report.html``.

    A second run in the same folder reuses what the first wrote (stores, finished runs, the
    tile bank), so it only samples, evaluates and plots again.

    Parameters
    ----------
    out : path
        Output folder: ``data``, ``stores``, ``runs``, ``figures``, ``evaluation``, ``mosaic``
        and ``report.html``.
    seed : int
        Seed of the synthetic Sun and of every model.
    n_euv, euv_size, diffusion_steps, tile_steps, gan_steps
        See :class:`heliogen.demo.stage.DemoSizes`; the defaults fit :data:`STAGE_BUDGETS`.
    stages : list of Stage, optional
        The stages to run, :data:`STAGES` by default.
    """
    ctx = DemoContext(Path(out), seed, DemoSizes(n_euv, euv_size, diffusion_steps, tile_steps, gan_steps))
    for folder in (ctx.raw, ctx.stores, ctx.figures):
        folder.mkdir(parents=True, exist_ok=True)
    report = Report(TITLE, lead=(*OPENING, f"Seed {seed}."), contents=True)
    timings = []
    for stage in STAGES if stages is None else stages:
        log.info("demo: %s (budget %.0f s)", stage.name, stage.budget_s)
        ctx.budget_s = stage.budget_s
        start, cpu_start = time.perf_counter(), time.process_time()
        output = stage.run(ctx)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        if seconds > stage.budget_s:
            log.warning("demo: %s took %.0f s, over its %.0f s budget", stage.name, seconds, stage.budget_s)
        timings.append((stage, seconds, cpu_seconds))
        ctx.products.update(output.products)
        report.add(*output.sections)
    report.add(timing_section(timings))
    return report.write(ctx.out / "report.html")


def timing_section(timings: list[tuple[Stage, float, float]]) -> Section:
    """The timing table: each stage's budget beside its measured wall-clock and CPU seconds, then the totals.

    CPU seconds count every thread of this process; wall-clock seconds well above them mean
    the machine was busy with other work.
    """
    rows = [{"stage": stage.name, "budget (s)": stage.budget_s, "seconds": round(seconds, 1), "CPU seconds": round(cpu, 1),
             "within budget": "yes" if seconds <= stage.budget_s else "over"} for stage, seconds, cpu in timings]
    budget = sum(stage.budget_s for stage, _, _ in timings)
    spent, cpu = sum(t for _, t, _ in timings), sum(c for _, _, c in timings)
    rows.append({"stage": "total", "budget (s)": budget, "seconds": round(spent, 1), "CPU seconds": round(cpu, 1),
                 "within budget": "yes" if spent <= budget else "over"})
    section = Section("Timing")
    section.table(rows)
    reserved = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in RESERVED_S.items())
    section.text(f"The demo's budget is {DEMO_BUDGET_S:.0f} s on two CPU cores; besides the stages above it holds back {reserved}. "
                 "Training stages keep to their share by a fixed step count measured to fit, so a seed gives the same "
                 "models everywhere; a slower or busier machine shows up here as time over budget.", note=True)
    return section
