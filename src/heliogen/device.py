"""Which torch device a ``--device`` choice means, decided in one place."""

from __future__ import annotations

from .errors import HeliogenError

__all__ = ["resolve_device"]


def resolve_device(name: str = "auto") -> str:
    """The torch device name for a ``--device`` choice.

    Parameters
    ----------
    name : {"auto", "cpu", "cuda", "cuda:N"}
        ``"auto"`` is CUDA where a CUDA device is available, else the CPU.

    Returns
    -------
    str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises
    ------
    HeliogenError
        An unknown name, or CUDA asked for where there is none (one line, for the CLI).
    """
    import torch

    name = str(name).strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise HeliogenError(f"--device {name} asked for, but no CUDA device is available")
        if ":" in name and int(name[5:]) >= torch.cuda.device_count():
            raise HeliogenError(f"--device {name} asked for, but there are {torch.cuda.device_count()} CUDA devices")
        return name
    raise HeliogenError(f"unknown device {name!r}; choose auto, cpu or cuda")
