"""Invertible normalisations between stored values and the [-1, 1]/[0, 1] model space.

A store keeps images one step before normalisation (EUV: ln of DN/s; magnetograms: Gauss;
granulation: intensity over its mean) and the constants in its attributes, so a build can
be resumed with new files and the dataset maximum still be exact. Training reads
``forward(stored)``; sampling writes ``physical(model_output)``.

Conventions, by kind:

* ``log_max`` (EUV, full-disk study sec. 3): stored ``s = ln(max(I, 1))``, model
  ``x = s / max(s)`` in [0, 1], physical ``I = exp(x * max(s))`` in DN/s.
* ``linear`` (magnetograms, super-resolution paper sec. 2): stored ``s = clip(B, -3000, 3000)``
  in G, model ``x = s / 3000`` in [-1, 1].
* ``minmax`` (granulation, tile thesis sec. 3.1): model ``x = 2 (s - lo) / (hi - lo) - 1``
  with the dataset's lo/hi.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import HeliogenError

__all__ = ["Normalisation"]

KINDS = ("log_max", "linear", "minmax")
# Model-space range of each normalisation: log_max maps ln I in [0, max] to [0, 1]; the others to [-1, 1].
DATA_RANGE = {"log_max": (0.0, 1.0), "linear": (-1.0, 1.0), "minmax": (-1.0, 1.0)}


@dataclass
class Normalisation:
    """An invertible map between stored values and model space, with its constants."""

    kind: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise HeliogenError(f"unknown normalisation {self.kind!r}; choose from {', '.join(KINDS)}")

    # -- running statistics, updated as a build commits images ------------------------
    def update(self, stored: np.ndarray) -> None:
        """Fold a batch of stored images into the dataset constants (max, or lo/hi)."""
        finite = stored[np.isfinite(stored)]
        if finite.size == 0:
            return
        if self.kind == "log_max":
            self.params["max"] = max(float(finite.max()), self.params.get("max", 0.0))
        elif self.kind == "minmax":
            self.params["lo"] = min(float(finite.min()), self.params.get("lo", np.inf))
            self.params["hi"] = max(float(finite.max()), self.params.get("hi", -np.inf))

    def _check(self):
        # written as ``not x > y`` so that a missing or NaN constant fails the check too
        if self.kind == "log_max" and not self.params.get("max", np.nan) > 0:
            raise HeliogenError("the store's normalisation maximum is not set (is the store empty?)")
        if self.kind == "linear" and not self.params.get("scale", np.nan) > 0:
            raise HeliogenError("the normalisation scale is not set or not positive")
        if self.kind == "minmax" and not self.params.get("hi", np.nan) > self.params.get("lo", np.nan):
            raise HeliogenError("the store's normalisation range is empty (is the store empty?)")

    def forward(self, stored: np.ndarray) -> np.ndarray:
        """Stored values to model space."""
        self._check()
        if self.kind == "log_max":
            return stored / self.params["max"]
        if self.kind == "linear":
            return stored / self.params["scale"]
        lo, hi = self.params["lo"], self.params["hi"]
        return 2.0 * (stored - lo) / (hi - lo) - 1.0

    def inverse(self, model: np.ndarray) -> np.ndarray:
        """Model space back to stored values (exact inverse of :meth:`forward`)."""
        self._check()
        if self.kind == "log_max":
            return model * self.params["max"]
        if self.kind == "linear":
            return model * self.params["scale"]
        lo, hi = self.params["lo"], self.params["hi"]
        return (model + 1.0) * (hi - lo) / 2.0 + lo

    def stored_from_physical(self, physical: np.ndarray) -> np.ndarray:
        """Physical units to stored values in float64, with the preprocessing's clips (EUV
        ``I >= 1``, magnetograms ``|B| <= scale``); :meth:`physical` inverts it inside those clips."""
        p = np.asarray(physical, dtype=np.float64)
        if self.kind == "log_max":
            return np.log(np.clip(p, 1.0, None))
        if self.kind == "linear":
            return np.clip(p, -self.params["scale"], self.params["scale"])
        return p

    def physical(self, model: np.ndarray) -> np.ndarray:
        """Model space to physical units (DN/s for EUV, G for magnetograms, I/<I>)."""
        stored = self.inverse(model)
        return np.exp(stored) if self.kind == "log_max" else stored

    @property
    def data_range(self) -> tuple[float, float]:
        """The model-space range (lo, hi): [0, 1] for ``log_max``, [-1, 1] otherwise."""
        return DATA_RANGE[self.kind]

    @property
    def unit(self) -> str:
        """Unit of :meth:`physical`'s values, from the image kind this normalisation serves."""
        from .kinds import kind_of_normalisation

        return kind_of_normalisation(self.kind).unit

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Normalisation":
        return cls(kind=d["kind"], params=dict(d.get("params", {})))
