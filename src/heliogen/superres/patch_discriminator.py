"""The PatchGAN discriminator (Isola et al. 2017) of the autoencoder's optional adversarial loss.

As in the latent-diffusion autoencoders (Esser et al. 2021): 4x4 convolutions of stride 2 with
LeakyReLU(0.2), doubling the channels, then a stride-1 4x4 convolution to one logit per patch.
Spectral normalisation (Miyato et al. 2018) rather than batch norm keeps each image's logits
independent of the rest of its batch.
"""

from __future__ import annotations

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(ModelMixin, ConfigMixin):
    """Logits ``(N, 1, H', W')`` for images ``(N, channels, H, W)``; each sees a ~(2^(layers+3)) px patch.

    Parameters
    ----------
    channels : int
    width : int
        Channels of the first convolution.
    layers : int
        Stride-2 convolutions.
    """

    @register_to_config
    def __init__(self, channels: int = 1, width: int = 64, layers: int = 3):
        super().__init__()
        mods, c = [], channels
        for i in range(layers):
            out = width * min(2**i, 8)
            mods += [spectral_norm(nn.Conv2d(c, out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c = out
        mods += [spectral_norm(nn.Conv2d(c, c, 4, stride=1, padding=1)), nn.LeakyReLU(0.2), nn.Conv2d(c, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)
