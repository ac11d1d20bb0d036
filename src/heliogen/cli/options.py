"""Shared CLI options: a YAML config file that stands in for flags."""

from __future__ import annotations

import click


def _load_config(ctx: click.Context, param, value):
    if value is None:
        return None
    import yaml

    try:
        with open(value) as fh:
            cfg = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as err:
        raise click.BadParameter(f"cannot read {value}: {err}") from None
    if not isinstance(cfg, dict):
        raise click.BadParameter(f"{value} must hold a YAML mapping of option names to values")
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
