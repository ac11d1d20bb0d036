"""Which process this is, before accelerate is set up (torchrun/accelerate set ``RANK``)."""

import os

__all__ = ["is_main_process"]


def is_main_process() -> bool:
    """True on rank 0, or when not launched distributed; run files are written there only."""
    return int(os.environ.get("RANK", "0")) == 0
