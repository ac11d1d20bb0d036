"""Tile banks: many generated tiles (float16) with the z vectors that made them (thesis sec. 3.4:
"the generator could be left alone generating a huge amount of images just once").

``BANK.zarr`` holds ``tiles`` (N, S, S) float16 in model space [-1, 1], ``z`` (N, L) float32
when the tiles come from a generator, ``generator/`` (a ``save_pretrained`` copy of the EMA
generator, or of a tile VAE's decoder, so latent blending and GA refinement need nothing else)
and attributes: format, size, n, latent_dim, the run and checkpoint the tiles came from, the
generator's class, the source store's normalisation, seed. A bank can also be filled from a
granulation store's real tiles; it then has no latents.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import HeliogenError

__all__ = ["TileBank", "open_bank", "create_bank", "bank_from_run", "bank_from_store", "bank_from_arrays"]

BANK_FORMAT = "heliogen-tile-bank/2"
GENERATOR_DIR = "generator"  # the save_pretrained folder of the bank's generator


def _zarr():
    import zarr

    warnings.filterwarnings("ignore", category=UserWarning, module="zarr")
    return zarr


WHAT_A_BANK_IS = "a tile bank is the .zarr folder that `heliogen mosaic bank` writes"


class TileBank:
    """Read access to a bank; ``tiles()`` loads every tile into memory (N S^2 float16)."""

    def __init__(self, path):
        zarr = _zarr()
        self.path = Path(path)
        if not self.path.exists():
            raise HeliogenError(f"no tile bank at {self.path}; {WHAT_A_BANK_IS}")
        try:
            self.group = zarr.open_group(str(self.path), mode="r")
        except Exception as err:  # noqa: BLE001 - zarr raises several types for non-groups
            raise HeliogenError(f"{self.path} is not a readable tile bank ({err}); {WHAT_A_BANK_IS}") from None
        self.attrs = dict(self.group.attrs)
        if self.attrs.get("format") == "heliogen-tile-bank/1":
            raise HeliogenError(f"{self.path} is a tile bank in an older format; rebuild it with `heliogen mosaic bank RUN`")
        if self.attrs.get("format") != BANK_FORMAT:
            raise HeliogenError(f"{self.path} is not a heliogen tile bank (format {self.attrs.get('format')!r}); {WHAT_A_BANK_IS}")

    @property
    def n(self) -> int:
        return int(self.attrs["n"])

    @property
    def size(self) -> int:
        return int(self.attrs["size"])

    @property
    def has_latents(self) -> bool:
        return "z" in self.group and (self.path / GENERATOR_DIR / "config.json").is_file()

    def tiles(self) -> np.ndarray:
        """All tiles, float16, read chunk by chunk into one array (no second full-size copy)."""
        arr = self.group["tiles"]
        out = np.empty((self.n, self.size, self.size), dtype=np.float16)
        step = max(1, arr.chunks[0])
        for i in range(0, self.n, step):
            out[i:i + step] = arr[i:min(self.n, i + step)]
        return out

    def latents(self) -> np.ndarray:
        if "z" not in self.group:
            raise HeliogenError(f"the bank {self.path} has no latent vectors (it was filled from real tiles); use --blend pixel without --refine")
        return np.asarray(self.group["z"][: self.n])

    def normalisation(self):
        from ..data.normalise import Normalisation

        d = self.attrs.get("normalisation")
        return Normalisation.from_dict(d) if d else None

    def generator(self, what: str = "latent blending"):
        """The bank's generator (eval mode), or one clear error if the bank has no latents."""
        if not self.has_latents:
            raise HeliogenError(f"the bank {self.path} has no latents (z vectors and generator), which {what} needs; bank a tile GAN or VAE run instead")
        from ..models import model_class

        cls = model_class(self.attrs["generator_class"])
        return cls.from_pretrained(self.path / GENERATOR_DIR, low_cpu_mem_usage=False).eval()


def open_bank(path) -> TileBank:
    return TileBank(path)


def create_bank(out, tiles_iter, n: int, size: int, latent_dim: int | None, attrs: dict, generator=None, chunk: int = 256) -> TileBank:
    """Write a bank from an iterator of ``(tiles (b, S, S), z (b, L) or None)`` batches."""
    zarr = _zarr()
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(str(out), mode="w")
    except OSError as err:
        raise HeliogenError(f"cannot create the bank {out}: {err.strerror or err}") from None
    tiles_arr = group.create_array("tiles", shape=(n, size, size), chunks=(min(chunk, n), size, size), dtype="float16", fill_value=0.0)
    z_arr = group.create_array("z", shape=(n, latent_dim), chunks=(min(4096, n), latent_dim), dtype="float32", fill_value=0.0) if latent_dim else None
    i = 0
    for tiles, z in tiles_iter:
        b = len(tiles)
        tiles_arr[i:i + b] = np.asarray(tiles, dtype=np.float16)
        if z_arr is not None:
            z_arr[i:i + b] = np.asarray(z, dtype=np.float32)
        i += b
    if generator is not None:
        from ..training.checkpoint import save_module

        save_module(generator, out / GENERATOR_DIR)
    from .. import __version__

    # the format tag is written last: a bank cut short by a crash does not open as complete
    group.attrs.update({"format": BANK_FORMAT, "n": i, "size": size, "latent_dim": latent_dim, "heliogen": __version__,
                        "generator_class": type(generator).__name__ if generator is not None else None, **attrs})
    return TileBank(out)


def bank_from_run(run, out, n: int = 10000, seed: int = 0, batch: int = 50, progress: bool = True, checkpoint=None) -> TileBank:
    """Bank ``n`` tiles of a tile GAN run's EMA generator, or of a tile VAE run's EMA decoder
    (the thesis's baseline, sec. 3.2), z ~ N(0, I) from one seeded generator. The bank records
    the run and checkpoint it came from.

    The z vectors come from one seeded stream drawn ``batch`` at a time, so a bank is
    reproducible for a given (seed, batch); another ``batch`` may change tiles in the last
    bits (the network's numerics depend on the batch shape). ``heliogen sample`` draws tile k
    from seed + k instead.
    """
    from tqdm.auto import tqdm

    from ..tiles.sample import TILE_KINDS, tile_generator
    from ..training.rundir import open_run

    if n < 1:
        raise HeliogenError("--n must be at least 1")
    opened = open_run(run)
    if opened.kind not in TILE_KINDS:
        raise HeliogenError(f"{opened.path} is a {opened.kind} run; a bank needs a tile GAN or tile VAE run")
    ckpt = opened.checkpoint(checkpoint)
    g = tile_generator(opened, ckpt)
    gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def batches():
        bar = tqdm(total=n, desc="bank", unit="tile", disable=not progress)
        for i in range(0, n, batch):
            z = torch.randn(min(batch, n - i), g.latent_dim, generator=gen)
            yield g(z)[:, 0].numpy(), z.numpy()
            bar.update(len(z))
        bar.close()

    attrs = {"source": str(opened.path.resolve()), "run": str(opened.path.resolve()), "checkpoint": ckpt.name, "model": opened.kind,
             "seed": seed, "normalisation": opened.data.get("normalisation")}
    return create_bank(out, batches(), n, g.size, g.latent_dim, attrs, generator=g)


def bank_from_store(store_path, out, n: int | None = None) -> TileBank:
    """A bank of a granulation store's real tiles (model space), without latents."""
    from ..data.store import open_store

    store = open_store(store_path)
    n = store.n if n is None else min(n, store.n)
    norm = store.normalisation

    def batches():
        for i in range(0, n, 256):
            imgs = store.images(slice(i, min(n, i + 256)))[:, 0]
            yield norm.forward(imgs.astype(np.float64)).astype(np.float32), None

    attrs = {"source": str(Path(store_path).resolve()), "run": None, "checkpoint": None, "model": "store", "seed": None,
             "normalisation": norm.to_dict()}
    return create_bank(out, batches(), n, store.size, None, attrs)


def bank_from_arrays(out, tiles: np.ndarray, z: np.ndarray | None = None, generator=None, normalisation: dict | None = None) -> TileBank:
    """A bank from arrays in memory (tests, other generators)."""
    tiles = np.asarray(tiles)
    attrs = {"source": "arrays", "run": None, "checkpoint": None, "model": "tilegan" if generator is not None else "arrays",
             "seed": None, "normalisation": normalisation}
    return create_bank(out, iter([(tiles, z)]), len(tiles), tiles.shape[-1], None if z is None else z.shape[1], attrs, generator=generator)
