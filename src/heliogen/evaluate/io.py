"""Reading real and generated image sets into one model-space convention.

``--real`` and ``--fake`` may each be a heliogen store (``.zarr``) or a directory of FITS
files (one image per file, physical units, as ``heliogen sample`` writes them). Both are
brought to **the model space of the real set's normalisation** (``data/normalise.py``):

* a store: ``normalisation.forward(stored)``;
* FITS in physical units: EUV ``ln(max(I, 1)) / max``, magnetograms
  ``clip(B, -scale, scale) / scale``, granulation ``2 (I - lo) / (hi - lo) - 1``, with the
  constants of the real store, or, when the real set is FITS too, fitted on the real set
  (EUV max of ln I, granulation min/max; magnetograms always 3000 G).

NaN pixels (off-disk magnetogram pixels) become 0 in model space, as the store builder
does. Feature extractors then receive the **unit range** [0, 1]: model space for EUV
(already [0, 1]) and ``(x + 1) / 2`` for magnetograms and granulation ([-1, 1]).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.kinds import KINDS, fit_normalisation
from ..data.normalise import Normalisation
from ..errors import BadInput, HeliogenError

__all__ = ["ImageSet", "load_images", "load_pair", "check_comparable", "fits_files", "physical_to_model"]

log = logging.getLogger("heliogen")

FITS_PATTERNS = ("*.fits", "*.fits.gz", "*.fts", "*.fit", "*.fits.fz")


@dataclass
class ImageSet:
    """Images in model space with where they came from.

    Attributes
    ----------
    images : numpy.ndarray
        float32 (N, C, H, W), model space.
    normalisation : Normalisation
    kind : str
    source : str
    headers : list of dict
        One FITS header per image (empty dicts for stores, whose geometry is in the table).
    names : list of str
    """

    images: np.ndarray
    normalisation: Normalisation
    kind: str
    source: str
    headers: list = field(default_factory=list)
    names: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.images)

    @property
    def value_range(self) -> tuple[float, float]:
        return self.normalisation.data_range

    def unit(self) -> np.ndarray:
        """Images mapped to [0, 1] (the feature extractors' input), clipped."""
        lo, hi = self.value_range
        return np.clip((self.images - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)

    def physical(self) -> np.ndarray:
        """Images in physical units (DN/s, G, I/<I>)."""
        return self.normalisation.physical(self.images.astype(np.float64))

    def content_hash(self) -> str:
        """sha256 of the model-space pixels and shape: the feature-cache key."""
        h = hashlib.sha256(str(self.images.shape).encode())
        h.update(np.ascontiguousarray(self.images, dtype=np.float32).tobytes())
        return h.hexdigest()

    def describe(self) -> dict:
        return {"source": self.source, "n": self.n, "kind": self.kind, "shape": list(self.images.shape[1:]),
                "sha256": self.content_hash()}


def fits_files(folder) -> list[Path]:
    folder = Path(folder)
    files = sorted({p for pat in FITS_PATTERNS for p in folder.glob(pat)})
    if not files:
        raise HeliogenError(f"no FITS files in {folder}")
    return files


def _guess_kind(header: dict) -> str:
    h = {str(k).upper(): v for k, v in header.items()}
    bunit = str(h.get("BUNIT", "")).lower()
    if "MAGNETOGRAM" in str(h.get("CONTENT", "")).upper() or "gauss" in bunit or bunit in ("g", "mx/cm^2", "mx/cm2"):
        return "magnetogram"
    if "GRANUL" in str(h.get("CONTENT", "")).upper() or "granul" in str(h.get("OBJECT", "")).lower():
        return "granulation"
    if "WAVELNTH" in h or "dn" in bunit:
        return "euv"
    return "granulation"


def physical_to_model(physical: np.ndarray, norm: Normalisation) -> np.ndarray:
    """Physical units to model space (the inverse of ``Normalisation.physical``, with the
    preprocessing clips: EUV I >= 1, magnetograms |B| <= scale)."""
    return norm.forward(norm.stored_from_physical(physical))


def _read_fits_dir(folder, n, seed):
    from ..data.fitsio import read_map

    files = fits_files(folder)
    if n is not None and n < len(files):
        files = [files[i] for i in sorted(np.random.default_rng(seed).choice(len(files), n, replace=False))]
    data, headers, names, skipped = [], [], [], 0
    for f in files:
        try:
            m = read_map(f)
        except BadInput as err:
            log.warning("skipped %s", err)
            skipped += 1
            continue
        data.append(np.asarray(m.data, dtype=np.float64))
        headers.append(dict(m.meta))
        names.append(f.name)
    if not data:
        raise HeliogenError(f"no readable FITS image in {folder} ({skipped} skipped)")
    shapes = {d.shape for d in data}
    if len(shapes) > 1:
        raise HeliogenError(f"the images in {folder} have different sizes {sorted(shapes)}; resample them to one size first")
    return np.stack(data)[:, None], headers, names


def load_images(path, n: int | None = None, normalisation: Normalisation | None = None, kind: str | None = None,
                seed: int = 0) -> ImageSet:
    """Load a store or a FITS directory into model space.

    Parameters
    ----------
    path : path-like
        A heliogen store or a directory of FITS files.
    n : int, optional
        Use a seeded random subset of ``n`` images (all when None or larger).
    normalisation : Normalisation, optional
        Map FITS data with these constants (the real set's); fitted when None.
    kind : {"euv", "magnetogram", "granulation"}, optional
        Override the kind guessed from the FITS header.
    """
    from ..data.store import open_store

    path = Path(path)
    if not path.exists():
        raise HeliogenError(f"no such store or directory: {path}")
    if n is not None and n < 1:
        raise HeliogenError(f"n must be at least 1, not {n}")
    if (path / "zarr.json").is_file() or path.suffix == ".zarr":
        store = open_store(path)
        if store.n == 0:
            raise HeliogenError(f"the store {path} is empty")
        idx = np.arange(store.n) if n is None or n >= store.n else np.sort(np.random.default_rng(seed).choice(store.n, n, replace=False))
        norm = store.normalisation
        if normalisation is not None and normalisation.to_dict() != norm.to_dict():
            # Two stores with different constants: express both in the real set's space.
            images = physical_to_model(norm.physical(norm.forward(store.images(idx).astype(np.float64))), normalisation)
            norm = normalisation
        else:
            images = norm.forward(store.images(idx).astype(np.float64))
        names = [f"{path.name}[{i}]" for i in idx]
        out = ImageSet(np.nan_to_num(images, nan=0.0).astype(np.float32), norm, store.kind, str(path), [{}] * len(idx), names)
        if not np.isfinite(out.images).all():
            raise HeliogenError(f"{path} holds non-finite values")
        return out
    if not path.is_dir():
        raise HeliogenError(f"{path} is neither a heliogen store nor a directory of FITS files")
    phys, headers, names = _read_fits_dir(path, n, seed)
    kind = kind or _guess_kind(headers[0])
    if kind not in KINDS:
        raise HeliogenError(f"unknown image kind {kind!r}; choose {', '.join(KINDS)}")
    norm = normalisation if normalisation is not None else fit_normalisation(kind, phys[np.isfinite(phys)])
    images = physical_to_model(np.nan_to_num(phys, nan=0.0 if kind != "euv" else 1.0), norm)
    return ImageSet(images.astype(np.float32), norm, kind, str(path), headers, names)


def load_pair(real, fake, n: int | None = None, kind: str | None = None, seed: int = 0,
              allow_mismatch: bool = False) -> tuple[ImageSet, ImageSet]:
    """Load the real set, then the fake set in the real set's model space.

    The fake set's kind is its own (a store's, or guessed from its FITS headers) unless
    ``kind`` forces both. Sets of different kinds or image sizes are refused unless
    ``allow_mismatch``: the feature extractors would resize them and the scores would
    compare unlike things without a word.
    """
    r = real if isinstance(real, ImageSet) else load_images(real, n=n, kind=kind, seed=seed)
    f = fake if isinstance(fake, ImageSet) else load_images(fake, n=n, normalisation=r.normalisation, kind=kind, seed=seed + 1)
    check_comparable(r, f, allow_mismatch)
    return r, f


def check_comparable(real: ImageSet, fake: ImageSet, allow_mismatch: bool = False) -> None:
    """One clear line when two sets cannot be compared as they are."""
    if real.images.shape[1] != fake.images.shape[1]:
        raise HeliogenError(f"real and fake images have different channel counts ({real.images.shape[1]} vs "
                            f"{fake.images.shape[1]}); they cannot be compared, even with --allow-mismatch")
    if allow_mismatch:
        return
    if real.kind != fake.kind:
        raise HeliogenError(f"real images are {real.kind} and fake images are {fake.kind}; compare sets of one kind, "
                            "or pass --kind to read both as one kind, or --allow-mismatch")
    rs, fs = real.images.shape[2:], fake.images.shape[2:]
    if rs != fs:
        raise HeliogenError(f"real images are {rs[0]}x{rs[1]} px and fake images {fs[0]}x{fs[1]} px; build both at one "
                            "size, or pass --allow-mismatch to let the feature extractors resize them")
