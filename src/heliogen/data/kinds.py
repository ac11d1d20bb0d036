"""The image kinds heliogen knows, in one registry: EUV full disks, magnetograms, granulation.

For each kind, :class:`KindSpec` holds how a FITS file becomes store rows (the build options
and the preprocessing), the default stored side, the normalisation to model space and that
space's range, the unit of the physical values, and how images are shown (sunpy colormap and
display stretch). The CLI, the store builder, evaluation I/O and the quicklooks read it.

This module stays light (numpy only): the preprocessing modules, which pull in sunpy, scipy
and aiapy, are imported when a file is preprocessed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from ..errors import HeliogenError
from .normalise import DATA_RANGE, Normalisation

__all__ = ["KindSpec", "KINDS", "kind_spec", "default_normalisation", "fit_normalisation", "kind_of_normalisation"]


def _euv_rows(smap, size, source, options):
    from .euv import DEFAULT_FOV, preprocess_euv

    return preprocess_euv(
        smap, size, source, wavelength=options.get("wavelength"), register=options.get("register", True),
        degradation=options.get("degradation", False), degradation_table=options.get("degradation_table"),
        fov=options.get("fov") or DEFAULT_FOV,
    )


def _file_seed(seed: int, source: str) -> int:
    # Random crops depend on (seed, file name) only, so a resumed build repeats them.
    digest = hashlib.sha256(f"{seed}:{Path(source).name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _magnetogram_rows(smap, size, source, options):
    from .magnetogram import preprocess_magnetogram

    positions = options.get("positions") or {}
    if options.get("partners"):
        return _paired_rows(smap, source, options, positions)
    return preprocess_magnetogram(
        smap, size, source, crop=options.get("crop"), crop_mode=options.get("crop_mode", "center"),
        positions=positions.get(Path(source).name, positions.get("*", [])), n_random=options.get("n_random", 1),
        pairs=options.get("pairs"), rng=np.random.default_rng(_file_seed(options.get("seed", 0), source)),
    )


def _paired_rows(smap, source, options, positions):
    """A high-resolution file's rows with its low-resolution partner (pairs.py) as the lowres images."""
    from ..errors import BadInput
    from .fitsio import read_map
    from .pairs import preprocess_pair

    partner, dt = options["partners"][source]
    try:
        lr_map = read_map(partner)
    except BadInput as err:
        raise BadInput(f"its low-resolution partner {Path(partner).name} is unusable: {err.reason}") from None
    return preprocess_pair(
        smap, lr_map, source, partner, dt, crop=options["crop"], crop_mode=options.get("crop_mode", "ar"),
        positions=positions.get(Path(source).name, positions.get("*", [])), n_random=options.get("n_random", 1),
        factor=options["pairs"], rng=np.random.default_rng(_file_seed(options.get("seed", 0), source)),
        algorithm=options.get("reproject") or "adaptive",
    )


def _granulation_rows(smap, size, source, options):
    from .granulation import AUGMENTATIONS, preprocess_granulation

    return preprocess_granulation(smap, size, source, augmentations=options.get("augmentations", AUGMENTATIONS))


def _one_row(options) -> int:
    return 1


def _magnetogram_rows_per_file(options) -> int:
    if options.get("crop") and options.get("crop_mode") == "random":
        return int(options.get("n_random", 1))
    if options.get("crop") and options.get("crop_mode") == "list":
        return max((len(v) for v in (options.get("positions") or {}).values()), default=1)
    return 1


def _granulation_rows_per_file(options) -> int:
    from .granulation import AUGMENTATIONS

    return len(options.get("augmentations", AUGMENTATIONS))


@dataclass(frozen=True)
class KindSpec:
    """Everything heliogen decides by image kind.

    Attributes
    ----------
    name : str
    options : mapping of str to str
        The build options this kind accepts (``build_store(..., **options)``), each with a
        one-line description.
    identity_options : tuple of str
        The options that change what a row holds; a resumed build must repeat them.
    preprocess : callable
        ``(smap, size, source, options) -> list[Record]``: one FITS map into store rows.
    rows_per_file : callable
        ``options -> int``: how many rows one file gives, to reserve store capacity.
    default_size : int or None
        The stored side when none is given (None: magnetograms keep the crop or native size).
    normalisation : str
        The :class:`~heliogen.data.normalise.Normalisation` kind from stored values to model space.
    normalisation_params : mapping
        Its fixed constants (the dataset constants are learnt as the store is built).
    unit : str
        Unit of the physical values (what :meth:`Normalisation.physical` returns), as shown on
        colour bars.
    fits_bunit : str
        BUNIT written to FITS headers of stored images ("" where the stored values are not physical).
    colormap : str
        Name of the colormap (sunpy's registry first, then matplotlib's).
    colormap_by_wavelength : bool
        EUV: pick the instrument's colormap for the channel (sdoaiaNNN, sohoeitNNN).
    display_stretch : {"asinh", "linear"}
        Stretch of quicklook displays.
    display_limits : (float, float) or None
        Fixed display range in physical units; else ``display_percentiles`` of the images.
    display_percentiles : (float, float)
    """

    name: str
    options: Mapping[str, str]
    identity_options: tuple[str, ...]
    preprocess: Callable
    rows_per_file: Callable
    default_size: int | None
    normalisation: str
    unit: str
    fits_bunit: str
    colormap: str
    normalisation_params: Mapping = field(default_factory=dict)
    colormap_by_wavelength: bool = False
    display_stretch: str = "linear"
    display_limits: tuple[float, float] | None = None
    display_percentiles: tuple[float, float] = (0.5, 99.5)

    @property
    def data_range(self) -> tuple[float, float]:
        """Model-space range (lo, hi) of this kind's images: [0, 1] for EUV, [-1, 1] otherwise."""
        return DATA_RANGE[self.normalisation]

    def default_normalisation(self) -> Normalisation:
        """A fresh normalisation with the fixed constants only (a new store starts from it)."""
        return Normalisation(self.normalisation, dict(self.normalisation_params))

    def colormap_names(self, wavelength: float | None = None, instrument: str = "") -> list[str]:
        """Colormap names to try in order: the channel's own for EUV, else :attr:`colormap`."""
        if not (self.colormap_by_wavelength and wavelength and np.isfinite(wavelength)):
            return [self.colormap]
        wl = int(round(wavelength))
        prefix = "sohoeit" if "EIT" in str(instrument).upper() else "sdoaia"
        return [f"{prefix}{wl}", f"sdoaia{wl}", f"sohoeit{wl}", "sdoaia193"]


_EUV = KindSpec(
    name="euv",
    options=MappingProxyType({
        "wavelength": "keep only this wavelength (Angstrom); others are skipped",
        "register": "aiapy.calibrate.register for AIA level 1",
        "degradation": "aiapy degradation correction",
        "degradation_table": "local aiapy correction table",
        "fov": "field of view of the grid in arcsec (default: AIA's 2457.6)",
    }),
    identity_options=("wavelength", "register", "degradation", "fov"),
    preprocess=_euv_rows, rows_per_file=_one_row, default_size=256,
    # full-disk study sec. 3: stored ln(DN/s), model ln I / max ln I in [0, 1]
    normalisation="log_max", unit="DN/s", fits_bunit="DN/s",
    # no wavelength: no channel colormap to choose, so grey
    colormap="gray", colormap_by_wavelength=True,
    display_stretch="asinh", display_percentiles=(0.5, 99.9),  # asinh, as sunpy shows AIA maps
)
_MAGNETOGRAM = KindSpec(
    name="magnetogram",
    options=MappingProxyType({
        "crop": "side C of native-resolution crops",
        "crop_mode": "where crops go: center, random, ar (strongest active region) or list",
        "n_random": "random crops per image",
        "positions": "crop centres (Tx, Ty) in arcsec by file name (* for all), for crop_mode list",
        "pairs": "also store the f x f block-mean low-resolution image (with partners: the co-registration factor)",
        "seed": "seed of random crops",
        "partners": "paired stores: each high-resolution file's low-resolution file and time offset (pairs.py)",
        "pair_tolerance": "paired stores: the time tolerance (min) the pairs were matched with",
        "reproject": "paired stores: sunpy reproject_to algorithm (adaptive, interpolation or exact)",
    }),
    identity_options=("crop", "crop_mode", "n_random", "pairs", "seed", "positions", "pair_tolerance", "reproject"),
    preprocess=_magnetogram_rows, rows_per_file=_magnetogram_rows_per_file, default_size=None,
    # super-resolution paper sec. 2: B clipped to +-3000 G, model B / 3000 in [-1, 1]
    normalisation="linear", normalisation_params=MappingProxyType({"scale": 3000.0}),
    unit="G", fits_bunit="Gauss", colormap="hmimag",
    display_limits=(-1500.0, 1500.0),
)
_GRANULATION = KindSpec(
    name="granulation",
    options=MappingProxyType({"augmentations": "the mirror/rotation variants to store (default: all ten)"}),
    identity_options=("augmentations",),
    preprocess=_granulation_rows, rows_per_file=_granulation_rows_per_file, default_size=128,
    # tile thesis sec. 3.1: intensity over its mean, min/max-scaled to [-1, 1]. The values are
    # dimensionless; the colour bar names the quantity, I/<I>. FITS headers leave BUNIT empty,
    # as the standard wants for a dimensionless quantity.
    normalisation="minmax", unit="I/<I>", fits_bunit="", colormap="hinodesotintensity",
)

KINDS: Mapping[str, KindSpec] = MappingProxyType({s.name: s for s in (_EUV, _MAGNETOGRAM, _GRANULATION)})


def kind_spec(kind: str) -> KindSpec:
    """The :class:`KindSpec` of ``kind``; a user error names the known kinds."""
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise HeliogenError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}") from None


def default_normalisation(kind: str) -> Normalisation:
    """A fresh normalisation of ``kind`` with its fixed constants only."""
    return kind_spec(kind).default_normalisation()


def fit_normalisation(kind: str, physical: np.ndarray) -> Normalisation:
    """The normalisation of ``kind`` with its dataset constants taken from physical images
    (what a store built from them would hold): max ln I for EUV, lo/hi of I/<I> for granulation."""
    norm = default_normalisation(kind)
    norm.update(norm.stored_from_physical(physical))
    return norm


def kind_of_normalisation(normalisation: str) -> KindSpec:
    """The kind whose images a normalisation kind serves (each serves exactly one today)."""
    for spec in KINDS.values():
        if spec.normalisation == normalisation:
            return spec
    raise HeliogenError(f"no image kind uses the normalisation {normalisation!r}")
