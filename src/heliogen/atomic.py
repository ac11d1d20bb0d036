"""Writing small files so a reader never sees half of one: temp file, fsync, ``os.replace``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomic", "default_file_mode", "default_dir_mode"]


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


def write_text_atomic(path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
