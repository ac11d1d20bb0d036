"""Shared CLI options: a YAML config file that stands in for flags, and the options and settings
builder every trainer command shares."""

from __future__ import annotations

import click


def read_config(path, _seen=()) -> dict:
    """A YAML config as a mapping; ``base: OTHER.yaml`` (relative to the file) is read first and
    overridden key by key, so an ablation names only what it changes."""
    from pathlib import Path

    import yaml

    path = Path(path)
    try:
        with open(path) as fh:
            cfg = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as err:
        raise click.BadParameter(f"cannot read {path}: {err}") from None
    if not isinstance(cfg, dict):
        raise click.BadParameter(f"{path} must hold a YAML mapping of option names to values")
    base = cfg.pop("base", None)
    if base is None:
        return cfg
    base_path = (path.parent / str(base)).resolve()
    if base_path in _seen or base_path == path.resolve():
        raise click.BadParameter(f"{path}: base: {base} leads back to itself")
    return {**read_config(base_path, (*_seen, path.resolve())), **cfg}


def _load_config(ctx: click.Context, param, value):
    if value is None:
        return None
    cfg = read_config(value)
    # Keys are long option names (dashes or underscores) or parameter names.
    names = {}
    for p in ctx.command.params:
        names[p.name] = p.name
        for opt in p.opts:
            names[opt.lstrip("-").replace("-", "_")] = p.name
    unknown = sorted(k for k in cfg if str(k).replace("-", "_") not in names)
    if unknown:
        raise click.BadParameter(f"{value}: unknown option(s) {', '.join(map(str, unknown))}")
    cfg = {names[str(k).replace("-", "_")]: v for k, v in cfg.items()}
    # Values from the file become defaults, so flags on the command line still win.
    ctx.default_map = {**(ctx.default_map or {}), **cfg}
    return value


config_option = click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False),
    callback=_load_config,
    is_eager=True,
    expose_value=False,
    help="YAML file of option values (keys as the long option names); flags override it.",
)


def common_training_options(f):
    """The options every trainer shares (:class:`heliogen.training.trainer.TrainSettings`)."""
    options = [
        click.option("--data", type=click.Path(exists=True), required=True, help="Store to train on (STORE.zarr)."),
        click.option("--out", type=click.Path(file_okay=False), required=True, help="Run directory."),
        click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Optimizer steps."),
        click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True, help="Global batch (split over processes)."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True, help="Learning rate."),
        click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True),
        click.option("--ema", type=click.FloatRange(0, 1), default=0.9999, show_default=True, help="EMA decay of the weights."),
        click.option("--ema-kimg", type=click.FloatRange(min=0), default=0.0, show_default=True,
                     help="StyleGAN2's EMA instead: half-life in thousands of images (0: use --ema)."),
        click.option("--ema-rampup", type=click.FloatRange(min=0), default=0.0, show_default=True,
                     help="With --ema-kimg: ramp the half-life up as this times the images seen (StyleGAN2: 0.05; 0: no ramp)."),
        click.option("--grad-clip", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Gradient-norm clip (0: off)."),
        click.option("--checkpoint-every", type=click.IntRange(min=1), default=1000, show_default=True),
        click.option("--sample-every", type=click.IntRange(min=0), default=0, show_default=True, help="Sample grid every K steps (0: off)."),
        click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True),
        click.option("--keep-checkpoints", type=click.IntRange(min=1), default=3, show_default=True),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True),
        click.option("--mixed-precision", type=click.Choice(["auto", "no", "bf16", "fp16"]), default="auto", show_default=True, help="auto: bf16 on GPUs that have it, else fp16; float32 on the CPU, where bf16 runs only when asked for."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
        click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="Data-loading processes."),
        click.option("--resume", default="auto", show_default=True, help="auto (newest complete checkpoint), never, or a checkpoint directory. Checkpoints past the step training continues from are moved to checkpoints/abandoned/."),
        click.option("--no-progress", is_flag=True, help="No progress bar."),
        click.option("--eval-every", type=click.IntRange(min=0), default=0, show_default=True,
                     help="FD against --eval-data every K steps, keeping checkpoints/best (0: off)."),
        click.option("--eval-data", type=click.Path(exists=True, file_okay=False), default=None, help="Held-out store for the FD."),
        click.option("--eval-n", type=click.IntRange(min=2), default=1000, show_default=True, help="Images generated (and held out) per FD."),
        click.option("--eval-features", default="inception", show_default=True,
                     help="Feature extractor of the FD (inception, inception-random, effnet-lite0, ..., domain:PATH)."),
        config_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def settings_from(kwargs: dict, defaults: dict | None = None):
    """The TrainSettings of a trainer command's options.

    ``defaults``: a model family's own values (the tile thesis's lr, batch, clipping) used
    where the user left the shared option at its shared default.
    """
    from click.core import ParameterSource

    from ..training.fd_eval import check_eval_settings
    from ..training.trainer import TrainSettings

    names = set(TrainSettings.__dataclass_fields__)
    s = TrainSettings(**{k: v for k, v in kwargs.items() if k in names})
    s.progress = not kwargs.get("no_progress", False)
    ctx = click.get_current_context(silent=True)
    for name, value in (defaults or {}).items():
        if ctx is None or ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, None):
            setattr(s, name, value)
    check_eval_settings(s)  # before any run folder is written
    return s


def report_result(result) -> None:
    """One line on how a training run ended."""
    if result["stopped"]:
        click.echo(f"stopped by signal at step {result['step']}; checkpoint {result['checkpoint']}; resume with the same command")
    else:
        click.echo(f"trained to step {result['step']}; checkpoint {result['checkpoint']}")
