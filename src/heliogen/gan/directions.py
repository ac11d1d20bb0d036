"""GANSpace: principal directions of a generator's W space, and edits along them.

Härkönen et al. 2020 ("GANSpace: Discovering Interpretable GAN Controls"): sample many z,
map them to w (before truncation and mixing all ws of a sample are equal, so the first one
is w), and take the principal components of W. An edit moves w along component k by
``alpha_k`` of its standard deviations: ``w' = w + sum_k alpha_k * sigma_k * v_k`` with
``sigma_k = sqrt(variance_k)``, on every synthesis layer or on a chosen range of them.

Directions are tied to the generator they were found for: the saved file carries a
fingerprint of its config and one of its mapping network's weights, and using them with
another generator is an error.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from ..atomic import write_atomic
from ..errors import HeliogenError

__all__ = ["Directions", "find_directions", "load_directions", "parse_edit", "apply_edit", "generate_edited",
           "config_fingerprint", "mapping_fingerprint", "FORMAT", "VERSION"]

FORMAT = "heliogen-ganspace-directions"
VERSION = 1
_ARRAYS = ("mean", "components", "variances", "explained_ratio")


def config_fingerprint(generator) -> str:
    """SHA-256 of the generator's config (its public keys, sorted), as hex."""
    config = {k: v for k, v in dict(generator.config).items() if not k.startswith("_")}
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def mapping_fingerprint(generator) -> str:
    """SHA-256 of the mapping network's parameters and buffers (names, shapes, float32 bytes), as hex.

    Tells checkpoints of one config apart: directions of one checkpoint mean nothing in another.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(generator.mapping_network.state_dict().items()):
        array = np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())
        digest.update(f"{name}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass
class Directions:
    """Principal directions of W, strongest first.

    Attributes
    ----------
    mean : ndarray (w_dim,)
        Mean of the sampled w.
    components : ndarray (k, w_dim)
        Orthonormal directions, by decreasing variance; each with its largest-magnitude entry positive.
    variances : ndarray (k,)
        Variance of w along each direction (unbiased, ``N - 1``).
    explained_ratio : ndarray (k,)
        Share of the total variance of W along each direction.
    samples, seed : int
        How many z were drawn, and the seed of their CPU generator.
    config_fingerprint, mapping_fingerprint : str
        Of the generator the directions belong to (empty: not tied to one).
    """

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    explained_ratio: np.ndarray
    samples: int
    seed: int
    config_fingerprint: str = ""
    mapping_fingerprint: str = ""

    @property
    def k(self) -> int:
        """Number of directions."""
        return int(self.components.shape[0])

    @property
    def w_dim(self) -> int:
        return int(self.components.shape[1])

    @property
    def sigmas(self) -> np.ndarray:
        """Standard deviation of w along each direction (the unit of an edit)."""
        return np.sqrt(self.variances)

    def check_generator(self, generator) -> None:
        """Raise a one-line :class:`HeliogenError` unless these directions were found for ``generator``."""
        if self.config_fingerprint and config_fingerprint(generator) != self.config_fingerprint:
            raise HeliogenError(f"these GANSpace directions were found for a generator with another config "
                                f"(fingerprint {self.config_fingerprint[:12]}, this one {config_fingerprint(generator)[:12]}); "
                                f"find directions for this generator")
        if self.mapping_fingerprint and mapping_fingerprint(generator) != self.mapping_fingerprint:
            raise HeliogenError("these GANSpace directions were found for other mapping-network weights "
                                "(another checkpoint or EMA copy?); find directions for this checkpoint")

    def save(self, path) -> Path:
        """Write an ``.npz`` (arrays, counts, fingerprints, format and version), atomically; returns the path."""
        path = Path(path)
        fields = {name: np.asarray(getattr(self, name), dtype=np.float64) for name in _ARRAYS}
        fields.update(format=np.array(FORMAT), version=np.array(VERSION), samples=np.array(self.samples),
                      seed=np.array(self.seed), config_fingerprint=np.array(self.config_fingerprint),
                      mapping_fingerprint=np.array(self.mapping_fingerprint))
        try:
            write_atomic(path, lambda fh: np.savez(fh, **fields), suffix=".npz")
        except OSError as err:
            raise HeliogenError(f"cannot write {path}: {err.strerror or err}") from None
        return path


def load_directions(path, generator=None) -> Directions:
    """Read directions saved by :meth:`Directions.save`; with ``generator``, check they belong to it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise HeliogenError(f"no GANSpace directions file at {path}") from None
    except (OSError, ValueError) as err:
        raise HeliogenError(f"{path} is not a GANSpace directions file ({err})") from None
    if str(fields.get("format", "")) != FORMAT:
        raise HeliogenError(f"{path} is not a GANSpace directions file (no format key {FORMAT!r})")
    if int(fields.get("version", -1)) != VERSION:
        raise HeliogenError(f"{path} has GANSpace directions format version {int(fields.get('version', -1))}; "
                            f"this heliogen reads version {VERSION}")
    missing = [key for key in (*_ARRAYS, "samples", "seed") if key not in fields]
    if missing:
        raise HeliogenError(f"{path} lacks {', '.join(missing)}")
    directions = Directions(*(fields[name] for name in _ARRAYS), samples=int(fields["samples"]), seed=int(fields["seed"]),
                            config_fingerprint=str(fields.get("config_fingerprint", "")),
                            mapping_fingerprint=str(fields.get("mapping_fingerprint", "")))
    if generator is not None:
        directions.check_generator(generator)
    return directions


def _sample_w(generator, samples: int, seed: int, batch: int) -> np.ndarray:
    """(samples, w_dim) float64 w of z drawn at once from one seeded CPU generator, mapped in batches."""
    z = torch.randn(samples, generator.z_dim, generator=torch.Generator().manual_seed(int(seed)))
    device = next(iter(generator.parameters()), torch.empty(0)).device if isinstance(generator, torch.nn.Module) else "cpu"
    out = np.empty((samples, generator.w_dim), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, samples, batch):
            ws = generator.mapping(z[start:start + batch].to(device), psi=1.0, update_w_avg=False)
            out[start:start + batch] = ws[:, 0].to("cpu", torch.float64).numpy()
    return out


def _count(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < low:
        raise HeliogenError(f"GANSpace {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def find_directions(generator, samples: int = 10000, components: int = 8, seed: int = 0, batch: int = 1000) -> Directions:
    """Principal directions of the generator's W space (GANSpace).

    Parameters
    ----------
    generator
        Has ``z_dim``, ``w_dim``, ``mapping(z, psi, update_w_avg=...)`` returning ws
        (N, num_ws, w_dim), a ``config`` and a ``mapping_network`` (a StyleGAN2Generator).
    samples : int
        How many z ~ N(0, I) to draw (from one CPU generator seeded with ``seed``).
    components : int
        How many directions to keep (at most ``w_dim``; ``samples`` must exceed it).
    seed : int
    batch : int
        z mapped per forward pass (no gradients); does not change the z drawn.

    Returns
    -------
    Directions
    """
    samples, components, batch = _count("samples", samples), _count("components", components), _count("batch", batch)
    if components > generator.w_dim:
        raise HeliogenError(f"GANSpace components ({components}) cannot exceed w_dim ({generator.w_dim})")
    if samples < components + 1:
        raise HeliogenError(f"GANSpace needs more samples than components: got {samples} samples for {components} components")
    from sklearn.decomposition import PCA

    w = _sample_w(generator, samples, seed, batch)
    pca = PCA(n_components=components, svd_solver="full").fit(w)
    vectors = pca.components_.astype(np.float64)
    # a PCA direction's sign is arbitrary: make its largest-magnitude entry positive, so reruns agree
    largest = vectors[np.arange(components), np.abs(vectors).argmax(axis=1)]
    vectors = vectors * np.where(largest < 0, -1.0, 1.0)[:, None]
    return Directions(mean=pca.mean_.astype(np.float64), components=vectors,
                      variances=pca.explained_variance_.astype(np.float64),
                      explained_ratio=pca.explained_variance_ratio_.astype(np.float64), samples=samples, seed=int(seed),
                      config_fingerprint=config_fingerprint(generator), mapping_fingerprint=mapping_fingerprint(generator))


_ITEM = re.compile(r"^\s*([+-]?\d+)\s*=\s*(\S+)\s*$")
_EXAMPLE = "INDEX=ALPHA pairs such as 0=+2.0,1=-1.5"


def parse_edit(text: str, components: int | None = None) -> dict[int, float]:
    """``"0=+2.0,1=-1.5"`` -> ``{0: 2.0, 1: -1.5}``: direction index to step in standard deviations.

    With ``components``, indices must lie in ``0 .. components - 1``. Bad syntax, a
    non-finite step, a negative, out-of-range or repeated index is a one-line HeliogenError.
    """
    if not str(text).strip():
        raise HeliogenError(f"empty edit: expected {_EXAMPLE}")
    edit: dict[int, float] = {}
    for item in str(text).split(","):
        match = _ITEM.match(item)
        if match is None:
            raise HeliogenError(f"bad edit item {item.strip()!r}: expected {_EXAMPLE}")
        index = int(match.group(1))
        try:
            alpha = float(match.group(2))
        except ValueError:
            raise HeliogenError(f"bad edit item {item.strip()!r}: {match.group(2)!r} is not a number") from None
        if not math.isfinite(alpha):
            raise HeliogenError(f"bad edit item {item.strip()!r}: the step must be finite")
        if index < 0 or (components is not None and index >= components):
            valid = "must not be negative" if components is None else f"must lie in 0..{components - 1}"
            raise HeliogenError(f"edit direction {index} is out of range: indices {valid}")
        if index in edit:
            raise HeliogenError(f"edit direction {index} is given twice")
        edit[index] = alpha
    return edit


def _layer_index(layers, num_ws: int) -> list[int]:
    """Synthesis layers (ws rows) an edit touches: None for all, a slice, or indices."""
    if layers is None:
        return list(range(num_ws))
    picked = list(range(num_ws))[layers] if isinstance(layers, slice) else [int(i) for i in layers]
    bad = [i for i in picked if not 0 <= i < num_ws]
    if bad or not picked:
        raise HeliogenError(f"edit layers {bad or 'none'} out of range: the generator has ws 0..{num_ws - 1}")
    return sorted(set(picked))


def apply_edit(ws: torch.Tensor, directions: Directions, edit: Mapping[int, float],
               layers: slice | Iterable[int] | None = None) -> torch.Tensor:
    """``ws + sum_k edit[k] * sigma_k * v_k`` on the chosen layers; a new tensor, ``ws`` is untouched.

    Parameters
    ----------
    ws : torch.Tensor
        (N, num_ws, w_dim) as from ``generator.mapping``.
    directions : Directions
    edit : mapping of int to float
        Direction index to step, in standard deviations (see :func:`parse_edit`).
    layers : None, slice or iterable of int
        Which ws to move (StyleGAN: coarse layers first); None moves all.
    """
    if ws.ndim != 3 or ws.shape[2] != directions.w_dim:
        raise HeliogenError(f"ws must have shape (N, num_ws, {directions.w_dim}), got {tuple(ws.shape)}")
    bad = sorted(k for k in edit if not 0 <= int(k) < directions.k)
    if bad:
        raise HeliogenError(f"edit direction {bad[0]} is out of range: indices must lie in 0..{directions.k - 1}")
    rows = _layer_index(layers, ws.shape[1])
    delta = np.zeros(directions.w_dim, dtype=np.float64)
    for k, alpha in edit.items():
        delta += float(alpha) * directions.sigmas[int(k)] * directions.components[int(k)]
    out = ws.clone()
    out[:, rows] += torch.from_numpy(delta).to(device=ws.device, dtype=ws.dtype)
    return out


def generate_edited(generator, seeds: Sequence[int], directions: Directions, edit: Mapping[int, float],
                    layers: slice | Iterable[int] | None = None, psi: float = 1.0, noise_mode: str = "random",
                    eval_batch: int = 8) -> torch.Tensor:
    """Images of ``seeds`` with ``edit`` applied to their (truncated) ws, through the generator's per-seed path.

    Each image keeps its seed's z and noise and does not depend on the other seeds; an
    edit of zero gives exactly :meth:`StyleGAN2Generator.generate`'s image.
    """
    directions.check_generator(generator)
    return generator.generate(seeds, psi=psi, noise_mode=noise_mode, eval_batch=eval_batch,
                              ws_edit=lambda ws: apply_edit(ws, directions, edit, layers))
