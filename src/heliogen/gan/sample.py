"""Sampling a GAN run to files: one FITS per image in physical units, and a PNG grid.

Image k is ``G.generate([seed + k])``: its z and noise come from its own seed (the FITS header's
SEED) and the network always runs on fixed micro-batches, so an image is the same to the bit
whatever ``batch`` it is drawn in. Values are the store's normalisation inverted (DN/s for EUV);
headers carry the training grid's instrument and helioprojective WCS, and the model, run kind,
checkpoint, weights, seed and truncation.
"""

from __future__ import annotations

import numpy as np

from ..data.fitsio import write_map
from ..data.grid_header import grid_map
from ..errors import HeliogenError
from ..sample import load_for_sampling, output_folder, sample_seeds

__all__ = ["sample_gan_run", "EVAL_BATCH"]

EVAL_BATCH = 8  # the generator's micro-batch; fixes the numerics whatever --batch is


def sample_gan_run(run_dir, out, n: int = 16, seed: int = 0, batch: int = 16, checkpoint=None, device: str = "auto",
                   progress: bool = True, weights: str = "ema", truncation: float = 1.0, edit: str | None = None,
                   directions_path=None) -> dict:
    """Sample ``n`` images of a GAN run into ``out``; returns ``{"fits": [paths], "grid": path}``.

    Parameters
    ----------
    run_dir, out : path
    n, seed : int
        Image k uses seed ``seed + k``.
    batch : int
        Seeds handed to the generator at a time (memory only; results do not depend on it).
    checkpoint : None, str or int
        A checkpoint of the run (default the newest).
    weights : {'ema', 'raw'}
    truncation : float
        psi of the truncation trick (1: none).
    edit : str, optional
        A GANSpace edit, ``"0=+2.0,1=-1.5"``: steps along the directions in their standard
        deviations, applied to the (truncated) w of each seed.
    directions_path : path, optional
        The directions file of ``heliogen gan directions`` (default ``RUN/ganspace/directions.npz``);
        it must come from the same generator weights.
    """
    from tqdm.auto import tqdm

    from ..progress import bars_off
    from ..viz.quicklook import plot_grid

    if not 0.0 <= float(truncation) <= 1.0:
        raise HeliogenError(f"--truncation {truncation} must lie in [0, 1]")
    run, ckpt, G = load_for_sampling(run_dir, "gan", "GAN", "G", checkpoint, weights, device)
    out = output_folder(out)
    seeds = sample_seeds(seed, n)
    draw = _edited_generate(G, run, edit, directions_path) if edit else G.generate
    chunks = [draw(seeds[i:i + batch], psi=float(truncation), eval_batch=EVAL_BATCH).float().cpu().numpy()
              for i in tqdm(range(0, n, batch), desc="sample", unit="batch", disable=bars_off(progress))]
    phys = run.physical(np.concatenate(chunks))
    header = run.header
    paths = []
    for k, s in enumerate(seeds):
        path = out / f"gan_{s:06d}.fits"
        write_map(grid_map(phys[k, 0], header, comment=None), path, model=run.path.name, runkind=run.kind, ckpt=ckpt.name,
                  weights=weights, seed=s, trunc=float(truncation), edit=edit, generatd=True)
        paths.append(path)
    show = min(n, 64)
    grid = plot_grid(phys[:show, 0], run.data["kind"], out / "grid.png", titles=[f"seed {s}" for s in seeds[:show]],
                     wavelength=header.get("WAVELNTH"), instrument=header.get("INSTRUME", ""),
                     suptitle=f"{run.path.name}: GAN, {ckpt.name} ({weights}, psi={truncation:g})"
                     + (f", edit {edit}" if edit else ""))
    return {"fits": paths, "grid": grid}


def _edited_generate(G, run, edit: str, directions_path):
    """``G.generate`` with a GANSpace edit applied to every seed's w."""
    from ..gan.directions import generate_edited, load_directions, parse_edit

    path = directions_path or run.path / "ganspace" / "directions.npz"
    found = load_directions(path, generator=G)
    steps = parse_edit(edit, components=found.k)

    def draw(seeds, psi, eval_batch):
        return generate_edited(G, seeds, found, steps, psi=psi, eval_batch=eval_batch)

    return draw
