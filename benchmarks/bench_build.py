"""Store-building throughput on full-resolution AIA-like files, against the decompression floor.

Writes 4096^2 Rice-compressed int16 AIA-level-1-like FITS (synthetic Sun content at 1024^2,
upsampled with fresh Poisson noise so the compression ratio is realistic), then times:

* the floor: opening each file and decompressing its image, nothing else;
* ``build_store`` into a 1024^2 store with 1 and 2 workers.

Goal (issue 2): at least 0.5 of the floor's images/s per worker, near-linear in workers.
The files are north-up at 0.6"/px with the disk centred, so aiapy's register is an
identity and skipped; one extra row times real register work (a 0.05 deg roll) for scale.

Usage: python benchmarks/bench_build.py [--files N] [--repeats R]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, write_result  # noqa: E402

SIZE_IN, SIZE_OUT = 4096, 1024


def make_files(n: int, folder: Path, crota: float = 0.0) -> list[Path]:
    from heliogen.data.synth import synth_euv

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        path = folder / f"aia193_4096_{k:03d}.fits"
        paths.append(path)
        if path.exists():
            continue
        m = synth_euv(k, size=1024)
        rng = np.random.default_rng(k)
        rate = np.kron(np.asarray(m.data, dtype=np.float64), np.ones((4, 4))) / 16.0 * 4  # counts per 0.6" pixel
        data = np.clip(rng.poisson(np.clip(rate, 0, None)), 0, 16383).astype(np.int16)
        header = fits.Header()
        for key, value in m.fits_header.items():
            if key not in ("COMMENT", "HISTORY", "") and not key.startswith("NAXIS") and key not in ("SIMPLE", "BITPIX", "EXTEND"):
                header[key] = value
        header["CDELT1"] = header["CDELT2"] = 0.6
        header["CRPIX1"] = header["CRPIX2"] = (SIZE_IN + 1) / 2
        header["CROTA2"] = crota
        hdu = fits.CompImageHDU(data, header=header, compression_type="RICE_1")
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return paths


def _decompress(path) -> float:
    with fits.open(path) as hdul:
        return float(np.asarray(hdul[1].data).sum())


def floor_seconds(paths, processes: int = 1) -> float:
    """Decompression alone, in ``processes`` parallel processes (the machine's own scaling)."""
    import multiprocessing as mp

    t0 = time.perf_counter()
    if processes == 1:
        for p in paths:
            _decompress(p)
    else:
        with mp.get_context("fork").Pool(processes) as pool:
            pool.map(_decompress, paths, chunksize=1)
    return time.perf_counter() - t0


def build_seconds(paths, workers: int, out: Path) -> float:
    from heliogen.data.build import build_store

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    report = build_store(paths, out, "euv", SIZE_OUT, workers=workers, wavelength=193, progress=False)
    elapsed = time.perf_counter() - t0
    assert report.total_samples == len(paths), report.summary()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = WORK / "build"
    paths = make_files(args.files, work / "fits")
    rolled = make_files(2, work / "fits_rolled", crota=0.05)
    build_seconds(paths[:1], 1, work / "warmup.zarr")  # imports and first-call costs out of the timings
    # Each configuration runs --repeats times, interleaved (order rotated each round, as the machine
    # may be shared); the figures are the medians.
    arms = {"floor1": lambda: floor_seconds(paths), "floor2": lambda: floor_seconds(paths, processes=2),
            "build1": lambda: build_seconds(paths, 1, work / "store_w1.zarr"),
            "build2": lambda: build_seconds(paths, 2, work / "store_w2.zarr")}
    runs = {k: [] for k in arms}
    order = list(arms)
    for r in range(args.repeats):
        for k in order[r % len(order):] + order[:r % len(order)]:
            runs[k].append(arms[k]())
    med = {k: statistics.median(v) for k, v in runs.items()}
    floor, floor2 = med["floor1"], med["floor2"]
    floor_ips = len(paths) / floor
    rows = [{"config": "floor: decompress only", "workers": 1, "files": len(paths), "seconds": round(floor, 3),
             "seconds_runs": [round(t, 3) for t in runs["floor1"]], "images_per_s": round(floor_ips, 3)},
            {"config": "floor: decompress only, 2 processes", "workers": 2, "files": len(paths), "seconds": round(floor2, 3),
             "seconds_runs": [round(t, 3) for t in runs["floor2"]],
             "images_per_s": round(len(paths) / floor2, 3), "speedup_over_1": round(floor / floor2, 3)}]
    ours = {}
    for workers in (1, 2):
        sec = med[f"build{workers}"]
        ours[workers] = len(paths) / sec
        rows.append({"config": f"heliogen build, {workers} worker(s)", "workers": workers, "files": len(paths), "seconds": round(sec, 3),
                     "seconds_runs": [round(t, 3) for t in runs[f"build{workers}"]],
                     "images_per_s": round(ours[workers], 3), "ratio_to_floor_per_worker": round(ours[workers] / workers / floor_ips, 3)})
    sec = build_seconds(rolled, 1, work / "store_rolled.zarr")
    rows.append({"config": "heliogen build with aiapy register (0.05 deg roll), 1 worker", "workers": 1, "files": len(rolled),
                 "seconds": round(sec, 3), "images_per_s": round(len(rolled) / sec, 3), "ratio_to_floor_per_worker": round(len(rolled) / sec / floor_ips, 3)})
    per_worker = min(ours[w] / w / floor_ips for w in ours)
    scaling = ours[2] / ours[1]
    write_result(
        "build",
        rows,
        reference={"what": "decompression floor: astropy reading each 4096^2 RICE_1 int16 image, same files, same run",
                   "value": round(floor_ips, 3), "source": "measured side by side"},
        goal={"metric": "min over workers of (build images/s per worker) / (floor images/s); and 2-worker speed-up",
              "target": {"ratio_per_worker": 0.5, "speedup_2_workers": "near-linear (>= 1.6)"},
              "achieved": {"ratio_per_worker": round(per_worker, 3), "speedup_2_workers": round(scaling, 3)},
              "met": bool(per_worker >= 0.5 and scaling >= 1.6)},
        notes=("2-core machine. Workers decode, preprocess and compress their rows; the parent only moves the "
               "encoded chunk files into place and writes the table, so it takes little of the 2 cores from the "
               "workers. The decompression floor's own 2-process speed-up is in the second row for comparison. "
               "Real level-1 AIA frames carry a small roll, so aiapy's register (a 4096^2 spline rotation) runs and "
               "dominates (last row); the goal rows use north-up frames where register is an identity and is skipped."),
    )


if __name__ == "__main__":
    main()
