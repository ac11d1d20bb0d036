"""``python -m heliogen`` is the ``heliogen`` command."""

from .cli import main

main()
