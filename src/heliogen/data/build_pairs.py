"""``heliogen data build --kind magnetogram-pairs``: a store of co-registered two-instrument pairs.

Files are paired by time (:func:`heliogen.data.pairs.match_pairs`), then built like any
magnetogram store (resumable, in parallel, bad inputs skipped) with each high-resolution
file's partner as the low-resolution image of its rows. Files left without a partner are
recorded as skipped, with the reason, beside the build's own skips.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import HeliogenError
from .build import BuildReport, build_store, resolve_inputs
from .pairs import DEFAULT_TOLERANCE_MIN, UNPAIRED, match_pairs
from .staging import build_lock
from .store import Store

__all__ = ["build_pair_store"]


def build_pair_store(hr_inputs, lr_inputs, out, crop: int, crop_mode: str = "ar", tolerance_min: float = DEFAULT_TOLERANCE_MIN,
                     factor: int = 4, reproject: str = "adaptive", workers: int = 1, progress: bool = True,
                     n_random: int = 1, positions=None, seed: int = 0) -> BuildReport:
    """Build (or resume) the paired store ``out`` from high- and low-resolution files.

    Parameters
    ----------
    hr_inputs, lr_inputs : path, glob or list
        High-resolution (HMI) and low-resolution (MDI) magnetograms.
    crop : int
        High-resolution crop side C (a multiple of ``factor``); the low-resolution crops are C/f.
    crop_mode : {"ar", "center", "random", "list"}
    tolerance_min : float
        Largest time between the two observations of a pair (minutes).
    factor : int
        Resolution ratio; 4 for MDI (2") to HMI (0.5").
    reproject : {"adaptive", "interpolation", "exact"}
        sunpy ``reproject_to`` algorithm for the low-resolution map.

    Returns
    -------
    BuildReport
        With the unpaired files among ``skipped``.
    """
    if crop % factor:
        raise HeliogenError(f"--crop {crop} is not divisible by the factor {factor}")
    pairs, unpaired = match_pairs(resolve_inputs(hr_inputs), resolve_inputs(lr_inputs), tolerance_min)
    if not pairs:
        reasons = "; ".join(sorted({r.split(" (")[0] for r in unpaired.values()}))
        raise HeliogenError(f"no high/low-resolution pair within {tolerance_min:g} min ({reasons})")
    partners = {str(h.resolve()): [str(lr.resolve()), dt] for h, lr, dt in pairs}
    report = build_store([h for h, _, _ in pairs], out, "magnetogram", crop, workers=workers, progress=progress,
                         crop=crop, crop_mode=crop_mode, n_random=n_random, positions=positions, seed=seed,
                         pairs=factor, partners=partners, pair_tolerance=float(tolerance_min), reproject=reproject)
    with build_lock(Path(out)):
        store = Store(Path(out), mode="r+")
        skipped = dict(store.attrs.get("skipped", {}))
        # a file paired now that was unpaired in an earlier run is no longer skipped
        for h, lr, _ in pairs:
            for f in (h, lr):
                if skipped.get(str(f.resolve()), "").startswith(UNPAIRED):
                    skipped.pop(str(f.resolve()))
        # a file whose rows a run before this one stored is kept, not called skipped
        stored = set(store.column("source")) | set(store.column("pair_source")) if store.n else set()
        unpaired = {f: why for f, why in unpaired.items() if f not in stored}
        skipped.update(unpaired)
        store.commit(skipped=skipped)
    report.skipped.update(unpaired)
    return report
