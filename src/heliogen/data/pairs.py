"""Paired magnetograms from two instruments: low resolution (MDI, 2") co-registered onto high (HMI, 0.5").

The super-resolution paper fine-tunes on real MDI/HMI pairs from their overlap (May 2010 to
April 2011). A pair is two files observed within a time tolerance: each low-resolution file
takes the high-resolution file nearest in time, and each high-resolution file serves at most
one pair. The high-resolution map is turned north up exactly (:mod:`orient`); the
low-resolution map is reprojected through the two WCS (with sunpy's ``reproject_to``: the
observers' different positions, pointing and roll are all in them) onto the high-resolution
grid coarsened by the factor, block for block, so a ``C x C`` crop of the one matches a
``C/f x C/f`` crop of the other. MDI is scaled by 1/1.4 (Liu et al. 2012), both are clipped to
+-3000 G and off-disk NaN is set to 0, as for single magnetograms.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import BadInput, HeliogenError
from .magnetogram import _crop_corners, check_magnetogram, hmi_equivalent, is_mdi
from .orient import north_up
from .record import Record, map_fields, window_pointing

__all__ = ["match_pairs", "coregister", "preprocess_pair", "observation_time", "REPROJECT_ALGORITHMS",
           "DEFAULT_TOLERANCE_MIN"]

DEFAULT_TOLERANCE_MIN = 30.0
UNPAIRED = ("no high-resolution", "no low-resolution", "every high-resolution", "every low-resolution", "given as both")  # match_pairs' reasons
# sunpy's reproject_to algorithms: "adaptive" (DeForest 2004, anti-aliased) suits resampling
# between plate scales; "exact" is area-exact but slow on full disks
REPROJECT_ALGORITHMS = ("adaptive", "interpolation", "exact")


def _time(header):
    """UTC time (MJD seconds) from DATE-OBS (with TIME-OBS when the date has no time), else T_OBS."""
    from sunpy.time import parse_time

    tried = []
    date, clock = header.get("DATE-OBS") or header.get("DATE_OBS"), header.get("TIME-OBS")
    candidates = []
    if date:
        candidates.append(f"{date}T{clock}" if clock and "T" not in str(date) and ":" not in str(date) else str(date))
    if header.get("T_OBS"):
        candidates.append(str(header["T_OBS"]))  # JSOC's 2010.06.01_00:00:00_TAI is parsed in its own scale
    for text in candidates:
        try:
            return float(parse_time(text.rstrip("Z") if not text.endswith("_TAI") else text).utc.mjd * 86400.0)
        except (ValueError, TypeError) as err:
            tried.append(f"{text!r}: {str(err).splitlines()[0][:80]}")
    raise BadInput("no readable observation time (" + ("; ".join(tried) or "no DATE-OBS or T_OBS") + ")")


def observation_time(path) -> float:
    """Observation time (MJD seconds, UTC) of a FITS file's image HDU, from its header alone."""
    from astropy.io import fits

    try:
        with fits.open(path) as hdus:
            header = next((h.header for h in hdus if h.header.get("NAXIS", 0) >= 2), hdus[0].header)
            return _time(header)
    except BadInput as err:
        raise BadInput(err.reason, str(path)) from None
    except (OSError, ValueError, TypeError) as err:
        raise BadInput(f"unreadable ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})", str(path)) from None


def match_pairs(hr_files, lr_files, tolerance_min: float = DEFAULT_TOLERANCE_MIN):
    """Pair files by observation time.

    Returns
    -------
    pairs : list of (Path, Path, float)
        ``(high-res file, low-res file, |dt| in s)`` (resolved paths), in time order of the high-res
        files; the closest pairs are made first, each file in one pair at most.
    skipped : dict
        File (resolved path) -> reason, for every file that is in no pair.
    """
    if tolerance_min <= 0:
        raise HeliogenError(f"the pairing tolerance must be positive, not {tolerance_min} min")
    skipped, times = {}, {}
    for group in (hr_files, lr_files):
        for f in group:
            try:
                times[Path(f)] = observation_time(f)
            except BadInput as err:
                skipped[str(Path(f).resolve())] = err.reason
    both = {Path(f).resolve() for f in hr_files} & {Path(f).resolve() for f in lr_files}
    for f in both:
        skipped[str(f)] = "given as both a high- and a low-resolution file"
    hr = sorted({Path(f).resolve(): times[Path(f)] for f in hr_files if Path(f) in times and Path(f).resolve() not in both}.items(),
                key=lambda item: (item[1], str(item[0])))
    lr = sorted({Path(f).resolve(): times[Path(f)] for f in lr_files if Path(f) in times and Path(f).resolve() not in both}.items(),
                key=lambda item: (item[1], str(item[0])))
    limit = tolerance_min * 60.0
    # the closest pairs first, each file in one pair at most (greedy by time difference)
    hr_times = np.array([t for _, t in hr])
    candidates = []
    for lo, tl in lr:  # only the high-resolution files within the tolerance, found by bisection
        for i in range(int(np.searchsorted(hr_times, tl - limit, "left")), int(np.searchsorted(hr_times, tl + limit, "right"))):
            candidates.append((abs(hr_times[i] - tl), str(hr[i][0]), str(lo), hr[i][0], lo))
    candidates.sort()
    used_h, used_l, chosen = set(), set(), {}
    for dt, _, _, h, lo in candidates:
        if h not in used_h and lo not in used_l:
            used_h.add(h)
            used_l.add(lo)
            chosen[h] = (lo, float(dt))
    pairs = [(h, *chosen[h]) for h, _ in hr if h in chosen]
    for group, used, other in ((hr, used_h, lr), (lr, used_l, hr)):
        word = "low" if group is hr else "high"
        for f, t in group:
            if f in used:
                continue
            other_times = np.array([u for _, u in other])
            nearest = float(np.abs(other_times - t).min()) if len(other_times) else np.inf
            if nearest <= limit:
                skipped[str(f)] = f"every {word}-resolution file within {tolerance_min:g} min pairs with one nearer in time"
            else:
                nearest = f" (nearest {nearest / 60:.1f} min)" if np.isfinite(nearest) else ""
                skipped[str(f)] = f"no {word}-resolution file within {tolerance_min:g} min{nearest}"
    return pairs, skipped


def _coarse_wcs(wcs, shape, factor):
    """The WCS of ``wcs``'s pixel grid coarsened by ``factor`` (each coarse pixel one block)."""
    coarse = wcs.deepcopy()
    coarse.wcs.cdelt = np.asarray(coarse.wcs.cdelt) * factor
    # coarse pixel k (0-based) covers fine pixels f k .. f k + f - 1: 1-based CRPIX' = (CRPIX - 0.5) / f + 0.5
    coarse.wcs.crpix = (np.asarray(coarse.wcs.crpix) - 0.5) / factor + 0.5
    coarse.array_shape = (shape[0] // factor, shape[1] // factor)
    return coarse


def coregister(hr_map, lr_map, factor: int = 4, algorithm: str = "adaptive"):
    """``(hr_north_up, hr_field, lr_field, reorient)``: both fields in HMI-equivalent Gauss.

    ``lr_field`` lies on ``hr_north_up``'s grid coarsened by ``factor`` (the high-resolution
    image trimmed to a multiple of it); NaN (off disk, or outside the low-resolution image) is 0.
    """
    if algorithm not in REPROJECT_ALGORITHMS:
        raise HeliogenError(f"unknown reprojection {algorithm!r}; choose from {', '.join(REPROJECT_ALGORITHMS)}")
    check_magnetogram(hr_map)
    try:
        check_magnetogram(lr_map)
    except BadInput as err:
        raise BadInput(f"its low-resolution partner: {err.reason}") from None
    hr_map, reorient, _ = north_up(hr_map)
    ny, nx = (s - s % factor for s in hr_map.data.shape)
    if min(ny, nx) < factor:
        raise BadInput(f"the high-resolution image ({hr_map.data.shape}) is smaller than the factor {factor}")
    target = _coarse_wcs(hr_map.wcs, (ny, nx), factor)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # reproject's and sunpy's frame-change chatter
            lr_on_hr = lr_map.reproject_to(target, algorithm=algorithm)
    except Exception as err:  # noqa: BLE001 - a WCS the other frame cannot reach is the input's fault
        raise BadInput(f"cannot reproject the low-resolution map onto the high-resolution frame ({type(err).__name__}: {err})") from None
    lr_field = np.nan_to_num(hmi_equivalent(lr_on_hr.data, is_mdi(lr_map)), nan=0.0)
    hr_field = np.nan_to_num(hmi_equivalent(hr_map.data, is_mdi(hr_map)), nan=0.0)
    return hr_map, hr_field[:ny, :nx], lr_field, reorient


def preprocess_pair(hr_map, lr_map, source: str, partner: str, dt: float, crop: int, crop_mode: str = "ar",
                    positions=(), n_random: int = 1, factor: int = 4, rng=None, algorithm: str = "adaptive") -> list[Record]:
    """Store rows of one pair: ``C x C`` high-resolution crops with their ``C/f`` low-resolution twins.

    Parameters
    ----------
    hr_map, lr_map : sunpy.map.GenericMap
        High-resolution (HMI) and low-resolution (MDI) magnetograms of about the same time.
    source, partner : str
        Their file names; ``partner`` and ``dt`` (s) go into the table (``pair_source``, ``pair_dt``).
    crop : int
        Crop side C at high resolution, a multiple of ``factor``; corners snap to the block grid.
    crop_mode : {"ar", "center", "random", "list"}
        As for single magnetograms (``ar``: the strongest active region of the high-res map).
    """
    if crop % factor:
        raise HeliogenError(f"--crop {crop} is not divisible by the factor {factor}")
    hr_map, hr, lr, reorient = coregister(hr_map, lr_map, factor, algorithm)
    corners = _crop_corners(hr.shape, crop, crop_mode, rng or np.random.default_rng(0), hr_map, positions, n_random)
    base = dict(map_fields(hr_map, source), reorient=reorient, pair_source=str(partner), pair_dt=float(dt))
    rows = []
    for x0, y0 in corners:
        x0 = min(int(round(x0 / factor)) * factor, hr.shape[1] - crop)
        y0 = min(int(round(y0 / factor)) * factor, hr.shape[0] - crop)
        image = hr[y0:y0 + crop, x0:x0 + crop]
        lowres = lr[y0 // factor:(y0 + crop) // factor, x0 // factor:(x0 + crop) // factor]
        fields = dict(base, crop_x=x0, crop_y=y0, **window_pointing(hr_map, x0, y0, crop, crop))
        rows.append(Record(image=image.astype(np.float32)[None], fields=fields, lowres=lowres.astype(np.float32)[None]))
    return rows
