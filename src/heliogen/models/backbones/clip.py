"""CLIP image towers (RN50, ViT-B/32) in plain torch, and a loader for CLIP checkpoints.

The two image encoders of CLIP (Radford et al. 2021, "Learning Transferable Visual Models
From Natural Language Supervision", sec. 2.4), written for heliogen so that CLIP features
need neither open_clip nor torchvision:

* :class:`ModifiedResNet` - CLIP's RN50: a three-convolution stem ending in a 2x2 average
  pool; bottleneck blocks that are anti-aliased (a strided block average-pools after its
  3x3 convolution, and its shortcut average-pools before a 1x1 convolution); and an
  attention pool in place of the global average: the mean of the final 7x7 grid is
  prepended as a query token, a learned positional embedding is added, and one
  multi-head QKV attention (32 heads over 2048 channels) reads out that token, projected
  to the 1024-d embedding.
* :class:`VisionTransformer` - CLIP's ViT-B/32: 32x32 patches by a strided convolution,
  a class token and learned positional embedding, a layer norm before the 12 pre-norm
  residual blocks (width 768, 12 heads, 4x MLP), the final layer norm on the class token
  and a 768x512 projection. OpenAI's weights were trained with QuickGELU
  ``x * sigmoid(1.702 x)`` in the MLP; open_clip's own (LAION) ViT-B-32 weights with the
  exact GELU, so the activation is a parameter.

Parameter names and shapes are those of OpenAI's checkpoints and open_clip's ``visual``
sub-module (``conv1.weight``, ``layer1.0.downsample.0.weight``, ``attnpool.q_proj.weight``,
``transformer.resblocks.0.attn.in_proj_weight``, ``proj``, ...), so their ``visual.*``
tensors load with ``strict=True``. Layer norms use eps 1e-5 and batch norms eps 1e-5, as
both implementations do. The visual towers hold 38,316,896 (RN50) and 87,849,216
(ViT-B/32) parameters, open_clip's ``image_mparams`` of 38.32 M and 87.85 M.

:func:`load_clip_visual` reads an OpenAI TorchScript archive (``RN50.pt``,
``ViT-B-32.pt``; :func:`torch.jit.load` runs the archive's TorchScript code, so load only
archives you trust), a plain torch state dict (``.pt``/``.bin``, read with
``weights_only=True``; possibly nested under ``"state_dict"``, keys possibly prefixed
``module.``) or a ``.safetensors`` file (open_clip's hub files
``open_clip_pytorch_model.bin`` / ``open_clip_model.safetensors``).
"""

from __future__ import annotations

import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import HeliogenError

__all__ = [
    "ModifiedResNet", "VisionTransformer", "QuickGELU", "TOWERS", "PARAM_COUNTS", "RANDOM_SEED",
    "build_visual", "read_checkpoint", "visual_state_dict", "load_visual_weights", "random_visual", "load_clip_visual",
]

RANDOM_SEED = 0

# Architecture of each tower (the image half of OpenAI's RN50 / ViT-B-32 and open_clip's
# configs of the same names).
TOWERS = {
    "RN50": {"kind": "resnet", "layers": (3, 4, 6, 3), "width": 64, "heads": 32, "output_dim": 1024, "image_size": 224},
    "ViT-B-32": {"kind": "vit", "patch_size": 32, "width": 768, "layers": 12, "heads": 12, "output_dim": 512,
                 "image_size": 224},
}
# Parameter counts of the visual towers (derived in tests/test_clip.py from the architecture;
# open_clip's docs/model_profile.csv lists image_mparams 38.32 and 87.85).
PARAM_COUNTS = {"RN50": 38_316_896, "ViT-B-32": 87_849_216}


# -- ResNet ----------------------------------------------------------------------------------
class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> (avg pool when strided) -> 1x1 (4x wider), with an anti-aliased shortcut."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.downsample: Optional[nn.Module] = None
        if stride > 1 or in_ch != out_ch:
            # Checkpoints name the shortcut's layers "downsample.0" (conv) and ".1" (norm);
            # "-1" is the parameter-free pool in front of them.
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride) if stride > 1 else nn.Identity()),
                ("0", nn.Conv2d(in_ch, out_ch, 1, bias=False)),
                ("1", nn.BatchNorm2d(out_ch)),
            ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(self.avgpool(y)))
        shortcut = x
        if self.downsample is not None:
            shortcut = self.downsample(x)
        return F.relu(y + shortcut)


class AttentionPool2d(nn.Module):
    """QKV attention read-out of a (C, S, S) grid through its prepended mean token.

    Only the mean token's output is kept, so only its query is computed; keys and values
    cover all ``S * S + 1`` tokens. Scaled dot product with ``heads`` heads, scale
    ``head_dim ** -0.5``, then ``c_proj`` to ``output_dim``.
    """

    def __init__(self, grid: int, channels: int, heads: int, output_dim: int):
        super().__init__()
        self.heads = heads
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, channels) / channels ** 0.5)
        self.k_proj = nn.Linear(channels, channels)  # k, q, v: the checkpoints' order
        self.q_proj = nn.Linear(channels, channels)
        self.v_proj = nn.Linear(channels, channels)
        self.c_proj = nn.Linear(channels, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        tokens = x.flatten(2).transpose(1, 2)  # (N, S*S, C)
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1) + self.positional_embedding.to(x.dtype)
        d = c // self.heads
        q = self.q_proj(tokens[:, :1]).view(n, 1, self.heads, d).transpose(1, 2)
        k = self.k_proj(tokens).view(n, -1, self.heads, d).transpose(1, 2)
        v = self.v_proj(tokens).view(n, -1, self.heads, d).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, heads, 1, d)
        return self.c_proj(out.transpose(1, 2).reshape(n, c))


class ModifiedResNet(nn.Module):
    """CLIP's modified ResNet image tower (RN50 with ``layers=(3, 4, 6, 3)``, ``width=64``).

    Parameters
    ----------
    layers : tuple of 4 int
        Bottleneck blocks per stage.
    output_dim : int
        Embedding size after the attention pool.
    heads : int
        Attention-pool heads.
    image_size : int
        Input side; the positional embedding covers its ``image_size // 32`` grid.
    width : int
        Stem width; the stages have 4, 8, 16 and 32 times ``width`` output channels.
    """

    def __init__(self, layers=(3, 4, 6, 3), output_dim: int = 1024, heads: int = 32, image_size: int = 224,
                 width: int = 64):
        super().__init__()
        self.image_size, self.output_dim = image_size, output_dim
        half = width // 2
        self.conv1 = nn.Conv2d(3, half, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        stages, in_ch = [], width
        for i, blocks in enumerate(layers):
            planes = width * 2 ** i
            stage = [Bottleneck(in_ch, planes, 1 if i == 0 else 2)]
            in_ch = planes * Bottleneck.expansion
            stage += [Bottleneck(in_ch, planes) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.attnpool = AttentionPool2d(image_size // 32, in_ch, heads, output_dim)
        # CLIP's initialisation of the attention pool: N(0, 1 / C).
        std = in_ch ** -0.5
        for lin in (self.attnpool.q_proj, self.attnpool.k_proj, self.attnpool.v_proj, self.attnpool.c_proj):
            nn.init.normal_(lin.weight, std=std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.avgpool(F.relu(self.bn3(self.conv3(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


# -- Vision transformer ------------------------------------------------------------------------
class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``, the GELU approximation OpenAI's CLIP weights were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, width: int, heads: int, quick_gelu: bool = True, mlp_ratio: float = 4.0):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, hidden)),
            ("gelu", QuickGELU() if quick_gelu else nn.GELU()),
            ("c_proj", nn.Linear(hidden, width)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of :class:`ResidualAttentionBlock` on (N, L, C) tokens (``resblocks.{i}``)."""

    def __init__(self, width: int, layers: int, heads: int, quick_gelu: bool = True):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, quick_gelu) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """CLIP's ViT image tower (ViT-B/32: ``patch_size=32``, ``width=768``, 12 layers, 12 heads).

    Parameters
    ----------
    image_size, patch_size : int
        Input side and patch side; the positional embedding covers the patch grid and the
        class token.
    width, layers, heads : int
        Transformer width, depth and attention heads.
    output_dim : int
        Embedding size after the projection ``proj`` (width x output_dim, no bias).
    quick_gelu : bool
        QuickGELU in the MLPs (OpenAI weights) instead of the exact GELU (open_clip's
        LAION-trained ViT-B-32).
    """

    def __init__(self, image_size: int = 224, patch_size: int = 32, width: int = 768, layers: int = 12,
                 heads: int = 12, output_dim: int = 512, quick_gelu: bool = True):
        super().__init__()
        self.image_size, self.output_dim = image_size, output_dim
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((image_size // patch_size) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, quick_gelu)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x).flatten(2).transpose(1, 2)  # (N, grid*grid, width)
        cls = self.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


# -- building and loading ----------------------------------------------------------------------
def build_visual(arch: str, quick_gelu: bool = True) -> nn.Module:
    """The image tower ``arch`` ("RN50" or "ViT-B-32") with fresh initialisation (train mode)."""
    if arch not in TOWERS:
        raise HeliogenError(f"unknown CLIP image tower {arch!r}; choose {', '.join(TOWERS)}")
    cfg = dict(TOWERS[arch])
    kind = cfg.pop("kind")
    if kind == "resnet":
        return ModifiedResNet(**cfg)
    return VisionTransformer(**cfg, quick_gelu=quick_gelu)


def _is_torchscript_archive(path: Path) -> bool:
    # torch.jit.save writes code/ and constants.pkl into the zip; torch.save writes neither.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())


def read_checkpoint(path) -> dict:
    """All tensors of a CLIP checkpoint as ``{name: tensor}`` (any of the three formats).

    A dict nested under ``"state_dict"`` is unwrapped and a ``module.`` prefix (from
    DistributedDataParallel) is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise HeliogenError(f"no CLIP weights at {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        elif _is_torchscript_archive(path):
            with warnings.catch_warnings():  # torch >= 2.9 deprecates TorchScript; OpenAI's files are in it
                warnings.filterwarnings("ignore", message=".*torch.jit", category=DeprecationWarning)
                state = torch.jit.load(str(path), map_location="cpu").state_dict()
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any reader failure becomes one line
        first = (str(err).strip().splitlines() or [""])[0]
        raise HeliogenError(f"cannot read CLIP weights {path}: {type(err).__name__}: {first}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise HeliogenError(f"CLIP weights {path} hold a {type(state).__name__}, not a state dict")
    state = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def visual_state_dict(state: dict, source="checkpoint") -> dict:
    """The ``visual.*`` tensors of a whole-CLIP state dict, with the prefix removed."""
    visual = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
    if not visual:
        raise HeliogenError(f"{source} has no 'visual.*' tensors (found e.g. {', '.join(list(state)[:3]) or 'none'}); "
                            "expected an OpenAI or open_clip CLIP checkpoint")
    return visual


def _names(keys, n: int = 3) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join("visual." + k for k in keys[:n]) + more


def load_visual_weights(model: nn.Module, visual: dict, arch: str, source="checkpoint", assign: bool = False) -> None:
    """Load ``visual`` (prefix removed) into ``model`` with ``strict=True``.

    A missing, unexpected or wrongly shaped tensor raises one :class:`HeliogenError` line
    naming the first few. ``num_batches_tracked`` may be absent (torch fills it in).
    ``assign=True`` makes the tensors the model's parameters (for a model built on the
    meta device).
    """
    own = model.state_dict()
    missing = [k for k in own if k not in visual and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in visual if k not in own]
    wrong = [k for k in visual if k in own and tuple(visual[k].shape) != tuple(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {_names(unexpected)}")
    if wrong:
        k = wrong[0]
        more = f" (+{len(wrong) - 1} more)" if len(wrong) > 1 else ""
        problems.append(f"shape of visual.{k} is {tuple(visual[k].shape)}, {arch} needs {tuple(own[k].shape)}{more}")
    if problems:
        raise HeliogenError(f"{source} does not fit the CLIP {arch} image tower: {'; '.join(problems)}")
    try:
        model.load_state_dict(visual, strict=True, assign=assign)
    except RuntimeError as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise HeliogenError(f"{source} does not fit the CLIP {arch} image tower: {first}") from None


def random_visual(arch: str, quick_gelu: bool = True, seed: int = RANDOM_SEED, builder=build_visual) -> nn.Module:
    """``builder(arch, quick_gelu)`` initialised from the CPU generator seeded with ``seed``.

    The global RNG state is restored afterwards. Random towers are for tests only.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(arch, quick_gelu)


def load_clip_visual(arch: str, path, quick_gelu: bool = True) -> nn.Module:
    """heliogen's image tower ``arch`` with the weights in ``path``, in eval mode, frozen.

    Parameters
    ----------
    arch : {"RN50", "ViT-B-32"}
    path : path-like or "random"
        OpenAI TorchScript archive, torch state dict (.pt/.bin) or .safetensors file of a
        whole CLIP model (only ``visual.*`` tensors are used); ``"random"`` gives seeded
        random weights (tests only).
    quick_gelu : bool
        ViT MLP activation: True for OpenAI weights, False for open_clip's LAION ViT-B-32.
    """
    if str(path) == "random":
        model = random_visual(arch, quick_gelu)
    else:
        visual = visual_state_dict(read_checkpoint(path), source=str(path))
        # float32 throughout (OpenAI's archives hold float16); the tower is built on the meta
        # device and takes the checkpoint's tensors, so no time goes into a random init.
        visual = {k: v.float() if v.is_floating_point() else v for k, v in visual.items()}
        with torch.device("meta"):
            model = build_visual(arch, quick_gelu)
        load_visual_weights(model, visual, arch, source=str(path), assign=True)
        left = [k for k, v in model.state_dict().items() if v.is_meta]
        if left:  # pragma: no cover - strict loading leaves none
            raise HeliogenError(f"{path} left CLIP {arch} tensors unset: {_names(left)}")
    model.eval()
    model.requires_grad_(False)
    return model
