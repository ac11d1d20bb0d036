"""``heliogen mosaic build``: greedy matching, blending, optional GA refinement and a streamed
writer, one row of tiles at a time (granulation thesis sec. 3.4).

Memory is the bank (N S^2 float16), its strip index (2 N S ov float32) and about three rows of
tiles; the mosaic itself only ever exists on disk. A GA-refined or latent-blended row is
decoded again by the bank's generator.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..errors import HeliogenError
from .bank import TileBank, open_bank
from .blending import blend_row, blend_rows, feature_overlap
from .matching import alpha_weights
from .matching import check_geometry, mosaic_side
from .greedy import GreedyMatcher
from .refine import GASettings
from .seams import SeamAccumulator
from .writer import PreviewAccumulator, check_writable, output_format, write_stream

__all__ = ["parse_grid", "GreedyMatcher", "build_mosaic", "default_layer"]


def parse_grid(text) -> tuple[int, int]:
    """'50x50' (rows x columns) or '50' -> (50, 50), with one clear error otherwise."""
    if isinstance(text, (tuple, list)):
        return int(text[0]), int(text[1])
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*", str(text))
    if not m:
        raise HeliogenError(f"--grid {text!r} is not ROWSxCOLS (e.g. 50x50)")
    gy = int(m.group(1))
    return gy, int(m.group(2) or gy)


def default_layer(generator, overlap: int) -> int:
    """The generator layer for latent blending: the coarsest at or above a quarter of the tile
    size where the overlap is a whole number of feature pixels (the 64 px layer for 128 px
    tiles and a 10 px overlap; the 32 px layer for overlaps of 4k px)."""
    for i, r in enumerate(generator.resolutions):
        if r >= generator.size // 4 and overlap % (generator.size // r) == 0:
            return i
    return generator.n_layers - 1


def _pixel_rows(matched, size: int, overlap: int):
    """Row blocks of the pixel-blended mosaic (eq. 4 across columns, then rows)."""
    pending = None
    rows = list(matched) if isinstance(matched, list) else matched
    it = iter(rows)
    cur = next(it, None)
    while cur is not None:
        nxt = next(it, None)
        strip = blend_row(cur[1], overlap)
        if pending is not None:
            blend_rows(pending, strip, overlap)
        pending = strip[size - overlap:].copy()
        yield cur, (strip if nxt is None else strip[: size - overlap])
        cur = nxt


def _row_canvas(feats: torch.Tensor, ovl: int) -> torch.Tensor:
    """A row of tile feature maps (G, C, R, R) alpha-blended side by side into (C, R, G(R-ovl)+ovl)."""
    g, c, r, _ = feats.shape
    step = r - ovl
    a = torch.as_tensor(alpha_weights(ovl), dtype=feats.dtype)
    out = feats.new_empty(c, r, g * step + ovl)
    out[:, :, :r] = feats[0]
    for i in range(1, g):
        x0 = i * step
        out[:, :, x0:x0 + ovl] = out[:, :, x0:x0 + ovl] * a + feats[i, :, :, :ovl] * (1 - a)
        out[:, :, x0 + ovl:x0 + r] = feats[i, :, :, ovl:]
    return out


def latent_overlap(generator, layer: int, overlap: int) -> int:
    """Overlap in feature pixels at ``layer``; it must map to whole feature pixels (one clear error)."""
    res = generator.resolutions[layer]
    f = generator.size // res
    if overlap % f:
        raise HeliogenError(f"latent blending at the {res} px layer needs an overlap that is a multiple of {f} px; "
                            f"choose another --layer or --overlap")
    return feature_overlap(overlap, generator.size, res)


def _latent_blocks(matched, generator, layer: int, overlap: int, halo: int = 2, budget: float = 2**26):
    """Latent blending (sec. 3.4.2, after TileGAN, Fruehstueck et al. 2019): the tiles' feature
    maps at ``layer`` are alpha-blended (eq. 4 at the layer's scale) into one continuous feature
    canvas, and the rest of the generator decodes that canvas, so the convolutions run across
    the seams instead of stopping at each tile's zero padding.

    Streams: the canvas holds about two tile rows of features; each slab of final feature rows
    is decoded with ``halo`` feature rows/columns of context on each side (wider than the
    receptive field of the remaining layers) in column chunks of bounded size. Yields
    ``(row, block)`` like :func:`_pixel_rows`.
    """
    size = generator.size
    res = generator.resolutions[layer]
    f = size // res
    ovl = latent_overlap(generator, layer, overlap)
    step = res - ovl
    widest = max(generator.channels[layer:])

    @torch.no_grad()
    def decode(slab: torch.Tensor) -> np.ndarray:
        c, h, w = slab.shape
        cw = max(8, int(budget // (widest * h * f * f * 4)))  # keep each decode's activations to ~budget floats
        parts = []
        for x0 in range(0, w, cw):
            lo, hi = max(0, x0 - halo), min(w, x0 + cw + halo)
            img = generator.from_features(slab[None, :, :, lo:hi], layer)[0, 0]
            parts.append(img[:, (x0 - lo) * f:(x0 - lo) * f + (min(w, x0 + cw) - x0) * f])
        return torch.cat(parts, dim=1).numpy()

    canvas, c0 = None, 0  # canvas holds feature rows [c0, c0 + canvas height)
    done = 0  # feature rows decoded and emitted so far
    rows = []

    def emit(upto: int, last: bool):
        nonlocal canvas, c0, done
        a, b = done, upto
        lo = max(c0, a - halo)
        hi = min(c0 + canvas.shape[1], b + halo)
        img = decode(canvas[:, lo - c0:hi - c0])
        block = img[(a - lo) * f:(b - lo) * f]
        done = b
        keep = max(c0, b - halo)
        canvas, c0 = canvas[:, keep - c0:], keep
        return block

    @torch.no_grad()
    def features(z):
        z = torch.as_tensor(z)
        return torch.cat([generator.features(z[i:i + 32], layer) for i in range(0, len(z), 32)])

    for r, row in enumerate(matched):
        rc = _row_canvas(features(row[2]), ovl)
        if canvas is None:
            canvas = rc
        else:
            a = torch.as_tensor(alpha_weights(ovl), dtype=rc.dtype)[:, None]
            top = canvas[:, -ovl:] * a + rc[:, :ovl] * (1 - a)
            canvas = torch.cat([canvas[:, :-ovl], top, rc[:, ovl:]], dim=1)
        rows.append(row)
        if r > 0:  # rows above r * step are final once tile row r is in (one row of lag)
            yield rows.pop(0), emit(r * step, False)
    if rows:
        yield rows.pop(0), emit(c0 + canvas.shape[1], True)


def _check_methods(blend: str, refine: str | None) -> str | None:
    """Validate the blending and refinement choices; returns ``refine`` with 'none' as None."""
    if blend not in ("pixel", "latent"):
        raise HeliogenError(f"--blend {blend!r}: choose pixel or latent")
    if refine not in (None, "none", "ga"):
        raise HeliogenError(f"--refine {refine!r}: choose ga")
    return None if refine == "none" else refine


def _latent_tools(bank, blend: str, refine: str | None, overlap: int, layer: int | None):
    """(generator, z, layer) for latent blending or GA refinement, or Nones for plain pixel blending."""
    if blend != "latent" and refine != "ga":
        return None, None, layer
    generator = bank.generator("latent blending" if blend == "latent" else "GA refinement")
    z = bank.latents()
    if blend == "latent":
        layer = default_layer(generator, overlap) if layer is None else int(layer)
        if not 0 <= layer < generator.n_layers:
            raise HeliogenError(f"--layer {layer}: the generator has layers 0..{generator.n_layers - 1}")
        latent_overlap(generator, layer, overlap)
    return generator, z, layer


def _mosaic_cards(bank, grid, size, overlap, blend, refine, seed, reuse, physical: bool) -> dict:
    """FITS cards that record how a mosaic was made, after heliogen's provenance cards."""
    from ..data.fitsio import provenance_cards
    from ..data.kinds import kind_spec

    cards = {"GRIDROWS": grid[0], "GRIDCOLS": grid[1], "TILESIZE": size, "OVERLAP": overlap, "BLEND": blend,
             "REFINE": refine or "none", "SEED": seed, "REUSE": reuse, "TILESTEP": size - overlap,
             "BANK": str(Path(bank.path).name)[:60],
             # I/<I> is dimensionless, so BUNIT is empty as the FITS standard wants; HGVALUES names the quantity
             "BUNIT": kind_spec("granulation").fits_bunit, "HGVALUES": "I/<I>" if physical else "model space [-1, 1]"}
    return {**provenance_cards(model="tile GAN mosaic"), **cards}


def build_mosaic(bank, grid, overlap: int, out, preview=None, blend: str = "pixel", refine: str | None = None, seed: int = 0,
                 reuse: bool = False, layer: int | None = None, ga: GASettings | None = None, physical: bool = True,
                 progress: bool = True, tiles: np.ndarray | None = None, preview_side: int = 2048) -> dict:
    """Build a mosaic from a tile bank and stream it to ``out`` (FITS, TIFF or Zarr).

    Parameters
    ----------
    bank : TileBank or path
    grid : (rows, cols) or 'RxC'
    overlap : int
        Overlap in pixels (10, 15 or 20 for 128 px tiles in the thesis).
    out : path
        ``.fits``, ``.tif``/``.tiff`` or ``.zarr``.
    preview : path, optional
        Downsampled PNG (at most ``preview_side`` px a side).
    blend : {'pixel', 'latent'}
        Alpha blending of pixels (eq. 4) or of feature maps at ``layer`` (sec. 3.4.2).
    refine : {None, 'ga'}
        GA refinement of each tile's z (sec. 3.4.3) with ``ga`` settings.
    seed : int
        Picks the first tile and seeds the GA.
    reuse : bool
        Allow a bank tile more than once.
    physical : bool
        Write physical values (the source store's normalisation inverted), else model space [-1, 1].
    tiles : ndarray, optional
        The bank's tiles already in memory (benchmarks reuse them across builds).

    Returns
    -------
    dict
        Paths, shape, seam metric (:mod:`heliogen.mosaic.seams`), mean eq. 5 distance of the
        placed tiles, GA statistics and timings.
    """
    t0 = time.perf_counter()
    bank = bank if isinstance(bank, TileBank) else open_bank(bank)
    gy, gx = parse_grid(grid)
    size = bank.size
    check_geometry((gy, gx), size, overlap)
    refine = _check_methods(blend, refine)
    output_format(out)
    check_writable(out)
    if preview:
        check_writable(preview)
    generator, z, layer = _latent_tools(bank, blend, refine, overlap, layer)
    tiles = bank.tiles() if tiles is None else tiles
    ga = (ga or GASettings()) if refine == "ga" else None
    if ga is not None and ga.fitness not in ("eq5", "normalised"):
        raise HeliogenError(f"GA fitness {ga.fitness!r}: choose eq5 or normalised")
    matcher = GreedyMatcher(tiles, (gy, gx), overlap, seed=seed, reuse=reuse, z=z, generator=generator, ga=ga, progress=progress)
    height, width = mosaic_side(gy, size, overlap), mosaic_side(gx, size, overlap)
    seams = SeamAccumulator(width, size, overlap, (gy, gx))
    prev_acc = PreviewAccumulator(height, width, preview_side) if preview else None
    norm = bank.normalisation() if physical else None
    dists: list[float] = []
    y = [0]

    def blocks():
        stream = _latent_blocks(matcher, generator, layer, overlap) if blend == "latent" else _pixel_rows(matcher, size, overlap)
        for row, block in stream:
            dists.extend(row[3].tolist())
            seams.update(block, y[0])
            y[0] += len(block)
            if prev_acc is not None:
                prev_acc.update(block)
            yield block if norm is None else norm.physical(block.astype(np.float64)).astype(np.float32)

    cards = _mosaic_cards(bank, (gy, gx), size, overlap, blend, refine, seed, reuse, physical=norm is not None)
    write_stream(out, height, width, blocks(), cards)
    preview_path = prev_acc.save(preview) if prev_acc is not None else None
    d = np.array(dists[1:]) if len(dists) > 1 else np.zeros(1)
    result = {"out": str(out), "preview": str(preview_path) if preview_path else None, "shape": [height, width], "grid": [gy, gx],
              "tile_size": size, "overlap": overlap, "blend": blend, "refine": refine, "seed": seed, "reuse": reuse,
              "layer": layer if blend == "latent" else None, "seams": seams.result(), "mean_distance": float(d.mean()),
              "seconds": time.perf_counter() - t0}
    if matcher.ga_history:
        h = np.array(matcher.ga_history)
        result["ga"] = {**asdict(ga), "mean_distance_before": float(h[:, 0].mean()), "mean_distance_after": float(h[:, 1].mean()),
                        "mean_fitness_before": float(h[:, 2].mean()), "mean_fitness_after": float(h[:, 3].mean())}
    return result
