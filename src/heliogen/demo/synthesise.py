"""Demo stage: write the synthetic Sun's EUV images, GOES curve, magnetograms and granulation as FITS/CSV."""

from __future__ import annotations

from ..viz.report import Section
from .stage import DemoContext, StageOutput

__all__ = ["synthesise"]


def synthesise(ctx: DemoContext) -> StageOutput:
    """Write ``n_euv`` EUV 193 A images at four times the store size, the GOES curve of the same
    times, four HMI-like magnetograms and eight granulation patches, all from ``ctx.seed``."""
    from ..data.synth import write_synth

    raw, n, size = ctx.raw, ctx.sizes.n_euv, ctx.sizes.euv_size
    euv = write_synth("euv", n, size * 4, ctx.seed, raw / "euv", wavelength=193)
    write_synth("goes", n, 0, ctx.seed, raw / "goes")
    magnetograms = write_synth("magnetogram", 4, 512, ctx.seed, raw / "magnetogram", instrument="hmi")
    granulation = write_synth("granulation", 8, 256, ctx.seed, raw / "granulation")
    section = Section("The synthetic Sun").text(
        "Everything below runs on heliogen's synthetic Sun: physically motivated, seeded EUV disks, magnetograms, "
        "granulation and GOES curves written as FITS/CSV with instrument-like headers. They are synthetic, not observations. "
        f"Seed {ctx.seed}: {len(euv)} EUV 193 A images at {size * 4} px, {len(magnetograms)} HMI-like magnetograms, "
        f"{len(granulation)} granulation patches and one GOES XRS curve with its flare list."
    )
    return StageOutput([section], {"goes_csv": raw / "goes" / "goes_xrs_synthetic.csv",
                                   "flare_list": raw / "goes" / "flarelist_synthetic.csv"})
