"""The VAE baseline of the granulation thesis (sec. 3.2, table 3): hidden 512, latent 256.

Encoder: 1x1 convolution to ``width`` channels + LeakyReLU(0.2), then blocks of bilinear 2x
downsampling + 3x3 convolution + LeakyReLU(0.2) + BatchNorm down to 4x4, the last block with
``hidden / 16`` channels so that the flattened 4x4 map has ``hidden`` values; two linear heads
give the mean and log-variance of z. Decoder: a linear map from z to ``hidden``, seen as
hidden x 1 x 1, a 4x4 convolution with padding 3 to 4x4 + LeakyReLU + BatchNorm, blocks of
nearest 2x upsampling + 3x3 convolution + LeakyReLU + BatchNorm up to the tile size, and a 1x1
output convolution. Convolutions have an equalised learning rate, as in the thesis.
Loss: MSE reconstruction + KL divergence to N(0, I) (Kingma & Welling 2014, eq. 10).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .equalized import EqualizedConv2d, EqualizedLinear
from .tilegan import check_tile_size

__all__ = ["TileVAE", "TileVAEDecoder", "vae_loss"]


class TileVAE(ModelMixin, ConfigMixin):
    """Table 3's VAE for one-channel ``size`` x ``size`` tiles.

    Parameters
    ----------
    size : int
        Tile size, a power of two from 32 to 256.
    width : int
        Channels of the convolutions (256 in the thesis).
    hidden : int
        Flattened encoder output (512); must be a multiple of 16.
    latent_dim : int
        Length of z (256).
    """

    @register_to_config
    def __init__(self, size: int = 128, width: int = 256, hidden: int = 512, latent_dim: int = 256):
        super().__init__()
        self.size, self.width, self.hidden, self.latent_dim = check_tile_size(size), int(width), int(hidden), int(latent_dim)
        n = int(math.log2(self.size // 4))
        enc = [EqualizedConv2d(1, width, 1), nn.LeakyReLU(0.2)]
        for i in range(n):
            c_out = hidden // 16 if i == n - 1 else width
            enc += [nn.Upsample(scale_factor=0.5, mode="bilinear", align_corners=False), EqualizedConv2d(width, c_out, 3, padding=1),
                    nn.LeakyReLU(0.2), nn.BatchNorm2d(c_out)]
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self.to_mean = EqualizedLinear(hidden, latent_dim, gain=1.0)
        self.to_logvar = EqualizedLinear(hidden, latent_dim, gain=1.0)
        self.from_latent = EqualizedLinear(latent_dim, hidden, gain=1.0)
        dec = [EqualizedConv2d(hidden, width, 4, padding=3), nn.LeakyReLU(0.2), nn.BatchNorm2d(width)]
        for _ in range(n):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), EqualizedConv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2), nn.BatchNorm2d(width)]
        self.decoder = nn.Sequential(*dec, EqualizedConv2d(width, 1, 1, gain=1.0))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.to_mean(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_latent(z).view(z.shape[0], self.hidden, 1, 1))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Reconstruction, mean and log-variance; the noise of the reparameterisation comes from ``generator``."""
        mean, logvar = self.encode(x)
        eps = torch.randn(mean.shape, generator=generator).to(mean.device, mean.dtype)
        return self.decode(mean + eps * torch.exp(0.5 * logvar)), mean, logvar


class TileVAEDecoder(ModelMixin, ConfigMixin):
    """The decoder of a :class:`TileVAE` as a tile generator z -> tile, with the layer interface of
    :class:`heliogen.models.tilegan.TileGenerator` (``resolutions``, ``channels``, ``features``,
    ``from_features``), so a VAE run can fill a tile bank and serve latent blending and GA
    refinement (granulation thesis sec. 3.4) like the GAN. Build it from a trained VAE with
    :meth:`from_vae`, or from a VAE config (then load the weights it saved).

    Layer ``i`` is the output of decoder block ``i``: block 0 is the 4x4 convolution from the
    latent, block ``i > 0`` the upsampling + convolution to ``4 * 2**i`` px.
    """

    @register_to_config
    def __init__(self, size: int = 128, width: int = 256, hidden: int = 512, latent_dim: int = 256):
        super().__init__()
        vae = TileVAE(size=size, width=width, hidden=hidden, latent_dim=latent_dim)
        self.size, self.latent_dim, self.hidden = vae.size, vae.latent_dim, vae.hidden
        self.from_latent, self.decoder = vae.from_latent, vae.decoder
        self.resolutions = [4 * 2**i for i in range(int(math.log2(self.size // 4)) + 1)]
        self.channels = [vae.width] * len(self.resolutions)
        # decoder: [conv 4x4, act, bn] + n x [up, conv, act, bn] + [1x1 output conv]
        self._bounds = [(0, 3)] + [(3 + 4 * i, 7 + 4 * i) for i in range(len(self.resolutions) - 1)]

    @classmethod
    def from_vae(cls, vae: "TileVAE") -> "TileVAEDecoder":
        dec = cls(size=vae.size, width=vae.width, hidden=vae.hidden, latent_dim=vae.latent_dim)
        dec.from_latent.load_state_dict(vae.from_latent.state_dict())
        dec.decoder.load_state_dict(vae.decoder.state_dict())
        return dec.eval()

    @property
    def n_layers(self) -> int:
        return len(self.resolutions)

    def features(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """Feature maps after decoder block ``layer`` (``4 * 2**layer`` px)."""
        h = self.from_latent(z).view(z.shape[0], self.hidden, 1, 1)
        return self.decoder[: self._bounds[layer][1]](h)

    def from_features(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """Finish decoding from the feature maps of block ``layer``."""
        return self.decoder[self._bounds[layer][1]:](h)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.from_features(self.features(z, 0), 0)


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0):
    """MSE (mean over pixels) + ``beta`` x KL(q(z|x) || N(0, I)) (mean over the batch, per pixel).

    The KL term, -1/2 sum(1 + log s^2 - m^2 - s^2) (Kingma & Welling 2014, appendix B), is
    divided by the number of pixels so that both terms are on the per-pixel scale of the MSE.
    Returns (total, mse, kl).
    """
    mse = F.mse_loss(recon.float(), x.float())
    kl = -0.5 * torch.mean(torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=1)) / x[0].numel()
    return mse + beta * kl, mse, kl
