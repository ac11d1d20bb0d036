"""Rows that build workers encode themselves: compression runs in the workers, in parallel.

A worker writes one file's rows as a small Zarr array carrying the store's own array
metadata (codecs, chunks, fill value; only the row count differs), so its chunk files are
byte for byte what the store would have written. The parent then moves each chunk file into
the store under its row's key (a rename, no re-encoding) and writes the table. Chunk keys
follow the Zarr v3 spec's default encoding (``c/<row>/0/0/0``), which every heliogen store
uses; a store with another layout is written through zarr instead.

The staging folder lives inside the store (``.staging``, which zarr does not list), so the
rename never crosses a filesystem, and one build at a time holds the store's lock file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HeliogenError

__all__ = ["StagedRows", "stage_rows", "adopt_rows", "array_metadata", "build_lock", "staging_folder"]

ARRAYS = ("images", "lowres")
STAGING, LOCK = ".staging", ".build.lock"


@contextlib.contextmanager
def build_lock(store_path):
    """Hold the store's build lock (an exclusive ``flock``) for the block; a second build of
    the same store fails at once with a clear error instead of interleaving its rows."""
    import fcntl

    path = Path(store_path) / LOCK
    try:
        handle = open(path, "a")
    except OSError as err:
        raise HeliogenError(f"cannot open the build lock {path}: {err.strerror or err}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise HeliogenError(f"another build is writing {store_path}; wait for it to finish, or build into another --out") from None
        yield path


@contextlib.contextmanager
def staging_folder(store_path):
    """A fresh ``.staging`` folder inside the store for the block (under the build lock):
    rows a killed build staged are dropped first, and the folder is removed afterwards."""
    folder = Path(store_path) / STAGING
    try:
        if folder.is_symlink() or folder.is_file():
            folder.unlink()
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    except OSError as err:
        raise HeliogenError(f"cannot make the staging folder {folder}: {err.strerror or err}") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class StagedRows:
    """One input file's rows, encoded and waiting in ``folder``."""

    folder: str
    k: int
    fields: list[dict] = field(default_factory=list)
    lo: float = np.inf  # the rows' extremes, for the normalisation's running constants
    hi: float = -np.inf
    written: dict = field(default_factory=dict)  # array -> rows whose chunk zarr wrote (the rest are all fill)
    adopted: bool = False  # moved into the store (the parent's flag; a re-run flush skips it)


def array_metadata(store_path) -> dict:
    """The store's row arrays' ``zarr.json`` contents, read once by the parent for the workers."""
    out = {}
    for name in ARRAYS:
        path = Path(store_path) / name / "zarr.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    return out


def stage_rows(staging, metadata: dict, records) -> StagedRows:
    """Encode ``records`` (one file's rows) into a new folder under ``staging``."""
    import zarr

    if not records:  # a file can give no rows (a crop list that names other files)
        return StagedRows("", 0)
    folder = Path(tempfile.mkdtemp(dir=staging, prefix="rows-"))
    stacks = {"images": np.stack([r.image for r in records])}
    if records[0].lowres is not None:
        stacks["lowres"] = np.stack([r.lowres for r in records])
    for name, stack in stacks.items():
        meta = dict(metadata[name], shape=list(stack.shape))
        (folder / name).mkdir()
        (folder / name / "zarr.json").write_text(json.dumps(meta))
        zarr.open_array(str(folder / name), mode="r+")[...] = stack
    images = stacks["images"]
    written = {name: [j for j in range(len(records)) if (folder / name / _key(j, stack.ndim)).exists()]
               for name, stack in stacks.items()}
    return StagedRows(str(folder), len(records), [r.fields for r in records], float(images.min()), float(images.max()), written)


def _one_chunk_per_row(meta: dict) -> bool:
    grid = meta["chunk_grid"]["configuration"]["chunk_shape"]
    encoding = meta["chunk_key_encoding"]
    return (grid[0] == 1 and list(grid[1:]) == list(meta["shape"][1:]) and encoding["name"] == "default"
            and encoding.get("configuration", {}).get("separator", "/") == "/")


def _key(row: int, ndim: int) -> str:
    return "/".join(["c", str(row)] + ["0"] * (ndim - 1))


def adopt_rows(group, store_path, start: int, staged: StagedRows) -> None:
    """Move ``staged``'s chunks into the store at rows ``start..start+k`` (uncommitted until
    the store's commit) and remove the staging folder.

    Safe to run again after an interruption: a chunk already moved is left where it is, and
    only rows that zarr wrote no chunk for (all fill value) clear a stale chunk of a killed build.
    """
    import zarr

    if staged.k == 0 or staged.adopted:
        return
    for name in ARRAYS:
        source = Path(staged.folder) / name
        if name not in staged.written:
            continue
        if not source.exists():
            raise HeliogenError(f"the staged rows {source} are gone (was the store's .staging folder removed during the build?)")
        meta = json.loads((source / "zarr.json").read_text())
        if not _one_chunk_per_row(meta):
            group[name][start : start + staged.k] = zarr.open_array(str(source), mode="r")[...]
            continue
        written = set(staged.written[name])
        for j in range(staged.k):
            src = source / _key(j, len(meta["shape"]))
            dst = Path(store_path) / name / _key(start + j, len(meta["shape"]))
            if j not in written:  # zarr writes no chunk that is all fill value; a stale one from a killed build must go
                dst.unlink(missing_ok=True)
            elif src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
    staged.adopted = True
    shutil.rmtree(staged.folder, ignore_errors=True)
