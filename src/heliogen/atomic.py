"""Writing small files so a reader never sees half of one: temp file, fsync, ``os.replace``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic", "write_text_atomic", "default_file_mode", "default_dir_mode"]


def default_file_mode() -> int:
    """The mode a plain ``open(..., "w")`` would give (0666 less the umask); mkstemp gives 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def default_dir_mode() -> int:
    """The mode a plain ``mkdir`` would give (0777 less the umask); mkdtemp gives 0700."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def write_atomic(path, write, binary: bool = True, suffix: str = "") -> Path:
    """Create ``path`` whole or not at all: ``write(fh)`` fills a temp file beside it, which is
    fsynced and renamed over ``path`` (``suffix`` keeps the temp name's extension for writers
    that look at it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path, text: str) -> Path:
    return write_atomic(path, lambda fh: fh.write(text), binary=False)
