"""The StyleGAN2 generator (Karras et al. 2020): mapping network + skip synthesis network.

The study's best GAN (ProjectedGAN with a StyleGAN2 generator) uses z 64, w 128 and two
mapping layers; those are the defaults here. StyleGAN2's own defaults are z = w = 512 and
eight mapping layers. Style mixing is off by default, as in ProjectedGAN's training loss;
StyleGAN2 trains with ``style_mixing_prob=0.9``.

Randomness a sample depends on can come from its own ``torch.Generator`` (``generator=`` a
list, one per sample; :meth:`StyleGAN2Generator.generate` draws z and noise from per-seed
streams), so an image is a function of its seed alone, not of the batch it is drawn in.
Weight averaging for sampling uses :mod:`heliogen.training.ema` (the images-seen ramp).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ...diffusion.seeding import image_generators, initial_noise
from ...errors import HeliogenError
from .mapping import MappingNetwork
from .noise import GeneratorArg
from .synthesis import SynthesisNetwork, check_resolution

__all__ = ["StyleGAN2Generator"]


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise HeliogenError(f"StyleGAN2 {name} must be a positive integer, got {value!r}")
    return int(value)


class StyleGAN2Generator(ModelMixin, ConfigMixin):
    """z (N, z_dim) -> images (N, channels, resolution, resolution), no output non-linearity.

    Parameters
    ----------
    z_dim, w_dim : int
        Latent sizes (study: 64 and 128).
    mapping_layers : int
        Fully connected layers of the mapping network (study: 2).
    resolution : int
        Output size, a power of two from 32 to 1024.
    channels : int
        Image channels (1 for one EUV band).
    channel_base, channel_max : int
        Feature channels at r px: ``min(channel_base // r, channel_max)``.
    style_mixing_prob : float
        Probability, per training batch, of switching to the ws of a second z from a random
        layer on (StyleGAN's mixing regularisation); applied only in training mode.
    mapping_lr_mul : float
        Learning-rate multiplier of the mapping network (StyleGAN2: 0.01).
    w_avg_beta : float
        Decay per training batch of the running mean of w used for truncation.
    """

    @register_to_config
    def __init__(self, z_dim: int = 64, w_dim: int = 128, mapping_layers: int = 2, resolution: int = 1024,
                 channels: int = 1, channel_base: int = 32768, channel_max: int = 512, style_mixing_prob: float = 0.0,
                 mapping_lr_mul: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        for name, value in (("z_dim", z_dim), ("w_dim", w_dim), ("mapping_layers", mapping_layers), ("channels", channels),
                            ("channel_base", channel_base), ("channel_max", channel_max)):
            _positive(name, value)
        if not 0.0 <= float(style_mixing_prob) <= 1.0:
            raise HeliogenError(f"style_mixing_prob must lie in [0, 1], got {style_mixing_prob}")
        self.z_dim, self.w_dim, self.image_channels = int(z_dim), int(w_dim), int(channels)
        self.image_resolution = check_resolution(resolution)
        self.style_mixing_prob = float(style_mixing_prob)
        self.synthesis_network = SynthesisNetwork(self.w_dim, self.image_resolution, self.image_channels, channel_base,
                                                  channel_max)
        self.mapping_network = MappingNetwork(self.z_dim, self.w_dim, self.synthesis_network.num_ws, int(mapping_layers),
                                              lr_mul=mapping_lr_mul, w_avg_beta=w_avg_beta)

    @property
    def num_ws(self) -> int:
        """How many ws the synthesis network consumes (``2 * log2(resolution) - 2``)."""
        return self.synthesis_network.num_ws

    @property
    def w_avg(self) -> torch.Tensor:
        """Running mean of w (the truncation centre)."""
        return self.mapping_network.w_avg

    def mapping(self, z: torch.Tensor, psi: float = 1.0, truncation_cutoff: int | None = None,
                update_w_avg: bool | None = None) -> torch.Tensor:
        """ws (N, num_ws, w_dim) of z, truncated to ``w_avg + psi * (w - w_avg)``.

        ``w_avg`` is updated while training unless ``update_w_avg`` says otherwise.
        """
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise HeliogenError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        return self.mapping_network(z, psi, truncation_cutoff, update_w_avg)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random", generator: GeneratorArg = None,
                  noise: list | None = None) -> torch.Tensor:
        """Images from ws; ``noise_mode`` 'random' (from ``generator``), 'const' (stored) or 'none'."""
        return self.synthesis_network(ws, noise_mode, generator, noise)

    def mix_styles(self, z: torch.Tensor, ws: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """With probability ``style_mixing_prob``, replace ws from a random layer on by those of a fresh z.

        Draws from ``generator`` (one ``torch.Generator``) or the global CPU RNG.
        """
        if self.style_mixing_prob <= 0:
            return ws
        gen = generator if isinstance(generator, torch.Generator) else None
        dev = gen.device if gen is not None else torch.device("cpu")
        if torch.rand((), generator=gen, device=dev).item() >= self.style_mixing_prob:
            return ws
        cutoff = int(torch.randint(1, self.num_ws, (), generator=gen, device=dev).item())
        z2 = torch.randn(z.shape, generator=gen, device=dev).to(z.device, z.dtype)
        ws2 = self.mapping_network(z2, update_w_avg=False)
        return torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)

    def forward(self, z: torch.Tensor, psi: float = 1.0, noise_mode: str = "random", generator: GeneratorArg = None,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """Images (N, channels, R, R) of z.

        Parameters
        ----------
        z : torch.Tensor
            (N, z_dim) latents.
        psi : float
            Truncation (1: none, 0: every sample at ``w_avg``).
        noise_mode : {'random', 'const', 'none'}
        generator : None, torch.Generator or sequence of torch.Generator
            Source of the random noise; a sequence gives each sample its own stream.
        truncation_cutoff : int or None
            Truncate only the first that many ws.
        """
        ws = self.mapping(z, psi, truncation_cutoff)
        if self.training:
            ws = self.mix_styles(z, ws, generator if isinstance(generator, torch.Generator) else None)
        return self.synthesis(ws, noise_mode, generator)

    @torch.no_grad()
    def generate(self, seeds: Sequence[int], psi: float = 1.0, noise_mode: str = "random", eval_batch: int = 8,
                 ws_edit: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """Images of ``seeds`` (len(seeds), channels, R, R), each a function of its own seed only.

        Sample k draws z, then its noise, from a CPU generator seeded with ``seeds[k]``. The
        network always sees micro-batches of ``eval_batch`` rows (the last padded with
        throwaway streams): a result can depend on the batch shape, never on the other rows,
        so image k is the same to the bit however the caller groups the seeds.
        ``ws_edit`` maps the (truncated) ws before synthesis, row by row (latent edits such as
        GANSpace directions), so an edited image keeps its seed's z and noise.
        """
        seeds, eval_batch = [int(s) for s in seeds], _positive("eval_batch", eval_batch)
        out = []
        for start in range(0, len(seeds), eval_batch):
            chunk = seeds[start:start + eval_batch]
            gens = image_generators(chunk + [0] * (eval_batch - len(chunk)))
            z = initial_noise(gens, (self.z_dim,), device=self.device)
            if ws_edit is None:
                out.append(self(z, psi=psi, noise_mode=noise_mode, generator=gens)[:len(chunk)])
            else:
                ws = ws_edit(self.mapping(z, psi))
                out.append(self.synthesis(ws, noise_mode, gens)[:len(chunk)])
        return torch.cat(out) if out else torch.empty(0, self.image_channels, self.image_resolution, self.image_resolution)
