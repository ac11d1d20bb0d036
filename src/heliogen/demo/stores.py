"""Demo stage: build the EUV, magnetogram and granulation stores from the synthetic FITS files."""

from __future__ import annotations

from ..viz.report import Section
from .stage import DemoContext, StageOutput

__all__ = ["build_stores"]


def build_stores(ctx: DemoContext) -> StageOutput:
    """Build the three stores (a second run finds every file done and adds nothing)."""
    from ..data.build import build_store

    raw, stores = ctx.raw, ctx.stores
    paths = {"euv": stores / "euv.zarr", "magnetogram": stores / "magnetogram.zarr", "granulation": stores / "granulation.zarr"}
    reports = [
        build_store(raw / "euv", paths["euv"], "euv", ctx.sizes.euv_size, wavelength=193, progress=False),
        build_store(raw / "magnetogram", paths["magnetogram"], "magnetogram", 128, crop=128, crop_mode="ar", pairs=4, progress=False),
        build_store(raw / "granulation", paths["granulation"], "granulation", 64, progress=False),
    ]
    section = Section("Data: synthetic FITS to stores")
    section.table([{"store": r.store.name, "samples": r.total_samples, "files": r.added_files + r.already_done,
                    "skipped": len(r.skipped)} for r in reports])
    section.text(f"EUV images resampled to {ctx.sizes.euv_size} px, magnetograms cropped to 128 px around the strongest "
                 "active region, granulation patches cut into 64 px tiles with ten augmentations each.")
    return StageOutput([section], {f"{kind}_store": path for kind, path in paths.items()})
