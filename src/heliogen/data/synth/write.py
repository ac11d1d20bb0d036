"""Write synthetic data sets (FITS images or GOES CSV files) to a directory.

Image ``k`` is taken at ``start + k * cadence`` from the one seeded history, so EUV,
magnetogram and GOES products written with the same seed, start and cadence are
mutually consistent. All files are synthetic and say so in their headers.
"""

import pathlib

from .euv import synth_euv
from .goes import synth_goes, write_flarelist
from .granulation import render_granulation
from .history import SyntheticSun
from .magnetogram import synth_magnetogram
from .timeutil import isot

__all__ = ["write_synth", "KINDS"]

KINDS = ("euv", "magnetogram", "granulation", "goes")


def _stamp(t):
    return isot(t, 0).replace("-", "").replace(":", "")


def write_synth(kind, n, size=256, seed=0, out=".", **options):
    """Write ``n`` synthetic products of one kind.

    Parameters
    ----------
    kind : {"euv", "magnetogram", "granulation", "goes"}
        Product kind.
    n : int
        Number of images (for ``"goes"``: the curve spans ``n`` cadences).
    size : int
        Image side in pixels (ignored for ``"goes"``).
    seed : int
        Seed of the synthetic history.
    out : str or pathlib.Path
        Output directory (created if needed).
    **options
        ``start`` (default ``"2011-01-01T00:00:00"``), ``cadence`` (default ``"6h"``),
        ``wavelength`` (euv, default 193), ``instrument`` (magnetogram, ``"hmi"`` or
        ``"mdi"``), ``activity`` and ``flare_flux`` (euv overrides), ``cdelt_km``
        (granulation), ``cdelt`` and ``center`` (magnetogram).

    Returns
    -------
    list of pathlib.Path
        Sorted paths: FITS files named ``{kind}_{channel}_{YYYYmmddTHHMMSS}_{k:04d}.fits``
        (float32 data), or for ``"goes"`` ``goes_xrs_synthetic.csv`` (1-min XRS,
        W/m^2) and ``flarelist_synthetic.csv`` (SWPC layout, C class and above).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sun = SyntheticSun(seed, start=options.pop("start", "2011-01-01T00:00:00"),
                       cadence=options.pop("cadence", "6h"))
    if kind == "goes":
        curve, flares = synth_goes(seed, sun.time_of(0), sun.time_of(n), cadence_s=60)
        csv = out / "goes_xrs_synthetic.csv"
        frame = curve.reset_index()
        frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        frame.to_csv(csv, index=False, float_format="%.4e")
        listing = out / "flarelist_synthetic.csv"
        write_flarelist(flares, listing)
        return sorted([csv, listing])

    paths = []
    for k in range(n):
        t = sun.time_of(k)
        if kind == "euv":
            wl = int(options.get("wavelength", 193))
            smap = synth_euv(seed, size, wl, date_obs=t, activity=options.get("activity"),
                             flare_flux=options.get("flare_flux"))
            tag = str(wl)
        elif kind == "magnetogram":
            inst = options.get("instrument", "hmi").lower()
            smap = synth_magnetogram(seed, size, inst, date_obs=t, cdelt=options.get("cdelt"),
                                     center=options.get("center", (0.0, 0.0)))
            tag = inst
        else:
            # Granulation has no history: each frame gets its own cells.
            smap = render_granulation(seed, size, options.get("cdelt_km", 48.0), frame=k)
            smap.meta["date-obs"] = isot(t)
            tag = "km{:g}".format(options.get("cdelt_km", 48.0))
        path = out / f"{kind}_{tag}_{_stamp(t)}_{k:04d}.fits"
        smap.save(path, overwrite=True)
        paths.append(path)
    return sorted(paths)
