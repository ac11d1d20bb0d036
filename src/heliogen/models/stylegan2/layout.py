"""What the StyleGAN2 generator and discriminator share: legal resolutions and channel widths."""

from __future__ import annotations

from ...errors import HeliogenError

__all__ = ["RESOLUTIONS", "check_resolution", "block_channels"]

RESOLUTIONS = tuple(2 ** k for k in range(5, 11))  # 32 .. 1024


def check_resolution(resolution) -> int:
    """The image resolution must be a power of two from 32 to 1024; returns it as an int."""
    if isinstance(resolution, bool) or int(resolution) != resolution or int(resolution) not in RESOLUTIONS:
        raise HeliogenError(f"StyleGAN2 resolution {resolution} is not supported; it must be a power of two from 32 to 1024")
    return int(resolution)


def block_channels(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature channels at ``resolution`` px: ``min(channel_base // resolution, channel_max)``, at least 1
    (StyleGAN2's rule)."""
    return max(1, min(int(channel_base) // int(resolution), int(channel_max)))
