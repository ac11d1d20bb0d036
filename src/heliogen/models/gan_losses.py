"""GAN losses: hinge (ProjectedGAN), non-saturating logistic (StyleGAN2) and the R1 penalty.

Logits may be one tensor or a list of tensors (one map per discriminator, as ProjectedGAN's
heads give); a list is flattened per sample and concatenated, so the mean runs over every
logit of every head, as upstream's ``torch.cat(all_logits, dim=1)`` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["flatten_logits", "hinge_d_loss", "hinge_g_loss", "logistic_d_loss", "logistic_g_loss", "r1_penalty"]


def flatten_logits(logits) -> torch.Tensor:
    """One (N, K) tensor from a tensor or a list of per-head logit maps."""
    if torch.is_tensor(logits):
        return logits.reshape(logits.shape[0], -1) if logits.dim() else logits.reshape(1, 1)
    return torch.cat([t.reshape(t.shape[0], -1) for t in logits], dim=1)


def hinge_d_loss(real_logits, fake_logits) -> torch.Tensor:
    """Discriminator hinge loss: mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))."""
    return F.relu(1 - flatten_logits(real_logits)).mean() + F.relu(1 + flatten_logits(fake_logits)).mean()


def hinge_g_loss(fake_logits) -> torch.Tensor:
    """Generator hinge loss: -mean(D(fake))."""
    return -flatten_logits(fake_logits).mean()


def logistic_d_loss(real_logits, fake_logits) -> torch.Tensor:
    """Discriminator logistic loss: mean(softplus(-D(real))) + mean(softplus(D(fake)))."""
    return F.softplus(-flatten_logits(real_logits)).mean() + F.softplus(flatten_logits(fake_logits)).mean()


def logistic_g_loss(fake_logits) -> torch.Tensor:
    """Non-saturating generator loss: mean(softplus(-D(fake)))."""
    return F.softplus(-flatten_logits(fake_logits)).mean()


def r1_penalty(real_logits, real_images: torch.Tensor, gamma: float) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): gamma / 2 * mean over samples of ||grad_x sum D(x)||^2.

    ``real_images`` must have ``requires_grad`` and be what ``real_logits`` were computed
    from; the graph is kept so the penalty itself can be backpropagated. The logits are
    summed over heads and positions, as StyleGAN2 sums them over the batch.
    """
    (grad,) = torch.autograd.grad(flatten_logits(real_logits).sum(), real_images, create_graph=True)
    return 0.5 * gamma * grad.square().reshape(grad.shape[0], -1).sum(dim=1).mean()
