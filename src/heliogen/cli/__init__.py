"""The ``heliogen`` command line: one group per pipeline stage.

A user's mistake (bad option, missing file, unusable input) prints one line on stderr,
``heliogen: error: ...``, and exits with code 2; tracebacks are kept for real bugs.
"""

from __future__ import annotations

import logging
import sys

import click

from .. import __version__
from ..errors import HeliogenError
from .data import data
from .demo import demo
from .evaluate import evaluate
from .gan import gan
from .sample import sample
from .mosaic import mosaic
from .superres import superres
from .train import train

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="heliogen")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def cli(verbose: int, quiet: bool):
    """heliogen: generative modelling of solar observations, from FITS to FITS."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    from .. import progress

    progress.QUIET = quiet  # set on every call: a quiet run must not silence the next one in the same process
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("heliogen: %(message)s"))
    logger = logging.getLogger("heliogen")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


for group in (data, train, sample, evaluate, gan, mosaic, superres, demo):
    cli.add_command(group)


def _fail(message: str, code: int = 2):
    click.echo(f"heliogen: error: {message}", err=True)
    sys.exit(code)


def main(argv=None):
    """Entry point: run the CLI and turn user errors into one line and exit code 2."""
    import matplotlib

    matplotlib.use("Agg")  # the command line writes figures to files and never opens a window
    try:
        code = cli.main(args=argv, prog_name="heliogen", standalone_mode=False)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.ClickException as err:
        _fail(err.format_message().replace("\n", " "))
    except HeliogenError as err:
        _fail(str(err).replace("\n", " "))
    except PermissionError as err:
        _fail(f"permission denied: {err.filename or err}")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as err:
        _fail(f"{err.strerror}: {err.filename}")
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)
