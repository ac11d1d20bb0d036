"""Run folders: what ``heliogen train ...`` writes and ``heliogen sample``/``mosaic bank`` read.

One layout for every kind of run (diffusion, gan, tilegan, tilevae, autoencoder; later superres)::

    RUN/run.json          format tag, kind, each module's class and config, EMA modules,
                          kind-specific extras (the diffusion scheduler config), heliogen version
    RUN/data.json         the store's kind, size, channels, normalisation, data range, grid
                          header, classes and size n, so sampling needs no store
    RUN/config.yaml       the resolved training config
    RUN/stats.jsonl, RUN/tb/, RUN/samples/
    RUN/checkpoints/step-NNNNNNN/<module>/      one save_pretrained folder per module
                                                (model/, model_ema/, G/, G_ema/, D/ ...)
    RUN/checkpoints/step-NNNNNNN/state.pt       optimizer, EMA, RNG and scaler state
    RUN/checkpoints/best                        JSON naming the lowest-FD checkpoint (--eval-every)
    RUN/eval/reference_<features>_<n>.npz       the held-out store's cached features

:func:`create_run` writes the description files atomically and refuses a folder that holds
another run; :func:`open_run` reads any run, including those written before ``run.json``
(:mod:`heliogen.training.legacy_run`), and loads any module, EMA or raw, from any checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import write_text_atomic
from ..errors import HeliogenError
from .best import BEST_NAME, best_checkpoint
from .checkpoint import STEP_DIR, list_checkpoints, load_module_weights, module_weights_path, state_dict_mismatch

__all__ = ["RUN_FORMAT", "RUN_KINDS", "NETWORK_RANGE", "Run", "create_run", "open_run", "is_run", "describe_store",
           "to_model_space", "from_model_space", "UNKNOWN_GEOMETRY"]

RUN_FORMAT = "heliogen-run/2"
RUN_KINDS = ("diffusion", "tilegan", "tilevae", "gan", "autoencoder", "superres")
WHAT_A_RUN_IS = "a run folder written by `heliogen train diffusion|gan|tilegan|tilevae|autoencoder`"
# The networks' value range. A run whose data range is this one feeds the store's model space
# to its networks unchanged (to_model_space and from_model_space are then the identity).
NETWORK_RANGE = (-1.0, 1.0)
# The grid header of a run whose training geometry is lost (an old tile run whose store is
# gone): pixel axes, offsets in pixels from the image centre, so no plate scale is invented.
UNKNOWN_GEOMETRY = {"CTYPE1": "PIXEL", "CTYPE2": "PIXEL", "CDELT1": 1.0, "CDELT2": 1.0, "CRVAL1": 0.0, "CRVAL2": 0.0,
                    "WCSNAME": "pixel offsets from the image centre",
                    "COMMENT": "training store gone: plate scale, observer and instrument unknown"}


def to_model_space(x, data_range):
    """Store model space (``data_range``) to the networks' [-1, 1]."""
    lo, hi = data_range
    return (x - lo) * (2.0 / (hi - lo)) - 1.0


def from_model_space(x, data_range):
    """The networks' [-1, 1] back to the store's model space ``data_range``."""
    lo, hi = data_range
    return (x + 1.0) * ((hi - lo) / 2.0) + lo


def describe_store(store, data_path) -> dict:
    """``data.json``: what sampling needs to know of the training store."""
    from ..data.grid_header import grid_header_from_store

    classes = sorted(set(store.column("goes_class")) - {""}) if "goes_class" in store.columns() else []
    return {"store": str(Path(data_path).resolve()), "kind": store.kind, "size": store.size, "channels": int(store.attrs["channels"]),
            "normalisation": store.normalisation.to_dict(), "data_range": list(store.normalisation.data_range),
            "header": grid_header_from_store(store), "classes": classes, "n": store.n}


def _plain(obj):
    """JSON values only (tuples become lists), so records compare as they are stored."""
    return json.loads(json.dumps(obj))


def _module_record(module) -> dict:
    config = {k: v for k, v in dict(getattr(module, "config", {}) or {}).items() if not k.startswith("_")}
    return {"class": type(module).__name__, "config": _plain(config)}


def _same_module(old: dict | None, new: dict | None, module) -> bool:
    """Whether a recorded module is the one about to train. A key the record lacks (an option
    added to the class after the run began) counts as the class's default, which is what
    loading that record builds, so older runs still resume."""
    if old is None or new is None or old.get("class") != new.get("class"):
        return old == new
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(type(module).__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    filled = {**{k: _plain(defaults[k]) for k in new["config"] if k not in old["config"] and k in defaults}, **old["config"]}
    return filled == new["config"]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise HeliogenError(f"{path} is missing or corrupt ({err})") from None


def _record(path: Path) -> dict | None:
    """The run record of ``path`` (run.json, or a legacy run's model_config.json), or None."""
    if (path / "run.json").is_file():
        record = _read_json(path / "run.json")
        fmt = str(record.get("format", ""))
        if not fmt.startswith("heliogen-run/"):
            raise HeliogenError(f"{path / 'run.json'} is not a heliogen run description (format {fmt!r})")
        if fmt != RUN_FORMAT:
            raise HeliogenError(f"{path} is a {fmt} run; this heliogen reads {RUN_FORMAT} (upgrade heliogen)")
        return record
    if (path / "model_config.json").is_file():
        from .legacy_run import legacy_record

        return legacy_record(path)
    return None


def is_run(path) -> bool:
    """True if ``path`` is a run folder (of any format)."""
    path = Path(path)
    return path.is_dir() and ((path / "run.json").is_file() or (path / "model_config.json").is_file())


def create_run(path, kind: str, modules: dict, data: dict, config: dict, ema=(), extras: dict | None = None) -> "Run":
    """Write (or re-enter) the run folder ``path``: ``run.json``, ``data.json``, ``config.yaml``.

    Parameters
    ----------
    path : path
    kind : one of :data:`RUN_KINDS`
    modules : dict of name -> model
        The trained modules (diffusers models); their class names and configs are recorded.
    data : dict
        The data description (:func:`describe_store`).
    config : dict
        The resolved training config (``config.yaml``).
    ema : sequence of str
        Modules the trainer keeps an EMA of.
    extras : dict, optional
        Kind-specific values sampling needs (the diffusion scheduler config).

    A folder that already holds a run of another kind, or of another model (a module config or
    an extra differs), is refused with one line: training would mix two models' checkpoints.
    """
    import yaml

    from .. import __version__

    if kind not in RUN_KINDS:
        raise HeliogenError(f"unknown run kind {kind!r}; choose from {', '.join(RUN_KINDS)}")
    path = Path(path)
    record = {"format": RUN_FORMAT, "kind": kind, "modules": {n: _module_record(m) for n, m in modules.items()},
              "ema": list(ema), "extras": _plain(extras or {}), "heliogen": __version__}
    old = _record(path) if path.is_dir() else None
    if old is not None:
        if old["format"] != RUN_FORMAT:
            raise HeliogenError(f"{path} holds a run in the older {old['format']} format; choose a new --out")
        if old["kind"] != kind:
            raise HeliogenError(f"{path} holds a {old['kind']} run, not a {kind} run; choose a new --out")
        differ = [n for n in sorted(set(old["modules"]) | set(record["modules"]))
                  if not _same_module(old["modules"].get(n), record["modules"].get(n), modules.get(n))]
        differ += [k for k in sorted(set(old.get("extras", {})) | set(record["extras"])) if old.get("extras", {}).get(k) != record["extras"].get(k)]
        if differ:
            raise HeliogenError(f"{path} holds a {kind} run of another model ({', '.join(differ)} differ); choose a new --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HeliogenError(f"cannot create the run folder {path}: {err.strerror}") from None
    write_text_atomic(path / "run.json", json.dumps(record, indent=2))
    write_text_atomic(path / "data.json", json.dumps(_plain(data), indent=2))
    write_text_atomic(path / "config.yaml", yaml.safe_dump(_plain(config), sort_keys=False))
    return Run(path, record, _plain(data))


def open_run(path) -> "Run":
    """Open a run folder of any kind and format (see the module notes)."""
    path = Path(path)
    if not path.is_dir():
        raise HeliogenError(f"no run folder at {path}; give {WHAT_A_RUN_IS}")
    record = _record(path)
    if record is None:
        raise HeliogenError(f"{path} is not a heliogen run (no run.json); give {WHAT_A_RUN_IS}")
    return Run(path, record, _read_json(path / "data.json"))


class Run:
    """An opened run: its kind, data description, config and checkpoints; loads its modules.

    Attributes
    ----------
    path : Path
    kind : str
    record : dict
        ``run.json`` (for an older run, what it would hold).
    data : dict
        ``data.json``.
    """

    def __init__(self, path, record: dict, data: dict):
        self.path, self.record, self.data = Path(path), record, data
        self.kind = record["kind"]

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, kind={self.kind!r}, format={self.format!r})"

    @property
    def format(self) -> str:
        return self.record["format"]

    @property
    def legacy(self) -> bool:
        return self.format != RUN_FORMAT

    @property
    def modules(self) -> dict:
        """Module name -> class name."""
        return {n: m["class"] for n, m in self.record["modules"].items()}

    @property
    def ema(self) -> list:
        return list(self.record.get("ema", []))

    @property
    def extras(self) -> dict:
        return dict(self.record.get("extras", {}))

    @property
    def config(self) -> dict:
        """The resolved training config (``config.yaml``), or {} where there is none."""
        import yaml

        path = self.path / "config.yaml"
        return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}

    # -- data ---------------------------------------------------------------------------
    @property
    def normalisation(self):
        from ..data.normalise import Normalisation

        return Normalisation.from_dict(self.data["normalisation"])

    @property
    def shape(self) -> tuple:
        return (int(self.data["channels"]), int(self.data["size"]), int(self.data["size"]))

    @property
    def header(self) -> dict:
        """The FITS header template of the training grid.

        Runs record it in ``data.json``. Runs of the old tile trainers kept none: theirs comes
        from the training store where it still exists, else it is :data:`UNKNOWN_GEOMETRY`'s
        pixel axes, which claim no plate scale, observer or instrument.
        """
        if self.data.get("header"):
            return dict(self.data["header"])
        from_store = self._header_from_store()
        if from_store is not None:
            return from_store
        from ..data.kinds import KINDS

        kind = self.data["kind"]
        centre = (int(self.data["size"]) + 1) / 2
        return {**UNKNOWN_GEOMETRY, "CRPIX1": centre, "CRPIX2": centre, "BUNIT": KINDS[kind].fits_bunit if kind in KINDS else ""}

    def _header_from_store(self) -> dict | None:
        """The grid header of the store named in ``data.json``, if it is still there and is this run's."""
        from ..data.grid_header import grid_header_from_store
        from ..data.store import open_store

        path = Path(self.data.get("store") or "")
        if not self.data.get("store") or not path.is_dir():
            return None
        try:
            store = open_store(path)
        except Exception:  # noqa: BLE001 - moved, rebuilt or damaged: the geometry is then unknown
            return None
        if store.kind != self.data["kind"] or store.size != int(self.data["size"]):
            return None  # another store has taken its place
        return grid_header_from_store(store)

    def physical(self, x):
        """Network outputs in [-1, 1] to physical units (DN/s, G, I/<I>)."""
        return self.normalisation.physical(from_model_space(np.asarray(x, dtype=np.float64), self.data["data_range"]))

    def model_space(self, x):
        """Store values (the store's model space) to the networks' [-1, 1]."""
        return to_model_space(x, self.data["data_range"])

    # -- checkpoints --------------------------------------------------------------------
    def checkpoints(self) -> list:
        """Complete checkpoint folders, oldest first."""
        return list_checkpoints(self.path)

    @property
    def latest(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def checkpoint(self, which=None) -> Path:
        """A checkpoint folder: the newest (None), ``"best"`` (the one ``checkpoints/best``
        names, lowest FD during training), a path, a folder name or a step number.

        A run without a best pointer, a step or name the run lacks, or a path that is not a checkpoint folder, is an error
        that lists the run's checkpoints.
        """
        if which is None:
            if self.latest is None:
                raise HeliogenError(f"{self.path} has no complete checkpoint in {self.path / 'checkpoints'} yet")
            return self.latest
        if which == BEST_NAME:
            return best_checkpoint(self.path)
        if isinstance(which, int) or (isinstance(which, str) and which.isdigit()):
            which = f"step-{int(which):07d}"
        if isinstance(which, str) and STEP_DIR.match(which):
            if (self.path / "checkpoints" / which).is_dir():
                return self.path / "checkpoints" / which
            raise HeliogenError(f"no checkpoint {which} in {self.path}; {self._checkpoint_names()}")
        folder = Path(which)
        if not folder.exists():
            raise HeliogenError(f"no checkpoint at {folder}; {self._checkpoint_names()}")
        if not (folder.is_dir() and STEP_DIR.match(folder.name)):
            raise HeliogenError(f"{folder} is not a checkpoint folder ({self.path / 'checkpoints' / 'step-N'}); {self._checkpoint_names()}")
        return folder

    def _checkpoint_names(self) -> str:
        names = [c.name for c in self.checkpoints()]
        return f"it has {', '.join(names)}" if names else "it has no complete checkpoint yet"

    def load_module(self, name: str, ema: bool | None = None, checkpoint=None, device="cpu"):
        """Module ``name`` from a checkpoint (default the newest), in eval mode on ``device``.

        ``ema``: the averaged weights (True), the raw ones (False), or the average where the
        run keeps one (None).
        """
        if name not in self.record["modules"]:
            raise HeliogenError(f"the {self.kind} run {self.path} has no module {name!r} (it has {', '.join(self.record['modules'])})")
        use_ema = name in self.ema if ema is None else bool(ema)
        if use_ema and name not in self.ema:
            raise HeliogenError(f"the run {self.path} keeps no EMA of {name}; load its raw weights")
        ckpt = self.checkpoint(checkpoint)
        saved = f"{name}_ema" if use_ema else name
        weights, partial = load_module_weights(module_weights_path(ckpt, saved), checkpoint=ckpt)
        if partial:
            raise HeliogenError(f"{ckpt / saved} holds trainable parameters only; load it onto its base model")
        from ..models import model_class

        cls = model_class(self.record["modules"][name]["class"])
        folder = ckpt / saved
        # the folder's own config.json (save_pretrained's) where there is one, else run.json's
        config = cls.load_config(folder) if (folder / "config.json").is_file() else self.record["modules"][name]["config"]
        model = cls.from_config(config)
        why = state_dict_mismatch(model, weights)
        if why:
            raise HeliogenError(f"{ckpt / saved} does not fit the {name} module ({self.modules[name]}): {why}")
        model.load_state_dict(weights)
        return model.eval().to(device)
