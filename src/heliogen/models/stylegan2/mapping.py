"""StyleGAN2's mapping network z -> w, with the running mean of w used for truncation.

Karras et al. 2020 (StyleGAN2), as in StyleGAN: z is normalised to unit second moment
(pixel norm), then passes ``layers`` fully connected layers with leaky ReLU. The layers
have an equalised learning rate with a learning-rate multiplier of 0.01: weights are stored
as N(0, 1) / lr_mul and scaled by lr_mul / sqrt(fan_in) at run time, so Adam moves the
mapping network 100x slower than the synthesis network.

The network keeps ``w_avg``, an exponential moving average of w over training batches.
Truncation pulls w towards it: ``w = w_avg + psi * (w - w_avg)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ScaledLinear", "MappingNetwork", "normalize_2nd_moment", "LRELU_GAIN"]

# leaky ReLU followed by this gain keeps unit second moment (StyleGAN2's bias_act 'lrelu')
LRELU_GAIN = math.sqrt(2.0)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of ``x`` (N, D) to unit mean square (PGGAN's pixel norm applied to z)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class ScaledLinear(nn.Module):
    """Fully connected layer with an equalised learning rate and a learning-rate multiplier.

    Parameters
    ----------
    in_features, out_features : int
    lr_mul : float
        Learning-rate multiplier (0.01 in the mapping network, 1 elsewhere).
    bias_init : float
        Initial bias (1 for the style affines, so styles start near 1).
    activation : bool
        Apply leaky ReLU (slope 0.2) times sqrt(2) after the bias.
    """

    def __init__(self, in_features: int, out_features: int, lr_mul: float = 1.0, bias_init: float = 0.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activation else x


class MappingNetwork(nn.Module):
    """z (N, z_dim) -> ws (N, num_ws, w_dim): one w, repeated once per synthesis input.

    Parameters
    ----------
    z_dim, w_dim : int
    num_ws : int
        How many copies of w the synthesis network consumes.
    layers : int
        Fully connected layers (the study's best: 2; StyleGAN2: 8). Hidden width is ``w_dim``.
    lr_mul : float
        Learning-rate multiplier of every layer.
    w_avg_beta : float
        Decay of the running mean of w (StyleGAN2: 0.995 per training batch).
    """

    def __init__(self, z_dim: int, w_dim: int, num_ws: int, layers: int = 2, lr_mul: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.w_avg_beta = int(z_dim), int(w_dim), int(num_ws), float(w_avg_beta)
        widths = [self.z_dim] + [self.w_dim] * int(layers)
        self.fc = nn.ModuleList(ScaledLinear(a, b, lr_mul=lr_mul, activation=True) for a, b in zip(widths[:-1], widths[1:]))
        self.register_buffer("w_avg", torch.zeros(self.w_dim))

    def forward(self, z: torch.Tensor, psi: float = 1.0, truncation_cutoff: int | None = None,
                update_w_avg: bool | None = None) -> torch.Tensor:
        """Map z to ws, update ``w_avg`` (by default while training) and truncate towards it.

        ``truncation_cutoff``: truncate only the first that many ws (None: all).
        """
        x = normalize_2nd_moment(z.to(torch.float32))
        for layer in self.fc:
            x = layer(x)
        if self.training if update_w_avg is None else update_w_avg:
            with torch.no_grad():
                # in float32 whatever autocast made of x: the average spans the whole of training
                self.w_avg.copy_(torch.lerp(x.detach().to(self.w_avg.dtype).mean(dim=0), self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1:
            cut = self.num_ws if truncation_cutoff is None else int(truncation_cutoff)
            ws[:, :cut] = torch.lerp(self.w_avg.to(ws.dtype), ws[:, :cut], float(psi))
        return ws
