"""Errors a user can act on.

The CLI turns a :class:`HeliogenError` into one line on stderr and exit code 2. A
:class:`BadInput` names one input file; batch commands skip that file, log the reason
and go on with the rest.
"""


class HeliogenError(Exception):
    """A user's mistake or an unusable environment, reported as one clear line."""


class BadInput(HeliogenError):
    """One input cannot be used. Inside a batch it is skipped with this reason.

    Parameters
    ----------
    reason : str
        Short, human-readable reason ("truncated FITS file", "QUALITY=1024 (not 0)").
    source : str, optional
        The file or item the reason is about.
    """

    def __init__(self, reason: str, source: str | None = None):
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)
