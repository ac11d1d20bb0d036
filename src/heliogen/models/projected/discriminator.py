"""The ProjectedGAN discriminator (Sauer et al. 2021) with every ablation of the full-disk EUV
study's table 1 as a constructor option.

Pipeline: DiffAugment -> grey repeated to RGB -> bilinear resize to 224 px (``feature_input``)
when the training resolution is below it -> EfficientNet-Lite taps (strides 4/8/16/32) -> CCM/CSM projection ->
one patch discriminator per selected scale. Images are expected in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from ...errors import HeliogenError
from ..augment.diffaugment import DiffAugment
from .backbone import LiteFeatures
from .frozen import count_trainable
from .heads import PatchDiscriminator
from .projection import FeatureProjection

__all__ = ["ProjectedDiscriminator", "FEATURE_INPUT", "PLANNED_INPUT"]

FEATURE_INPUT = 224  # the size a sub-224 px image is resized to (upstream's interp224)
MIN_FEATURE_INPUT = 128  # below it the coarsest tap is under 4 px, too small for a head's last 4x4 convolution
PLANNED_INPUT = 256  # heads are sized for the feature maps of a 256 px input, as upstream


def _check_discriminators(discriminators) -> tuple[int, ...]:
    chosen = tuple(sorted({int(d) for d in discriminators}))
    if not chosen or not set(chosen) <= {1, 2, 3, 4} or len(chosen) != len(tuple(discriminators)):
        raise HeliogenError(f"discriminators must be distinct scales from 1 (finest) to 4, not {tuple(discriminators)}")
    return chosen


class ProjectedDiscriminator(ModelMixin, ConfigMixin):
    """ProjectedGAN discriminator; ``forward`` returns one logit map per selected scale.

    Parameters
    ----------
    backbone : {'lite0', 'lite1', 'lite2', 'lite3', 'random'}
        EfficientNet-Lite feature network; 'random' is a randomly initialised Lite0.
    backbone_weights : str or None
        Weights file (lukemelas or timm naming); required for lite3.
    unfreeze_backbone : bool
        Train the backbone's weights (its BatchNorm statistics stay frozen).
    projection : {'none', 'ccm', 'ccm+csm'}
        Cross-channel and cross-scale mixing of the taps.
    trainable_projection : bool
        Train CCM/CSM instead of keeping them random and frozen.
    discriminators : tuple of int
        Which scales get a discriminator, 1 the finest (stride 4, or 2 with CSM).
    augment : bool
        DiffAugment (colour, translation 0.125, cutout 0.2) before the backbone.
    in_channels : int
        Image channels, 1 (repeated to RGB) or 3.
    resolution : int
        Training resolution; below ``feature_input`` images are resized to it.
    projection_channels : int
        CCM width of the finest tap (64, the study's ``out_channels``).
    head_width : float
        Multiplier on the patch discriminators' channels (1.0 upstream).
    feature_input : int
        The side a smaller image is resized to before the backbone: 224 as upstream. The
        backbone's cost grows with its square, so CPU runs may pass less (128 costs a third);
        the heads stay planned for a 256 px input, so their logit maps shrink with it.

    Notes
    -----
    Checkpoints: frozen parts are buffers, so neither ``requires_grad_(True)`` nor an
    optimizer over ``parameters()`` can train them. A frozen *pretrained* backbone is not
    written by ``save_pretrained`` (it is 13-40 MB and always rebuilt from the pip package or
    ``backbone_weights`` at construction, which therefore must still exist when loading);
    everything random (a 'random' backbone, frozen CCM/CSM) and everything trained is written.
    Frozen parts stay in eval mode whatever ``train()`` says.
    """

    @register_to_config
    def __init__(self, backbone: str = "lite0", backbone_weights: str | None = None, unfreeze_backbone: bool = False,
                 projection: str = "ccm+csm", trainable_projection: bool = False, discriminators=(1, 2, 3, 4),
                 augment: bool = True, in_channels: int = 1, resolution: int = 256, projection_channels: int = 64,
                 head_width: float = 1.0, feature_input: int = FEATURE_INPUT):
        super().__init__()
        if int(in_channels) not in (1, 3):
            raise HeliogenError(f"the ProjectedGAN discriminator takes 1 or 3 channels, not {in_channels}")
        if not MIN_FEATURE_INPUT <= int(feature_input) <= FEATURE_INPUT:
            raise HeliogenError(f"feature_input must be from {MIN_FEATURE_INPUT} to {FEATURE_INPUT} px, not {feature_input}")
        self.feature_input = int(feature_input)
        self.in_channels, self.resolution = int(in_channels), int(resolution)
        self.discriminator_scales = _check_discriminators(discriminators)
        self.feature_network = LiteFeatures(backbone, backbone_weights, trainable=unfreeze_backbone)
        self.projector = FeatureProjection(self.feature_network.channels, projection, projection_channels, trainable_projection)
        self.diffaug = DiffAugment() if augment else None
        planned = [PLANNED_INPUT // 2**(k + 2) * self.projector.scale for k in range(4)]  # 64..8, or 128..16 with CSM
        self.heads = nn.ModuleDict({
            f"d{k}": PatchDiscriminator(self.projector.out_channels[k - 1], planned[k - 1], head_width)
            for k in self.discriminator_scales})

    def train(self, mode: bool = True):
        super().train(mode)
        self.feature_network.train(False)  # BatchNorm statistics frozen even when its weights train
        if count_trainable(self.projector) == 0:
            self.projector.train(False)
        return self

    def parts(self) -> dict[str, nn.Module]:
        """The three parts the ablations change: backbone, projection, discriminators."""
        return {"backbone": self.feature_network, "projection": self.projector, "discriminators": self.heads}

    def trainable_parameter_counts(self) -> dict[str, int]:
        """Trainable parameter elements per part."""
        return {name: count_trainable(part) for name, part in self.parts().items()}

    def prepare(self, x: torch.Tensor, augment: bool | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment, repeat grey to RGB and resize: the backbone's input."""
        if x.shape[1] != self.in_channels:
            raise HeliogenError(f"the discriminator expects {self.in_channels}-channel images, got {x.shape[1]}")
        if self.diffaug is not None and augment is not False:
            x = self.diffaug(x, generator)
        if self.in_channels == 1:
            x = x.repeat(1, 3, 1, 1)
        if self.resolution < self.feature_input:
            x = F.interpolate(x, size=(self.feature_input, self.feature_input), mode="bilinear", align_corners=False)
        return x

    def features(self, x: torch.Tensor, augment: bool | None = None, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """The four projected feature maps, finest first."""
        return self.projector(self.feature_network(self.prepare(x, augment, generator)))

    def forward(self, x: torch.Tensor, augment: bool | None = None, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Logit maps (N, 1, h, w), one per selected discriminator, finest first.

        ``augment=False`` skips DiffAugment for this call; ``generator`` makes its draw reproducible.
        """
        feats = self.features(x, augment, generator)
        return [self.heads[f"d{k}"](feats[k - 1]) for k in self.discriminator_scales]
