"""A PyTorch ``Dataset`` over a heliogen store."""

from __future__ import annotations

import numpy as np

from ..errors import HeliogenError
from .goes import GOES_CLASSES
from .splits import split_by_time
from .store import open_store

__all__ = ["StoreDataset"]


class StoreDataset:
    """Normalised images (and labels) from a store, for training.

    Parameters
    ----------
    store : path or Store
    split : {"train", "val", "test"}, optional
        Restrict to one time-block split (:func:`heliogen.data.splits.split_by_time`).
    split_kwargs : dict, optional
        Passed to the split function (fractions, n_blocks, seed, gap_days).
    labels : bool
        Also return ``class_index`` (A=0 ... X=4) and ``log10_flux``; every selected sample
        must be labelled.
    hflip : bool
        Random horizontal flips (the full-disk study's only augmentation). Whether sample
        ``j`` (its store row) is flipped is a function of ``(seed, epoch, j)`` alone, drawn
        from ``default_rng([seed, epoch, j])``: the same in every DataLoader worker layout
        (``num_workers`` 0, 2, ...) and on every rank, and repeatable on resume. Call
        :meth:`set_epoch` before each epoch for fresh flips (as with PyTorch's
        ``DistributedSampler``); without it every epoch sees the flips of epoch 0.
    lowres : bool
        Also return the stored low-resolution twin (super-resolution pairs).
    seed : int
        Seed of the flips (non-negative).

    Items are dicts of ``image`` (float32 tensor C x S x S in model space), ``index`` and, on
    request, ``lowres``, ``class_index`` and ``log10_flux``.
    """

    def __init__(self, store, split=None, split_kwargs=None, labels: bool = False, hflip: bool = False, lowres: bool = False, seed: int = 0):
        self.store = open_store(store) if not hasattr(store, "images") else store
        n = self.store.n
        if n == 0:
            raise HeliogenError(f"{self.store.path} holds no images")
        if split is None:
            self.indices = np.arange(n)
        else:
            splits = split_by_time(self.store.times(), **(split_kwargs or {}))
            if split not in splits:
                raise HeliogenError(f"unknown split {split!r}; choose from {', '.join(splits)}")
            self.indices = splits[split]
        self.norm = self.store.normalisation
        self.hflip = hflip
        if int(seed) < 0:
            raise HeliogenError(f"the flip seed must be non-negative, not {seed}")
        self.seed = int(seed)
        self.epoch = 0
        self.want_lowres = lowres
        if lowres and not self.store.has_lowres:
            raise HeliogenError(f"{self.store.path} has no low-resolution pairs (build it with --pairs)")
        self.labels = None
        if labels:
            if "goes_class" not in self.store.columns():
                raise HeliogenError(f"{self.store.path} has no flare labels; run `heliogen data labels` first")
            classes = self.store.column("goes_class")[self.indices]
            if (classes == "").any():
                raise HeliogenError(f"{int((classes == '').sum())} selected samples are unlabelled (no GOES coverage)")
            self.labels = {
                "class_index": np.array([GOES_CLASSES.index(c) for c in classes], dtype=np.int64),
                "log10_flux": self.store.column("log10_flux")[self.indices].astype(np.float32),
            }

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """Use the flips of ``epoch`` from now on (call before creating the epoch's iterator)."""
        if int(epoch) < 0:
            raise HeliogenError(f"epoch must be non-negative, not {epoch}")
        self.epoch = int(epoch)

    def flipped(self, j: int) -> bool:
        """Whether store row ``j`` is flipped in the current epoch (False without ``hflip``)."""
        # A fresh generator per item, keyed by what identifies the item: a generator held by
        # the dataset would be copied into every DataLoader worker and repeat its draws there.
        return bool(self.hflip and np.random.default_rng([self.seed, self.epoch, int(j)]).random() < 0.5)

    def __getitem__(self, i: int) -> dict:
        import torch

        j = int(self.indices[i])
        image = self.norm.forward(self.store.images(slice(j, j + 1))[0]).astype(np.float32)
        flip = self.flipped(j)
        item = {"image": torch.from_numpy(np.ascontiguousarray(image[..., ::-1] if flip else image)), "index": j}
        if self.want_lowres:
            low = self.norm.forward(self.store.lowres(slice(j, j + 1))[0]).astype(np.float32)
            item["lowres"] = torch.from_numpy(np.ascontiguousarray(low[..., ::-1] if flip else low))
        if self.labels is not None:
            item["class_index"] = int(self.labels["class_index"][i])
            item["log10_flux"] = float(self.labels["log10_flux"][i])
        return item
