"""Reading runs written before the run format had a ``run.json`` (heliogen-run/1).

Such a run has ``model_config.json`` at its root (the diffusion network's constructor
arguments and scheduler config, or a tile run's kind and generator/discriminator/VAE
arguments) and flat ``<name>.safetensors`` files in its checkpoints. Here its
``model_config.json`` becomes the record a ``run.json`` would hold; the checkpoint reader
(:func:`heliogen.training.checkpoint.load_weights`) already reads both layouts.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import HeliogenError

__all__ = ["LEGACY_FORMAT", "legacy_record"]

LEGACY_FORMAT = "heliogen-run/1"

# kind -> (module name, class name, key of its arguments in model_config.json), and the EMA modules
_LAYOUT = {
    "diffusion": ([("model", "SolarDiffusionModel", None)], ["model"]),
    "tilegan": ([("G", "TileGenerator", "generator"), ("D", "TileDiscriminator", "discriminator")], ["G"]),
    "tilevae": ([("vae", "TileVAE", "vae")], ["vae"]),
}


def legacy_record(run_dir) -> dict:
    """The run record (as in ``run.json``) of a heliogen-run/1 folder."""
    path = Path(run_dir) / "model_config.json"
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise HeliogenError(f"{path} is corrupt ({err})") from None
    kind = cfg.get("kind", "diffusion")  # diffusion runs did not name their kind
    if kind not in _LAYOUT:
        raise HeliogenError(f"{path} describes an unknown kind of run ({kind!r})")
    layout, ema = _LAYOUT[kind]
    modules = {}
    for name, cls, key in layout:
        config = {"unet": cfg["unet"], "cond": cfg["cond"]} if key is None else cfg[key]
        modules[name] = {"class": cls, "config": config}
    extras = {"scheduler": cfg["scheduler"]} if kind == "diffusion" else {}
    return {"format": LEGACY_FORMAT, "kind": kind, "modules": modules, "ema": ema, "extras": extras}
