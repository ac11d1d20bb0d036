"""The global RNG states (torch, CUDA, numpy, Python) as tensors and plain values, and back.

A checkpoint's ``state.pt`` is read with ``torch.load(weights_only=True)``, which unpickles no
arbitrary objects; numpy's state (a tuple holding an ndarray) would not pass, so its MT19937
key travels as an int64 tensor. Exact resume restores every generator a ``step_fn`` may draw from.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from ..errors import HeliogenError

__all__ = ["rng_state", "set_rng_state"]


def rng_state() -> dict:
    """The global RNG states as tensors and plain Python values only."""
    np_state = np.random.get_state(legacy=False)
    if np_state["bit_generator"] != "MT19937":  # numpy's global RandomState is always MT19937
        raise HeliogenError(f"cannot checkpoint numpy's {np_state['bit_generator']} global generator")
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)), "pos": int(np_state["state"]["pos"]),
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss_next},
    }


def set_rng_state(rng: dict) -> None:
    """Restore what :func:`rng_state` captured (or the legacy tuples of older checkpoints)."""
    torch.set_rng_state(rng["torch"])
    cuda = rng.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    n = rng["numpy"]
    if isinstance(n, tuple):  # checkpoints from before the tensor form: numpy's own legacy tuple
        np.random.set_state(n)
    else:
        np.random.set_state({"bit_generator": "MT19937", "state": {"key": n["key"].numpy().astype(np.uint32), "pos": int(n["pos"])},
                             "has_gauss": int(n["has_gauss"]), "gauss": float(n["gauss"])})
    p = rng["python"]
    if isinstance(p, tuple):
        random.setstate(p)
    else:
        random.setstate((int(p["version"]), tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
