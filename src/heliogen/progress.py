"""One switch for progress bars: ``heliogen -q`` turns every tqdm bar off."""

QUIET = False


def bars_off(progress: bool = True) -> bool:
    """The ``disable`` argument for tqdm: off when the caller or ``heliogen -q`` says so."""
    return QUIET or not progress
