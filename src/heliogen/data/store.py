"""The dataset store: a chunked Zarr group of preprocessed images and their table.

Layout of ``STORE.zarr``::

    images        float32 (N, C, S, S), one chunk per image (stored values, see normalise.py)
    lowres        float32 (N, C, S/f, S/f), only with --pairs f (magnetograms)
    table/<col>   one 1-D array per column of the per-sample table (sample.TABLE_COLUMNS,
                  plus label columns added by `heliogen data labels`)
    attrs         format, kind, size, config (resolved), versions, normalisation,
                  n (committed rows), skipped {source: reason}, labels (their settings)

Arrays are allocated ahead to a capacity and only rows below ``attrs["n"]`` are valid. A
build writes rows first and then commits them by rewriting the group's attributes, which
zarr's local store replaces atomically; an interrupted build therefore leaves the last
commit intact, and the next run overwrites whatever lies past it.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..atomic import default_dir_mode
from ..errors import HeliogenError
from .normalise import Normalisation
from .record import TABLE_COLUMNS

__all__ = ["Store", "open_store", "STORE_FORMAT"]

STORE_FORMAT = "heliogen-store/1"
TABLE_CHUNK = 4096


def _zarr():
    import zarr

    # Variable-length strings are not yet in the Zarr v3 core spec; zarr warns once per array.
    warnings.filterwarnings("ignore", message=".*not part of the Zarr format 3.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="zarr")
    return zarr


def _fill(dtype: str):
    return "" if dtype == "str" else (-1 if dtype.startswith("int") else np.nan)


WHAT_A_STORE_IS = "a store is the .zarr folder that `heliogen data build` writes"


class Store:
    """Read (and, for builders, write) access to a heliogen store.

    Parameters
    ----------
    path : path-like
        The ``.zarr`` directory.
    mode : {"r", "r+"}
    """

    def __init__(self, path, mode: str = "r"):
        zarr = _zarr()
        self.path = Path(path)
        if not self.path.exists():
            raise HeliogenError(f"no store at {self.path}; {WHAT_A_STORE_IS}")
        try:
            self.group = zarr.open_group(str(self.path), mode=mode)
        except Exception as err:  # noqa: BLE001 - zarr raises several types for non-stores
            raise HeliogenError(f"{self.path} is not a readable Zarr store ({err}); {WHAT_A_STORE_IS}") from None
        if self.group.attrs.get("format") != STORE_FORMAT:
            raise HeliogenError(f"{self.path} is not a heliogen store (format {self.group.attrs.get('format')!r}); {WHAT_A_STORE_IS}")

    # -- creation ---------------------------------------------------------------------
    @classmethod
    def create(cls, path, kind: str, size: int, channels: int, config: dict, normalisation: Normalisation, lowres_size=None):
        zarr = _zarr()
        from .. import __version__
        from .versions import package_versions

        path = Path(path)
        # Built under a temporary name and renamed into place: a reader (or a resumed build)
        # sees either no store or a complete, empty one, never one without its attributes.
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent))
            group = zarr.open_group(str(tmp), mode="w")
        except OSError as err:
            raise HeliogenError(f"cannot create store {path}: {err.strerror or err}") from None
        group.create_array("images", shape=(0, channels, size, size), chunks=(1, channels, size, size), dtype="float32", fill_value=0.0)
        if lowres_size:
            group.create_array(
                "lowres", shape=(0, channels, lowres_size, lowres_size), chunks=(1, channels, lowres_size, lowres_size), dtype="float32", fill_value=0.0
            )
        table = group.create_group("table")
        for name, dtype in TABLE_COLUMNS.items():
            table.create_array(name, shape=(0,), chunks=(TABLE_CHUNK,), dtype=str if dtype == "str" else dtype, fill_value=_fill(dtype))
        group.attrs.update(
            {
                "format": STORE_FORMAT,
                "kind": kind,
                "size": size,
                "channels": channels,
                "config": config,
                "versions": dict(package_versions(), heliogen=__version__),
                "normalisation": normalisation.to_dict(),
                "n": 0,
                "skipped": {},
            }
        )
        os.chmod(tmp, default_dir_mode())  # mkdtemp's 0700 would hide the store from colleagues
        os.replace(tmp, path)
        return cls(path, mode="r+")

    # -- reading ----------------------------------------------------------------------
    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    @property
    def n(self) -> int:
        """Number of committed samples."""
        return int(self.group.attrs["n"])

    def __len__(self) -> int:
        return self.n

    @property
    def kind(self) -> str:
        return self.group.attrs["kind"]

    @property
    def size(self) -> int:
        return int(self.group.attrs["size"])

    @property
    def normalisation(self) -> Normalisation:
        return Normalisation.from_dict(self.group.attrs["normalisation"])

    @property
    def has_lowres(self) -> bool:
        return "lowres" in self.group

    def images(self, index=slice(None)) -> np.ndarray:
        """Stored values of committed images, (k, C, S, S) float32."""
        return self._rows("images", index)

    def lowres(self, index=slice(None)) -> np.ndarray:
        if not self.has_lowres:
            raise HeliogenError(f"{self.path} has no low-resolution pairs (build it with --pairs)")
        return self._rows("lowres", index)

    def _rows(self, name, index):
        n = self.n
        if isinstance(index, slice):
            return self.group[name][slice(*index.indices(n))]
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"sample index out of range 0..{n - 1}")
        return self.group[name].get_orthogonal_selection((index,)) if index.size else self.group[name][0:0]

    def columns(self) -> list[str]:
        return sorted(self.group["table"].array_keys())

    def column(self, name: str) -> np.ndarray:
        if name not in self.group["table"]:
            raise HeliogenError(f"the store has no column {name!r}")
        return np.asarray(self.group["table"][name][: self.n])

    def row(self, index: int) -> dict:
        """The table fields of committed sample ``index``."""
        n = self.n
        if not 0 <= int(index) < n:
            raise IndexError(f"sample index {index} out of range 0..{n - 1}")
        table = self.group["table"]
        return {name: table[name][int(index)] for name in self.columns()}

    def table(self):
        """The committed per-sample table as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame({name: self.column(name) for name in self.columns()})

    def times(self):
        """Observation times of committed samples (astropy Time; NaT-free or an error)."""
        from astropy.time import Time

        t = self.column("time")
        if (t == "").any():
            raise HeliogenError(f"{int((t == '').sum())} samples have no observation time")
        return Time(list(t), scale="utc")

    # -- writing (builders and label attachers) ---------------------------------------
    def ensure_capacity(self, rows: int) -> None:
        """Grow every row-indexed array to hold at least ``rows`` rows."""
        if rows <= getattr(self, "_capacity", -1):  # a build asks before every batch: skip the lookups
            return
        for name in ("images", "lowres"):
            if name in self.group and self.group[name].shape[0] < rows:
                self.group[name].resize((rows, *self.group[name].shape[1:]))
        for name in self.group["table"].array_keys():
            col = self.group["table"][name]
            if col.shape[0] < rows:
                col.resize((rows,))
        self._capacity = rows

    def write_rows(self, start: int, images: np.ndarray, fields: list[dict], lowres: np.ndarray | None = None) -> None:
        """Write rows ``start..start+k`` (uncommitted until :meth:`commit`)."""
        k = len(images)
        self.group["images"][start : start + k] = images
        if lowres is not None:
            self.group["lowres"][start : start + k] = lowres
        self.write_fields(start, fields)

    def write_fields(self, start: int, fields: list[dict]) -> None:
        """Write the table fields of rows ``start..start+len(fields)`` (uncommitted)."""
        k = len(fields)
        table = self.group["table"]
        for name, dtype in TABLE_COLUMNS.items():
            if name not in table:  # a store begun by an older heliogen: its earlier rows read as unknown
                table.create_array(name, shape=(self.group["images"].shape[0],), chunks=(TABLE_CHUNK,),
                                   dtype=str if dtype == "str" else dtype, fill_value=_fill(dtype))
        for name in TABLE_COLUMNS:
            values = [f[name] for f in fields]
            table[name][start : start + k] = np.asarray(values, dtype=object if TABLE_COLUMNS[name] == "str" else TABLE_COLUMNS[name])

    def write_column(self, name: str, values: np.ndarray, dtype: str) -> None:
        """Create or replace a table column over the committed rows (used for labels)."""
        table = self.group["table"]
        capacity = self.group["images"].shape[0]
        if name in table:
            del table[name]
        col = table.create_array(name, shape=(capacity,), chunks=(TABLE_CHUNK,), dtype=str if dtype == "str" else dtype, fill_value=_fill(dtype))
        col[: len(values)] = np.asarray(values, dtype=object if dtype == "str" else dtype)

    def commit(self, **attrs) -> None:
        """Atomically publish new attributes (``n`` among them) in one metadata write."""
        self.group.attrs.update(attrs)


def open_store(path) -> Store:
    """Open a heliogen store for reading."""
    return Store(path, mode="r")
