"""Denoisers: callables ``(x, t) -> model output`` that the sampling loop runs.

:class:`NetworkDenoiser` adapts a network: fixed-size micro-batches and its condition tensors.
:class:`ImageConditioned` adds an image condition by channel concatenation (Palette, Saharia
et al. 2022, sec. 2; SR3 likewise). Classifier-free guidance is a wrapper too
(:class:`heliogen.diffusion.guidance.ClassifierFreeGuidance`). Wrappers compose, as
k-diffusion's ``CFGDenoiser`` wraps a model.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

__all__ = ["NetworkDenoiser", "ImageConditioned", "condition_keys"]


def condition_keys(model) -> list[str]:
    """The condition tensors a conditional network takes (``class_index``, ``log10_flux``)."""
    keys = getattr(model, "condition_keys", None)
    if keys is not None:
        return list(keys)
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        return []
    return (["class_index"] if encoder.uses_class else []) + (["log10_flux"] if encoder.uses_flux else [])


def _null_condition(model, n: int, device) -> dict[str, torch.Tensor]:
    """Placeholder condition rows; the network replaces them by its learned null embedding."""
    return {key: torch.zeros(n, dtype=torch.long if key == "class_index" else torch.float32, device=device)
            for key in condition_keys(model)}


class NetworkDenoiser:
    """A network as a denoiser, evaluated on fixed-size micro-batches.

    On CPU a network's numerics depend on the batch shape but not on the other rows, so
    evaluating on micro-batches of exactly ``eval_batch`` rows (the last padded by repeating
    its first row) makes row k's output independent of how many images are sampled together.

    Parameters
    ----------
    model : callable ``model(x, t, **condition, drop=...)``
        With a ``conditioned`` attribute when it takes conditions.
    condition : mapping of str to Tensor, optional
        One row per image (``class_index``, ``log10_flux``). A conditional model given none
        runs on its null condition, i.e. as the unconditional model.
    null : bool
        Evaluate on the null condition (classifier-free guidance's unconditional branch).
    eval_batch : int
        Rows per network call.
    """

    def __init__(self, model, condition: Mapping[str, torch.Tensor] | None = None, null: bool = False,
                 eval_batch: int = 8):
        self.model, self.eval_batch = model, int(eval_batch)
        self.condition = dict(condition or {})
        self.conditioned = bool(getattr(model, "conditioned", False))
        self.null = bool(null) or (self.conditioned and not self.condition)

    def _condition_rows(self, n: int, device) -> dict[str, torch.Tensor]:
        if not self.conditioned:
            return dict(self.condition)
        rows = dict(self.condition) if self.condition else _null_condition(self.model, n, device)
        rows["drop"] = torch.full((n,), self.null, dtype=torch.bool, device=device)
        return rows

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        rows = self._condition_rows(n, x.device)
        outs = []
        for start in range(0, n, self.eval_batch):
            stop = min(start + self.eval_batch, n)
            pad = self.eval_batch - (stop - start)

            def take(v):
                v = v[start:stop]
                return torch.cat([v, v[:1].expand(pad, *v.shape[1:])]) if pad else v

            out = self.model(take(x), take(t), **{key: take(v) for key, v in rows.items()})
            outs.append(out[: stop - start])
        return torch.cat(outs)


class ImageConditioned:
    """Condition a denoiser on an image by concatenating it to ``x`` on the channel axis.

    Palette (Saharia et al. 2022, sec. 2) and SR3 feed the network ``concat(y, x_t)``: the
    conditioning image (upsampled to the target size for super-resolution) joins the noisy
    sample as extra input channels. The network sees ``C_x + C_image`` channels and predicts
    ``C_x``; the wrapped denoiser's output passes through unchanged.

    Parameters
    ----------
    denoiser : callable ``(x, t) -> output``
    image : Tensor (N, C_image, ...)
        One conditioning image per row of ``x``, at ``x``'s spatial size.
    """

    def __init__(self, denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], image: torch.Tensor):
        self.denoiser, self.image = denoiser, image

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        image = self.image.to(device=x.device, dtype=x.dtype)
        return self.denoiser(torch.cat([x, image], dim=1), t)
