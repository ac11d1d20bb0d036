"""Sampling a run to files: one FITS per sample, a PNG grid, per-condition statistics.

FITS values are in physical units (the store's normalisation inverted); headers carry the
training grid's instrument and helioprojective WCS, and the model, sampler, steps, seed and
condition. The flare-class poster shows per-class mean and standard-deviation images;
``stats=True`` writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.fitsio import write_map
from ..data.goes import GOES_CLASSES, class_midpoint_flux, goes_class
from ..data.grid_header import grid_map
from ..errors import HeliogenError
from ..sample import output_folder, sample_seeds
from .sampling import sample_images

__all__ = ["sample_diffusion_run", "conditions_for"]


def conditions_for(cond_kind: str, classes, fluxes) -> list[dict]:
    """The list of conditions to sample: ``{"label", "class_index"?, "log10_flux"?}`` each."""
    classes, fluxes = list(classes or []), list(fluxes or [])
    if cond_kind == "none":
        if classes or fluxes:
            raise HeliogenError("this model is unconditional: it takes no --class or --flux")
        return [{"label": "uncond"}]
    uses_class, uses_flux = "class" in cond_kind, "flux" in cond_kind
    if fluxes and not uses_flux:
        raise HeliogenError("this model is conditioned on the class only: use --class, not --flux")
    if not classes and not fluxes:
        classes = list(GOES_CLASSES)
    unknown = [c for c in classes if c not in GOES_CLASSES]
    if unknown:
        raise HeliogenError(f"unknown GOES class {unknown[0]!r}; use A, B, C, M or X")
    out = []
    if classes and fluxes:
        if len(classes) != len(fluxes):
            raise HeliogenError("give as many --flux values as --class letters (they are paired)")
        pairs = list(zip(classes, fluxes))
    elif classes:
        # a class alone stands for the middle of its decade (log10 flux -6.5 for B, ...)
        pairs = [(letter, class_midpoint_flux(letter)) for letter in classes]
    else:
        pairs = [(str(goes_class(flux)), flux) for flux in fluxes]
    for letter, flux in pairs:
        item = {"label": letter if not uses_flux else (f"{letter}_{flux:.4g}" if uses_class else f"flux{flux:.4g}")}
        if uses_class:
            item["class_index"] = GOES_CLASSES.index(letter)
        if uses_flux:
            item["log10_flux"] = float(np.log10(flux))
        out.append(item)
    labels = [o["label"] for o in out]
    if len(set(labels)) != len(labels):
        raise HeliogenError("the same condition is given twice; each --class/--flux must differ")
    return out


def sample_diffusion_run(run_dir, out, n=16, sampler="dpmpp", steps=20, classes=(), fluxes=(), guidance=None, seed=0,
                         batch=16, eval_batch=8, stats=False, checkpoint=None, device="auto", progress=True,
                         weights="ema") -> dict:
    """Sample ``n`` images per condition from a diffusion run; returns the written paths.

    ``weights``: the EMA (``"ema"``) or the raw (``"raw"``) weights of ``checkpoint`` (default the newest).
    """
    from ..viz.quicklook import plot_grid

    from ..sample import load_for_sampling

    run, ckpt, model = load_for_sampling(run_dir, "diffusion", "diffusion", "model", checkpoint, weights, device)
    dev = next(model.parameters()).device
    conditions = conditions_for(model.cond, classes, fluxes)
    if guidance is not None and not model.conditioned:
        raise HeliogenError("--guidance needs a conditional model; this one is unconditional")
    out = output_folder(out)
    seeds = sample_seeds(seed, n)
    header = run.header
    fits_paths, grids, titles, per_cond = [], [], [], {}
    for condition in conditions:
        label = condition["label"]
        tensors = {}
        if "class_index" in condition:
            tensors["class_index"] = torch.full((n,), condition["class_index"], dtype=torch.long)
        if "log10_flux" in condition:
            tensors["log10_flux"] = torch.full((n,), condition["log10_flux"], dtype=torch.float32)
        x = sample_images(model, run.extras["scheduler"], sampler, steps, seeds, run.shape, cond=tensors or None,
                          guidance=guidance, batch=batch, eval_batch=eval_batch, device=dev, progress=progress)
        phys = run.physical(x)
        per_cond[label] = phys
        for k, sample_seed in enumerate(seeds):
            path = out / f"{label}_{sample_seed:06d}.fits"
            write_map(grid_map(phys[k, 0], header, comment=None), path, model=run.path.name, runkind=run.kind,
                      ckpt=ckpt.name, weights=weights,
                      sampler=sampler, nsteps=steps, seed=sample_seed,
                      goescls=label if "class_index" in condition else None,
                      xrsflux=10 ** condition["log10_flux"] if "log10_flux" in condition else None,
                      guidance=guidance, generatd=True)
            fits_paths.append(path)
        show = min(n, max(1, 64 // len(conditions)))
        grids.append(phys[:show, 0])
        titles += [f"{label} seed {sample_seed}" for sample_seed in seeds[:show]]
    suptitle = f"{run.path.name}: {sampler}-{steps}" + (f", w={guidance}" if guidance is not None else "")
    grid = plot_grid(np.concatenate(grids), run.data["kind"], out / "grid.png", titles=titles, wavelength=header.get("WAVELNTH"),
                     instrument=header.get("INSTRUME", ""), suptitle=suptitle)
    result = {"fits": fits_paths, "grid": grid}
    if stats:
        result["stats"] = _write_stats(per_cond, run, out / "stats", header)
    return result


def _write_stats(per_cond: dict, run, folder: Path, header: dict) -> Path:
    """Mean and standard deviation images per condition, as FITS and one figure."""
    from matplotlib.figure import Figure

    from ..data.kinds import kind_spec
    from ..viz.colormaps import colormap_for, norm_for
    from ..viz.figures import save_figure

    folder.mkdir(parents=True, exist_ok=True)
    labels = list(per_cond)
    fig = Figure(figsize=(2.2 * len(labels) + 0.6, 4.6), layout="constrained")
    axes = fig.subplots(2, len(labels), squeeze=False)
    kind = run.data["kind"]
    means = {label: v[:, 0].mean(axis=0) for label, v in per_cond.items()}
    stds = {label: v[:, 0].std(axis=0, ddof=1) if len(v) > 1 else np.zeros_like(v[0, 0]) for label, v in per_cond.items()}
    mean_norm = norm_for(kind, np.stack(list(means.values())))
    std_max = max(float(s.max()) for s in stds.values()) or 1.0
    for j, label in enumerate(labels):
        for name, img in (("mean", means[label]), ("std", stds[label])):
            write_map(grid_map(img, header), folder / f"{name}_{label}.fits", model=run.path.name, statistc=name,
                      nsamples=len(per_cond[label]), goescls=label)
        axes[0, j].imshow(means[label], origin="lower", cmap=colormap_for(kind, header.get("WAVELNTH")), norm=mean_norm)
        std_image = axes[1, j].imshow(stds[label], origin="lower", cmap="magma", vmin=0, vmax=std_max)
        axes[0, j].set_title(f"{label} mean (n={len(per_cond[label])})", fontsize=8)
        axes[1, j].set_title(f"{label} std", fontsize=8)
        for ax in axes[:, j]:
            ax.set_axis_off()
    fig.colorbar(std_image, ax=axes[1, :], shrink=0.8, label=f"std ({kind_spec(kind).unit})")
    save_figure(fig, folder / "stats.png", tight=False, dpi=110)
    return folder
