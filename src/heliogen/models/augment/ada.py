"""Adaptive discriminator augmentation (Karras et al. 2020, "Training generative adversarial
networks with limited data", StyleGAN2-ADA), as a pure-PyTorch subset suited to solar images.

:class:`AdaptiveAugment` transforms every image the discriminator sees, real and generated
alike, with the same pipeline. Each augmentation is applied to each sample independently with
probability ``p``. ADA's argument for why the generator does not learn the augmentations
("non-leaking"): as long as ``p < 1`` (ADA finds ~0.8 safe for the whole pipeline) the augmented
distribution still determines the clean one, so the only way for G to match augmented reals is to
match the reals. Applying the pipeline to reals only would leak it, so the trainer must augment
both, and the pipeline is differentiable so G's gradient passes through it.

The subset, in the order applied (geometric first, then intensity, as ADA does):

- ``xflip``: mirror left-right;
- ``rot90``: rotate by k x 90 degrees, k uniform in {1, 2, 3} (ADA draws k in {0..3}; k = 0 is
  dropped so an applied rotation always changes the image);
- ``translate``: integer shift of up to ``translate_max`` x size in x and y, uniform, with
  reflection at the edges (ADA's ``xint``);
- ``scale``: isotropic zoom about the centre by 2**N(0, ``scale_std``), bilinear resampling with
  reflection at the edges (ADA uses a windowed-sinc filter; bilinear keeps this pure PyTorch);
- ``brightness``: add N(0, ``brightness_std``) to every pixel;
- ``contrast``: scale the deviations from the image mean by 2**N(0, ``contrast_std``).

Colour transforms of ADA (hue, saturation, luma flip) need three channels and are left out, as are
arbitrary rotations and anisotropic scaling, which would distort the solar disk's round shape.

:class:`AdaController` adjusts ``p`` from the overfitting heuristic
``r_t = E[sign(D(real))]``: every ``interval`` minibatches,
``p += sign(r_t - target) * images / (ada_kimg * 1000)``, clipped to [0, 1], where ``images``
is the number of real images seen since the last adjustment (batch x interval).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import HeliogenError

__all__ = ["AdaptiveAugment", "AdaController", "AUGMENTATIONS"]

AUGMENTATIONS = ("xflip", "rot90", "translate", "scale", "brightness", "contrast")


def _check_p(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise HeliogenError(f"augmentation probability p={p} must lie in [0, 1]")
    return p


def _reflect(idx: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect indices into [0, size - 1] without repeating the edge pixel (as ``reflect`` padding)."""
    period = 2 * (size - 1)
    if period == 0:
        return torch.zeros_like(idx)
    idx = torch.remainder(idx, period)
    return torch.where(idx > size - 1, period - idx, idx)


def _translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift each image by integer ``(tx, ty)`` (content moves right/down), reflecting at the edges."""
    n, _, h, w = x.shape
    ar_y = torch.arange(h, device=x.device)
    ar_x = torch.arange(w, device=x.device)
    iy = _reflect(ar_y[None, :] - shift[:, 1:2], h)  # (n, h)
    ix = _reflect(ar_x[None, :] - shift[:, 0:1], w)  # (n, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[batch, iy[:, :, None], ix[:, None, :]].permute(0, 3, 1, 2)


def _zoom(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Isotropic zoom about the image centre: output(r) = input(r / factor), reflecting at the edges."""
    theta = torch.zeros(x.shape[0], 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / factor.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


class AdaptiveAugment(nn.Module):
    """Apply each enabled augmentation to each sample with probability ``p``.

    Parameters
    ----------
    p : float
        Probability, in [0, 1], that each augmentation is applied to a sample.
    xflip, rot90, translate, scale, brightness, contrast : bool
        Which augmentations are enabled.
    translate_max : float
        Largest shift as a fraction of the image size (ADA: 0.125).
    scale_std : float
        Standard deviation of log2 of the zoom factor (ADA: 0.2).
    brightness_std : float
        Standard deviation of the added offset, in data units (ADA: 0.2 for data in [-1, 1]).
    contrast_std : float
        Standard deviation of log2 of the contrast factor (ADA: 0.5).

    Notes
    -----
    The random draws come from the CPU (``generator``'s device when one is given), and their number
    does not depend on ``p`` or on which augmentations are enabled, so one seed gives the same
    transforms on CPU and GPU and the stream stays aligned when ``p`` changes.
    """

    def __init__(self, p: float = 0.0, *, xflip: bool = True, rot90: bool = True, translate: bool = True,
                 scale: bool = True, brightness: bool = True, contrast: bool = True, translate_max: float = 0.125,
                 scale_std: float = 0.2, brightness_std: float = 0.2, contrast_std: float = 0.5):
        super().__init__()
        self.p = _check_p(p)
        self.enabled = {"xflip": bool(xflip), "rot90": bool(rot90), "translate": bool(translate),
                        "scale": bool(scale), "brightness": bool(brightness), "contrast": bool(contrast)}
        if not 0.0 <= translate_max < 0.5:
            raise HeliogenError(f"translate_max={translate_max} must lie in [0, 0.5)")
        self.translate_max, self.scale_std = float(translate_max), float(scale_std)
        self.brightness_std, self.contrast_std = float(brightness_std), float(contrast_std)

    def set_p(self, p: float) -> None:
        """Set the augmentation probability (what :class:`AdaController` computes)."""
        self.p = _check_p(p)

    def draw(self, n: int, height: int, width: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Draw the transform of each of ``n`` samples; a sample not augmented gets the identity.

        Returns
        -------
        dict
            ``xflip`` (bool, n), ``rot90`` (int64 k in 0..3, n), ``translate`` (int64 (tx, ty) px, n x 2),
            ``scale`` (zoom factor, n), ``brightness`` (offset, n), ``contrast`` (factor, n); all on the CPU
            or ``generator``'s device.
        """
        dev = generator.device if generator is not None else torch.device("cpu")

        def applied(name: str) -> torch.Tensor:
            # always draw, so the number of draws is independent of p and of the switches
            u = torch.rand(n, generator=generator, device=dev)
            return u < (self.p if self.enabled[name] else 0.0)

        params = {}
        params["xflip"] = applied("xflip")
        k = torch.randint(1, 4, (n,), generator=generator, device=dev)
        params["rot90"] = torch.where(applied("rot90"), k, torch.zeros_like(k))
        size = torch.tensor([width, height], device=dev, dtype=torch.float64)
        u = torch.rand(n, 2, generator=generator, device=dev, dtype=torch.float64) * 2 - 1
        shift = torch.round(u * self.translate_max * size).long()
        params["translate"] = torch.where(applied("translate")[:, None], shift, torch.zeros_like(shift))
        zoom = torch.exp2(torch.randn(n, generator=generator, device=dev) * self.scale_std)
        params["scale"] = torch.where(applied("scale"), zoom, torch.ones_like(zoom))
        offset = torch.randn(n, generator=generator, device=dev) * self.brightness_std
        params["brightness"] = torch.where(applied("brightness"), offset, torch.zeros_like(offset))
        factor = torch.exp2(torch.randn(n, generator=generator, device=dev) * self.contrast_std)
        params["contrast"] = torch.where(applied("contrast"), factor, torch.ones_like(factor))
        return params

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Transform images ``x`` (N, C, H, W) with drawn ``params``; identity entries leave samples exactly as they are."""
        # which steps are needed is decided on the drawn (CPU) values: no device syncs
        todo = {"xflip": bool(params["xflip"].any()), "rot90": bool((params["rot90"] > 0).any()),
                "translate": bool((params["translate"] != 0).any()), "scale": bool((params["scale"] != 1).any()),
                "brightness": bool((params["brightness"] != 0).any()), "contrast": bool((params["contrast"] != 1).any())}
        p = {k: v.to(x.device) for k, v in params.items()}
        out = x
        if todo["xflip"]:
            out = torch.where(p["xflip"][:, None, None, None], out.flip(3), out)
        if todo["rot90"]:
            if x.shape[2] != x.shape[3]:
                raise HeliogenError(f"rot90 augmentation needs square images, got {x.shape[2]} x {x.shape[3]}")
            rotated = out.clone()
            for k in (1, 2, 3):
                if bool((params["rot90"] == k).any()):
                    sel = p["rot90"] == k
                    rotated[sel] = torch.rot90(out[sel], k, dims=(2, 3))
            out = rotated
        if todo["translate"]:
            out = _translate(out, p["translate"])
        if todo["scale"]:
            sel = p["scale"] != 1
            zoomed = out.clone()
            zoomed[sel] = _zoom(out[sel], p["scale"][sel])
            out = zoomed
        if todo["brightness"]:
            out = out + p["brightness"].to(out.dtype)[:, None, None, None]
        if todo["contrast"]:
            sel = p["contrast"] != 1
            mean = out.mean(dim=(1, 2, 3), keepdim=True)
            stretched = (out - mean) * p["contrast"].to(out.dtype)[:, None, None, None] + mean
            out = torch.where(sel[:, None, None, None], stretched, out)
        return out

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a batch; pass a seeded ``generator`` for reproducible transforms."""
        if x.ndim != 4:
            raise HeliogenError(f"augmentation expects images (N, C, H, W), got shape {tuple(x.shape)}")
        return self.apply(x, self.draw(x.shape[0], x.shape[2], x.shape[3], generator))


class AdaController:
    """ADA's feedback rule for the augmentation probability ``p``.

    Parameters
    ----------
    target : float
        Target of ``r_t = E[sign(D(real))]`` (ADA: 0.6).
    ada_kimg : float
        Thousands of images over which ``p`` can move from 0 to 1 (ADA: 500).
    interval : int
        Adjust ``p`` every this many minibatches (ADA: 4).
    p : float
        Initial probability.
    """

    def __init__(self, target: float = 0.6, ada_kimg: float = 500.0, interval: int = 4, p: float = 0.0):
        if not 0.0 < float(ada_kimg) or int(interval) < 1:
            raise HeliogenError(f"ada_kimg={ada_kimg} must be > 0 and interval={interval} >= 1")
        self.target, self.ada_kimg, self.interval = float(target), float(ada_kimg), int(interval)
        self.p = _check_p(p)
        self.rt: float | None = None  # last r_t, for logging
        self._reset()

    def _reset(self) -> None:
        self.steps_since_update = 0
        self._stats: torch.Tensor | None = None  # [sum of signs, count] since the last adjustment

    def step(self, d_real: torch.Tensor, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
        """Record one minibatch of D's logits on real images; every ``interval`` calls adjust ``p``.

        Parameters
        ----------
        d_real : torch.Tensor
            Discriminator logits on the (augmented) real images of this minibatch, any shape.
        reduce : callable, optional
            Applied to the float64 tensor ``[sum of signs, count]`` before an adjustment; with several
            processes pass one that all-reduces it (sums over ranks) and returns it, so every rank
            computes the same ``p`` from the global batch.

        Returns
        -------
        float
            The probability after this step.
        """
        d = d_real.detach()
        batch = torch.stack([d.sign().sum().double(), torch.tensor(float(d.numel()), dtype=torch.float64, device=d.device)])
        self._stats = batch if self._stats is None else self._stats + batch.to(self._stats.device)
        self.steps_since_update += 1
        if self.steps_since_update >= self.interval:
            stats = reduce(self._stats) if reduce is not None else self._stats
            sign_sum, count = (float(v) for v in stats.cpu())
            if count > 0:
                self.rt = sign_sum / count
                direction = (self.rt > self.target) - (self.rt < self.target)
                self.p = min(max(self.p + direction * count / (self.ada_kimg * 1000.0), 0.0), 1.0)
            self._reset()
        return self.p

    def state_dict(self) -> dict:
        """Plain-Python state, including the partial statistics, for exact resume."""
        stats = [0.0, 0.0] if self._stats is None else [float(v) for v in self._stats.cpu()]
        return {"p": self.p, "target": self.target, "ada_kimg": self.ada_kimg, "interval": self.interval,
                "rt": self.rt, "steps_since_update": self.steps_since_update, "sign_sum": stats[0], "count": stats[1]}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.target, self.ada_kimg, self.interval = float(state["target"]), float(state["ada_kimg"]), int(state["interval"])
        self.p = _check_p(state["p"])
        self.rt = None if state.get("rt") is None else float(state["rt"])
        self.steps_since_update = int(state["steps_since_update"])
        self._stats = None if self.steps_since_update == 0 else torch.tensor(
            [float(state["sign_sum"]), float(state["count"])], dtype=torch.float64)
