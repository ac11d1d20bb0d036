"""``heliogen sample RUN`` for every kind of run: a registry of kind -> sampling function.

Each kind registers the function that samples its runs to files (FITS with WCS and
provenance, a PNG grid) and the options it takes. :func:`sample_run` opens the run, picks
the function by the run's kind, and refuses options that do not apply to it, so a GAN or
super-resolution run plugs in with one :func:`register_sampler` call.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from .errors import HeliogenError

__all__ = ["RunSampler", "SAMPLERS", "register_sampler", "sample_run", "COMMON_OPTIONS", "output_folder", "sample_seeds",
           "load_for_sampling"]

# options every sampler takes: how many, which seeds, which weights, where it runs
COMMON_OPTIONS = frozenset({"n", "seed", "batch", "checkpoint", "device", "progress", "weights"})


@dataclass(frozen=True)
class RunSampler:
    """A kind's sampling function (``"module:function"``, imported on use) and its option names.

    The function is called as ``function(run_dir, out, **options)`` and returns a dict with
    ``"fits"`` (the written FITS paths) and ``"grid"`` (the PNG grid), plus any extras.
    """

    target: str
    options: frozenset

    def function(self):
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


SAMPLERS: dict[str, RunSampler] = {}


def output_folder(out) -> Path:
    """Create a sampler's output folder ``out`` (and its parents); a failure is one line."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HeliogenError(f"cannot create {out}: {err.strerror}") from None
    return out


def load_for_sampling(run_dir, kind: str, label: str, module: str, checkpoint=None, weights: str = "ema", device: str = "auto"):
    """The run, its checkpoint and the ``module`` to sample with (EMA or raw weights, on
    ``device``); a run of another kind than ``kind`` is one error naming the ``label`` wanted."""
    from .device import resolve_device
    from .training.rundir import open_run

    run = open_run(run_dir)
    if run.kind != kind:
        raise HeliogenError(f"{run.path} is a {run.kind} run, not a {label} run")
    ckpt = run.checkpoint(checkpoint)
    return run, ckpt, run.load_module(module, ema=weights == "ema", checkpoint=ckpt, device=resolve_device(device))


def sample_seeds(seed: int, n: int) -> list[int]:
    """The seeds of ``n`` samples: sample k has its own seed ``seed + k`` (the FITS SEED), so it
    can be drawn again alone."""
    return [seed + k for k in range(n)]


def register_sampler(kind: str, target: str, options=()) -> None:
    """Register the sampling function of runs of ``kind``; ``options`` beyond :data:`COMMON_OPTIONS`."""
    SAMPLERS[kind] = RunSampler(target, COMMON_OPTIONS | frozenset(options))


register_sampler("diffusion", "heliogen.diffusion.generate:sample_diffusion_run",
                 {"sampler", "steps", "classes", "fluxes", "guidance", "eval_batch", "stats"})
register_sampler("gan", "heliogen.gan.sample:sample_gan_run", {"truncation", "edit", "directions_path"})
register_sampler("tilegan", "heliogen.tiles.sample:sample_tiles")
register_sampler("tilevae", "heliogen.tiles.sample:sample_tiles")

# option name -> its command-line flag, for error messages
_FLAGS = {"classes": "--class", "fluxes": "--flux", "progress": "--no-progress", "directions_path": "--directions"}


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def sample_run(run_dir, out, given=(), **options) -> dict:
    """Sample the run ``run_dir`` into ``out`` with the function registered for its kind.

    Parameters
    ----------
    run_dir, out : path
    given : iterable of str
        Option names the user set explicitly; one that the run's kind does not take is an error.
    **options
        Option values (defaults included); those the kind does not take are dropped.
    """
    from .training.rundir import open_run

    run = open_run(run_dir)
    entry = SAMPLERS.get(run.kind)
    if entry is None:
        raise HeliogenError(f"heliogen cannot sample {run.kind} runs yet (it samples {', '.join(sorted(SAMPLERS))} runs)")
    unused = sorted(name for name in given if name not in entry.options)
    if unused:
        takes = ", ".join(sorted([_flag(o) for o in entry.options] + ["--out"]))
        verb = "does" if len(unused) == 1 else "do"
        raise HeliogenError(f"{', '.join(_flag(o) for o in unused)} {verb} not apply to a {run.kind} run (it takes {takes})")
    return entry.function()(run_dir, out, **{k: v for k, v in options.items() if k in entry.options})
