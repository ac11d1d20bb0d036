"""Rows that build workers encode themselves: compression runs in the workers, in parallel.

A worker writes one file's rows as a small Zarr array carrying the store's own array
metadata (codecs, chunks, fill value; only the row count differs), so its chunk files are
byte for byte what the store would have written. The parent then moves each chunk file into
the store under its row's key (a rename, no re-encoding) and writes the table. Chunk keys
follow the Zarr v3 spec's default encoding (``c/<row>/0/0/0``), which every heliogen store
uses; a store with another layout is written through zarr instead.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["StagedRows", "stage_rows", "adopt_rows", "array_metadata"]

ARRAYS = ("images", "lowres")


@dataclass
class StagedRows:
    """One input file's rows, encoded and waiting in ``folder``."""

    folder: str
    k: int
    fields: list[dict] = field(default_factory=list)
    lo: float = np.inf  # the rows' extremes, for the normalisation's running constants
    hi: float = -np.inf


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
    return StagedRows(str(folder), len(records), [r.fields for r in records], float(images.min()), float(images.max()))


def _one_chunk_per_row(meta: dict) -> bool:
    grid = meta["chunk_grid"]["configuration"]["chunk_shape"]
    encoding = meta["chunk_key_encoding"]
    return (grid[0] == 1 and list(grid[1:]) == list(meta["shape"][1:]) and encoding["name"] == "default"
            and encoding.get("configuration", {}).get("separator", "/") == "/")


def _key(row: int, ndim: int) -> str:
    return "/".join(["c", str(row)] + ["0"] * (ndim - 1))


def adopt_rows(group, store_path, start: int, staged: StagedRows) -> None:
    """Move ``staged``'s chunks into the store at rows ``start..start+k`` (uncommitted until
    the store's commit) and remove the staging folder."""
    import zarr

    for name in ARRAYS:
        source = Path(staged.folder) / name
        if not source.exists():
            continue
        meta = json.loads((source / "zarr.json").read_text())
        if not _one_chunk_per_row(meta):
            group[name][start : start + staged.k] = zarr.open_array(str(source), mode="r")[...]
            continue
        for j in range(staged.k):
            src = source / _key(j, len(meta["shape"]))
            dst = Path(store_path) / name / _key(start + j, len(meta["shape"]))
            if src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
            else:  # zarr writes no chunk that is all fill value; a stale one from a killed build must go
                dst.unlink(missing_ok=True)
    shutil.rmtree(staged.folder, ignore_errors=True)
