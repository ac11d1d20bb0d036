"""Named presets of the ADM UNet (Dhariwal & Nichol 2021) as diffusers ``UNet2DModel`` configs.

ADM's UNet is residual blocks with scale-shift (FiLM) time conditioning, self-attention at
chosen resolutions and in the middle block; diffusers' ``UNet2DModel`` with
``resnet_time_scale_shift="scale_shift"`` is that network, so heliogen writes none of its own.

Attention resolutions follow guided-diffusion's convention: attention goes where
``image_size // resolution`` equals a level's downsampling rate. At 1024 px with seven levels
(1024 ... 16 px) the study's "attention at 16 and 8" reaches only the 16 px level: the
network never gets down to 8 px. :func:`attention_resolutions` reports this for any preset.
"""

from __future__ import annotations

from ..errors import HeliogenError

__all__ = ["PRESETS", "unet_config", "attention_resolutions"]

# base channels, channel multipliers, res blocks per level, attention resolutions (px),
# channels per head (None: ``heads`` heads at the attended level), heads, dropout, default size
PRESETS = {
    # Full-disk EUV study, appendix C.2: 128 channels, 2 res blocks, attention at 16 and 8 with
    # 4 heads. Channel multipliers for 1024 px extend ADM's 512 px ones (0.5,1,1,2,2,4,4).
    "adm-1024": dict(base=128, mult=(0.5, 1, 1, 2, 2, 4, 4), blocks=2, attn=(16, 8), heads=4, head_channels=None, dropout=0.0, size=1024),
    # Flare-class poster, 64 px: ADM's 64 px ImageNet layout (mult 1,2,3,4; attention at
    # 32,16,8; 64 channels per head) at 128 base channels.
    "adm-64": dict(base=128, mult=(1, 2, 3, 4), blocks=2, attn=(32, 16, 8), heads=None, head_channels=64, dropout=0.1, size=64),
    # Super-resolution paper, sec. 4: the latent models' UNet on f = 8 latents of 1024 px crops
    # (128 px) with 128 base channels, convolutions alternating with self-attention (here at
    # 32 and 16 px: attention over 128^2 tokens does not fit the paper's 12 GB TITAN X).
    "sr-latent": dict(base=128, mult=(1, 2, 2, 4), blocks=2, attn=(32, 16), heads=None, head_channels=64, dropout=0.0, size=128),
    # ... and the pixel models' UNet on 1024 px, "constrained to a maximum of 8" base channels,
    # convolutions only (diffusers keeps attention in the 16 px middle block).
    "sr-pixel": dict(base=8, mult=(1, 2, 4, 8, 8, 16, 16), blocks=2, attn=(), heads=None, head_channels=32, dropout=0.0, size=1024),
    # CPU tests and the demo: the same network, narrow and shallow.
    "tiny": dict(base=32, mult=(1, 2, 2), blocks=1, attn=(8,), heads=None, head_channels=32, dropout=0.0, size=32),
}


def attention_resolutions(preset: str, size: int | None = None) -> list[int]:
    """The resolutions (px) whose levels actually get self-attention for ``preset`` at ``size``."""
    p = _preset(preset)
    size = size or p["size"]
    levels = [size // 2**i for i in range(len(p["mult"]))]
    return [r for r in levels if r in p["attn"]]


def _preset(name: str) -> dict:
    if name not in PRESETS:
        raise HeliogenError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]


def unet_config(preset: str, size: int | None = None, in_channels: int = 1, out_channels: int | None = None, conditioned: bool = False) -> dict:
    """Keyword arguments for ``diffusers.UNet2DModel`` for a preset.

    Parameters
    ----------
    preset : {"adm-1024", "adm-64", "sr-latent", "sr-pixel", "tiny"}
    size : int, optional
        Image side (a multiple of ``2**(levels-1)``); default the preset's.
    in_channels, out_channels : int
        Image channels (out defaults to in).
    conditioned : bool
        Accept a condition embedding (``class_labels`` of shape (B, 4*base)), added to the
        time embedding as ADM does with class embeddings.
    """
    p = _preset(preset)
    size = size or p["size"]
    levels = len(p["mult"])
    if size % 2 ** (levels - 1):
        raise HeliogenError(f"image size {size} is not divisible by {2 ** (levels - 1)}, as preset {preset} needs")
    channels = tuple(int(p["base"] * m) for m in p["mult"])
    attn = set(attention_resolutions(preset, size))
    res = [size // 2**i for i in range(levels)]
    down = tuple("AttnDownBlock2D" if r in attn else "DownBlock2D" for r in res)
    up = tuple("AttnUpBlock2D" if r in attn else "UpBlock2D" for r in reversed(res))
    attended = [c for c, r in zip(channels, res) if r in attn] or [channels[-1]]
    head_dim = p["head_channels"] or attended[0] // p["heads"]
    config = dict(
        sample_size=size,
        in_channels=in_channels,
        out_channels=out_channels or in_channels,
        block_out_channels=channels,
        layers_per_block=p["blocks"],
        down_block_types=down,
        up_block_types=up,
        attention_head_dim=head_dim,
        resnet_time_scale_shift="scale_shift",
        dropout=p["dropout"],
        norm_num_groups=min(32, channels[0]),
        add_attention=True,  # ADM keeps attention in the middle block
    )
    if conditioned:
        config["class_embed_type"] = "identity"  # heliogen's condition encoder supplies the vector
    return config
