"""``heliogen superres IN.fits... -o OUT_DIR --model RUN``: 4x super-resolved magnetograms as FITS.

Each input (a crop or a full disk) is turned north up (exactly where its roll allows), MDI is
scaled by 1/1.4 (detected from INSTRUME), the field is clipped to +-3000 G, and off-disk NaN
becomes 0 for the network and NaN again in the output. The image is processed in overlapping
tiles (:mod:`.tiling`), ``samples`` predictions per tile, and the weighted sums of the
predictions and of their squares accumulate in memory-mapped files in the output folder, so
memory is bounded by the tile size whatever the disk's. The FITS written holds:

* primary: the mean of the samples (G), with the input's header and its WCS moved to the
  new grid: CDELT / 4, CRPIX' = 4 (CRPIX - 0.5) + 0.5, NAXIS x 4, observer keywords kept;
* ``STD``: the per-pixel standard deviation over the samples (G; 0 for deterministic models);
* ``STD_SMALL`` and ``STD_LARGE``: its Butterworth high-pass (scales under 2") and the rest,
  and ``UNC_MASK``, the pixels whose small-scale uncertainty is in its top decile (paper fig. 11);
* ``PROVENANCE``: the model, checkpoint, sampler, steps and one seed per sample.

Every image extension carries the same WCS and observer, so ``sunpy.map.Map(path)`` gives the
prediction and its uncertainty maps as maps on one grid.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.fitsio import read_map
from ..data.magnetogram import check_magnetogram, hmi_equivalent, is_mdi
from ..data.orient import north_up
from ..errors import BadInput, HeliogenError
from ..progress import bars_off
from ..training.rundir import from_model_space, open_run, to_model_space
from .models import DIFFUSION_MODELS
from .sample import SuperResolver, super_resolve, target_shape
from .tiling import blend_window, position_noise, tile_starts

__all__ = ["superres_files", "superres_map", "superres_header"]

FACTOR = 4


def _prepare(smap, source):
    check_magnetogram(smap, source)
    smap, reorient, _ = north_up(smap)
    mdi = is_mdi(smap)
    return smap, hmi_equivalent(smap.data, mdi), reorient, mdi


def superres_header(meta: dict, shape_out, extra: dict) -> dict:
    """The output header: the input's, with the WCS on the 4x finer grid and heliogen's keywords."""
    header = {k: v for k, v in meta.items() if k.lower() not in ("naxis", "naxis1", "naxis2", "bitpix", "bscale", "bzero", "blank",
                                                                  "datamin", "datamax", "datamean", "datarms", "simple", "extend",
                                                                  "xtension", "pcount", "gcount", "checksum", "datasum", "comment", "history")}
    for axis in (1, 2):
        header[f"cdelt{axis}"] = float(meta[f"cdelt{axis}"]) / FACTOR
        header[f"crpix{axis}"] = FACTOR * (float(meta[f"crpix{axis}"]) - 0.5) + 0.5
    for key in ("cd1_1", "cd1_2", "cd2_1", "cd2_2"):  # a CD matrix carries the pixel size itself
        if key in header:
            header[key] = float(header[key]) / FACTOR
    header["bunit"] = "Gauss"
    header.update({k.lower(): v for k, v in extra.items()})
    return header


def _tiles(ny, nx, tile, overlap):
    ys, xs = tile_starts(ny, tile, overlap), tile_starts(nx, tile, overlap)
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            yield y0, x0, (i > 0, i < len(ys) - 1, j > 0, j < len(xs) - 1)


def superres_map(sr: SuperResolver, field: np.ndarray, data_range, normalisation, work: Path, samples: int = 10, seed: int = 0,
                 sampler: str = "dpmpp", steps: int = 20, tile: int | None = None, overlap: int | None = None, tile_batch: int = 4,
                 progress: bool = True):
    """``(mean, std)`` memory maps (G) of ``field`` (low resolution, G, NaN off disk) super-resolved 4x."""
    ny, nx = field.shape
    tile = int(tile or min(max(ny, nx), 64))
    overlap = int(tile // 8 if overlap is None else overlap)
    if ny < tile or nx < tile:  # a small crop: one tile of its own size
        tile, overlap = min(ny, nx), 0
        if ny != nx:
            raise HeliogenError(f"a {ny}x{nx} input is smaller than --tile {tile} and not square; give --tile {min(ny, nx)}")
    finite = np.isfinite(field)
    model_in = to_model_space(normalisation.forward(np.where(finite, field, 0.0)), data_range)
    acc = {name: np.lib.format.open_memmap(work / f"{name}.npy", mode="w+", dtype=np.float64, shape=(FACTOR * ny, FACTOR * nx))
           for name in ("sum", "sq", "weight")}
    diffusion = sr.model in DIFFUSION_MODELS
    n_samples = samples if diffusion else 1
    seeds = [seed + k for k in range(n_samples)]
    jobs = list(_tiles(ny, nx, tile, overlap))
    bar = tqdm(total=len(jobs) * n_samples, desc=f"superres {sr.model}", unit="tile", disable=bars_off(progress))
    T = FACTOR * tile
    for start in range(0, len(jobs), tile_batch):
        batch = jobs[start:start + tile_batch]
        lr = torch.from_numpy(np.stack([model_in[y0:y0 + tile, x0:x0 + tile] for y0, x0, _ in batch])[:, None]).float()
        total, squares = np.zeros((len(batch), T, T)), np.zeros((len(batch), T, T))
        for s in seeds:
            noise = None
            if diffusion:
                shape = target_shape(sr, lr.shape)
                f = T // shape[-1]
                noise = torch.stack([position_noise(s, shape, FACTOR * y0 // f, FACTOR * x0 // f) for y0, x0, _ in batch])
            pred = super_resolve(sr, lr, [s] * len(batch), sampler, steps, eval_batch=4, noise=noise)
            phys = normalisation.physical(from_model_space(pred.clamp(-1, 1).cpu().numpy().astype(np.float64), data_range))[:, 0]
            total += phys
            squares += phys**2
            bar.update(len(batch))
        for k, (y0, x0, neighbours) in enumerate(batch):
            w = blend_window(T, FACTOR * overlap, neighbours)
            region = (slice(FACTOR * y0, FACTOR * y0 + T), slice(FACTOR * x0, FACTOR * x0 + T))
            acc["sum"][region] += w * total[k] / n_samples
            acc["sq"][region] += w * squares[k] / n_samples
            acc["weight"][region] += w
    bar.close()
    shape = (FACTOR * ny, FACTOR * nx)
    mean = np.lib.format.open_memmap(work / "mean.npy", mode="w+", dtype=np.float32, shape=shape)
    std = np.lib.format.open_memmap(work / "std.npy", mode="w+", dtype=np.float32, shape=shape)
    for r0 in range(0, shape[0], 256):  # in row blocks: memory stays bounded by the tile and the block
        rows = slice(r0, min(r0 + 256, shape[0]))
        m = acc["sum"][rows] / acc["weight"][rows]
        v = np.clip(acc["sq"][rows] / acc["weight"][rows] - m**2, 0.0, None) if n_samples > 1 else np.zeros_like(m)
        off = ~np.repeat(np.repeat(finite[r0 // FACTOR:(rows.stop + FACTOR - 1) // FACTOR], FACTOR, axis=0), FACTOR, axis=1)
        m[off], v[off] = np.nan, np.nan
        mean[rows], std[rows] = m, np.sqrt(v)
    return mean, std, seeds


def _write(path: Path, mean, std, header: dict, provenance: dict, seeds, cdelt_out: float):
    from astropy.io import fits

    from ..evaluate.metrics.uncertainty import butterworth_highpass

    cards = fits.Header({k.upper()[:8]: v for k, v in header.items() if isinstance(v, (str, int, float, bool))})
    primary = fits.PrimaryHDU(mean, cards)
    primary.header["HISTORY"] = "super-resolved 4x by heliogen; mean of the samples in Gauss"

    def image(data, name, bunit="Gauss"):
        # every map carries the grid's WCS and observer, so sunpy opens each one as a map
        hdu = fits.ImageHDU(data, cards.copy(), name=name)
        hdu.header["BUNIT"] = bunit
        return hdu

    hdus = [primary, image(std, "STD")]
    filled = np.nan_to_num(std.astype(np.float64))
    try:
        small = butterworth_highpass(filled, cdelt_out).astype(np.float32)
    except HeliogenError:  # pixels too coarse for a 2" cut: no small-scale part to split off
        small = np.zeros_like(std)
    large = std - small
    thr = np.nanquantile(np.abs(small), 0.9) if np.isfinite(small).any() else 0.0
    for name, data, unit in (("STD_SMALL", small, "Gauss"), ("STD_LARGE", large, "Gauss"), ("UNC_MASK", (np.abs(small) > thr).astype(np.uint8), "")):
        hdus.append(image(data, name, unit))
    prov = fits.BinTableHDU.from_columns([fits.Column(name="sample", format="J", array=np.arange(len(seeds))),
                                          fits.Column(name="seed", format="K", array=np.asarray(seeds))], name="PROVENANCE")
    for key, value in provenance.items():
        prov.header[key] = value
    fits.HDUList(hdus + [prov]).writeto(path, overwrite=True)


def superres_files(inputs, out, run_dir, samples: int = 10, sampler: str = "dpmpp", steps: int = 20, tile: int | None = None,
                   overlap: int | None = None, seed: int = 0, checkpoint=None, device: str = "cpu", tile_batch: int = 4,
                   progress: bool = True) -> dict:
    """Super-resolve each input FITS into ``out``; a bad input is skipped with its reason."""
    run = open_run(run_dir)
    if run.kind != "superres":
        raise HeliogenError(f"{run_dir} is a {run.kind} run, not a super-resolution run (heliogen train superres)")
    if run.data.get("kind") != "magnetogram":
        raise HeliogenError(f"{run_dir} was trained on {run.data.get('kind')} images, not magnetograms")
    from ..data.normalise import Normalisation

    sr = SuperResolver.from_run(run, checkpoint=checkpoint, device=device)
    norm, data_range = Normalisation.from_dict(run.data["normalisation"]), run.data["data_range"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, skipped = [], {}
    for path in inputs:
        path = Path(path)
        try:
            smap, field, reorient, mdi = _prepare(read_map(path), str(path))
        except BadInput as err:
            skipped[str(path)] = err.reason
            continue
        work = Path(tempfile.mkdtemp(prefix=".superres-", dir=out))
        try:
            mean, std, seeds = superres_map(sr, field, data_range, norm, work, samples, seed, sampler, steps, tile, overlap, tile_batch, progress)
            provenance = {"HGMODEL": sr.model, "HGRUN": str(Path(run_dir).resolve())[-68:], "HGCKPT": run.checkpoint(checkpoint).name,
                          "HGSAMPLR": sampler if sr.model in DIFFUSION_MODELS else "none", "HGSTEPS": steps if sr.model in DIFFUSION_MODELS else 0,
                          "HGNSAMP": len(seeds), "HGSEED": seed}
            extra = dict(provenance, HGREORNT=reorient or "none", HGMDISCL=("x1/1.4 (MDI to HMI)" if mdi else "none"))
            header = superres_header(dict(smap.meta), mean.shape, extra)
            target = out / f"{path.name.split('.')[0]}_superres.fits"
            _write(target, mean, std, header, provenance, seeds, float(smap.meta["cdelt1"]) / FACTOR)
            written.append(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    summary = {"written": [str(p) for p in written], "skipped": skipped}
    (out / "superres.json").write_text(json.dumps(summary, indent=2))
    return summary
