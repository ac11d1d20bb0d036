"""``heliogen evaluate classify``: the flare poster's classifier metrics on a labelled store.

The classifier (:mod:`heliogen.evaluate.metrics.classifier`) is trained on the store's
time-block ``train`` split (:func:`heliogen.data.splits.split_by_time`, default settings,
as ``StoreDataset``) with the GOES class letters of ``heliogen data labels``; it is scored
on the held-out ``val`` or ``test`` split and on the generated images, whose class comes
from the ``GOESCLS`` header card ``heliogen sample`` writes (or ``XRSFLUX``), or from a
store's ``goes_class`` column. Only the requested classes take part: real images of other
classes and unlabelled ones are left out (and counted), and so are generated images of
other classes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...device import resolve_device
from ...errors import HeliogenError
from ..metrics.classifier import (ARCHS, augmentation_experiment, classifier_factory, parse_classes, per_class_scores, predict,
                                  train_classifier)

__all__ = ["evaluate_classifier"]

log = logging.getLogger("heliogen")


def _is_store(path: Path) -> bool:
    return (path / "zarr.json").is_file() or path.suffix == ".zarr"


def _letter(value) -> str:
    """The GOES class letter of a label ("M", "M2.5", "M_1e-05"); "" when there is none."""
    from ...data.goes import GOES_CLASSES

    v = str(value).strip().upper()
    return v[0] if v and v[0] in GOES_CLASSES else ""


def _fake_classes(path: Path, fake) -> tuple[np.ndarray, str]:
    """One class letter per generated image, and where it came from."""
    from ...data.goes import goes_class
    from ...data.store import open_store

    if _is_store(path):
        store = open_store(path)
        if "goes_class" not in store.columns():
            raise HeliogenError(f"the generated images in {path} carry no flare class (the store has no goes_class column; "
                                "run `heliogen data labels` on it)")
        letters = np.array([_letter(c) for c in store.column("goes_class")])
        source = "store goes_class column"
    else:
        letters = []
        for h in fake.headers:
            h = {str(k).upper(): v for k, v in h.items()}
            c = _letter(h.get("GOESCLS", ""))
            if not c and h.get("XRSFLUX") not in (None, ""):
                try:
                    c = str(goes_class(float(h["XRSFLUX"])))
                except (TypeError, ValueError):
                    c = ""
            letters.append(c)
        letters = np.array(letters, dtype=object)
        source = "FITS header GOESCLS (or XRSFLUX)"
    missing = [fake.names[i] for i in np.nonzero(letters == "")[0]]
    if missing:
        raise HeliogenError(f"{len(missing)} of {len(letters)} generated images in {path} carry no flare class "
                            f"(no GOESCLS or XRSFLUX header card{', or no label' if _is_store(path) else ''}), e.g. {missing[0]}; "
                            "sample them from a class-conditional model (heliogen sample --class ...)")
    return letters.astype(str), source


def _split_defaults() -> dict:
    import inspect

    from ...data.splits import split_by_time

    return {k: (list(v.default) if isinstance(v.default, tuple) else v.default)
            for k, v in inspect.signature(split_by_time).parameters.items() if v.default is not inspect.Parameter.empty}


def _counts(letters, classes) -> dict:
    letters = np.asarray(letters)
    return {c: int((letters == c).sum()) for c in classes}


def _check_options(real: Path, test_split: str, arch: str, epochs: int, batch_size: int):
    """Fail on bad options before any data is read; returns the labelled real store."""
    from ...data.store import open_store

    if test_split not in ("val", "test"):
        raise HeliogenError(f"the held-out split must be val or test, not {test_split!r}")
    if arch not in ARCHS:
        raise HeliogenError(f"unknown classifier architecture {arch!r}; choose {' or '.join(ARCHS)}")
    if epochs < 1 or batch_size < 1:
        raise HeliogenError("epochs and batch size must be at least 1")
    if not real.exists():
        raise HeliogenError(f"no such store: {real}")
    if not _is_store(real):
        raise HeliogenError(f"--real must be a heliogen store with flare labels (heliogen data build, then heliogen data labels), "
                            f"not {real}")
    store = open_store(real)
    if store.n == 0:
        raise HeliogenError(f"the store {real} is empty")
    if "goes_class" not in store.columns():
        raise HeliogenError(f"{real} has no flare labels; run `heliogen data labels` first")
    return store


def _choose_classes(classes, augment, train_labels, real: Path) -> tuple[list[str], list[str]]:
    """The classes to tell apart (default: those in the training split) and the ones to augment."""
    from ...data.goes import GOES_CLASSES

    if classes is None or (isinstance(classes, str) and not classes.strip()):
        classes = [c for c in GOES_CLASSES if (train_labels == c).any()]
        if len(classes) < 2:
            raise HeliogenError(f"the training split of {real} holds labelled images of {len(classes)} class(es) "
                                f"({','.join(classes) or 'none'}); a classifier needs at least two")
    else:
        classes = parse_classes(classes)
        if len(classes) < 2:
            raise HeliogenError("--classes needs at least two classes to tell apart")
        present = {c: int((train_labels == c).sum()) for c in GOES_CLASSES}
        missing = [c for c in classes if present[c] == 0]
        if missing:
            have = ", ".join(f"{c} {k}" for c, k in present.items() if k) or "none"
            raise HeliogenError(f"no real training images of class {','.join(missing)} in {real} "
                                f"(train split: {have}); drop it from --classes")
    augment = parse_classes(augment, "--augment") if augment else []
    outside = [c for c in augment if c not in classes]
    if outside:
        raise HeliogenError(f"--augment class {outside[0]} is not one of the classes {','.join(classes)}")
    return classes, augment


@dataclass
class _RealSplits:
    """The real store's labelled training and held-out images of the chosen classes."""

    labels: np.ndarray  # one class letter per store image ("" when unlabelled)
    train_idx: np.ndarray
    test_idx: np.ndarray
    keep_train: np.ndarray
    keep_test: np.ndarray
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def _read_real(store, labels, splits, classes, test_split: str, real: Path) -> _RealSplits:
    train_idx, test_idx = splits["train"], splits[test_split]
    keep_train = train_idx[np.isin(labels[train_idx], classes)]
    keep_test = test_idx[np.isin(labels[test_idx], classes)]
    if len(keep_test) == 0:
        raise HeliogenError(f"the {test_split} split of {real} holds no labelled images of the classes {','.join(classes)}; "
                            f"try --test-split {'val' if test_split == 'test' else 'test'}")
    norm = store.normalisation

    def read(idx):
        return np.nan_to_num(norm.forward(store.images(idx).astype(np.float64)), nan=0.0).astype(np.float32)

    return _RealSplits(labels, train_idx, test_idx, keep_train, keep_test, read(keep_train),
                       np.array([classes.index(c) for c in labels[keep_train]]), read(keep_test),
                       np.array([classes.index(c) for c in labels[keep_test]]))


@dataclass
class _GeneratedSet:
    """The generated images of the chosen classes, with the classes they were made for."""

    images: object  # the ImageSet of all generated images
    letters: np.ndarray
    class_source: str
    skipped: dict  # {class: count} of generated images outside the chosen classes
    x: np.ndarray
    y: np.ndarray
    names: list


def _read_generated(fake: Path, store, classes, augment, image_shape) -> _GeneratedSet:
    from ...data.goes import GOES_CLASSES
    from ..io import load_images

    f = load_images(fake, normalisation=store.normalisation, kind=store.kind)
    if f.images.shape[1:] != image_shape:
        raise HeliogenError(f"generated images are {tuple(f.images.shape[1:])} (C, H, W) but the real store's are "
                            f"{tuple(image_shape)}; resample them to the store's size")
    letters, class_source = _fake_classes(fake, f)
    use = np.isin(letters, classes)
    skipped = {c: int((letters == c).sum()) for c in GOES_CLASSES if c not in classes and (letters == c).any()}
    if not use.any():
        raise HeliogenError(f"no generated images of the classes {','.join(classes)} in {fake} "
                            f"(it holds {', '.join(f'{c} {k}' for c, k in skipped.items())})")
    if skipped:
        log.warning("classify: left out %d generated images of classes outside %s (%s)", sum(skipped.values()),
                    ",".join(classes), ", ".join(f"{c} {k}" for c, k in skipped.items()))
    gen_y = np.array([classes.index(c) for c in letters[use]])
    for c in augment:
        if not (gen_y == classes.index(c)).any():
            raise HeliogenError(f"--augment {c}: there are no generated images of class {c} in {fake} to add")
    return _GeneratedSet(f, letters, class_source, skipped, f.images[use], gen_y, [n for n, u in zip(f.names, use) if u])


def _scores(y_true, y_pred, classes, only=None) -> dict:
    """Per-class scores of ``only`` (default all classes), accuracy and macro F1.

    Macro F1 averages the classes present in ``y_true`` (a class without examples has no recall).
    """
    per = per_class_scores(y_true, y_pred, classes)
    res = {c: per[c] for c in (only or classes)}
    res["accuracy"] = float((np.asarray(y_true) == np.asarray(y_pred)).mean())
    res["macro_f1"] = float(np.mean([per[c]["f1"] for c in classes if per[c]["support"] > 0]))
    return res


def _augmentation(r: _RealSplits, g: _GeneratedSet, classes, augment, model, **train) -> dict:
    """The augmentation experiment with the generated images of the ``augment`` classes added to training.

    ``model`` is the classifier already trained on the real images alone; ``train`` holds the
    training settings (epochs, seed, device, make_model, batch_size, lr).
    """
    aug_mask = np.isin(g.y, [classes.index(c) for c in augment])
    aug = augmentation_experiment(r.train_x, [classes[i] for i in r.train_y], r.test_x, [classes[i] for i in r.test_y],
                                  g.x[aug_mask], [classes[i] for i in g.y[aug_mask]], classes, real_model=model, **train)
    aug["delta"] = {c: aug["with_generated"][c] - aug["real_only"][c] for c in classes}
    aug["support"] = _counts(r.labels[r.keep_test], classes)
    return aug


def _document(real: Path, store, r: _RealSplits, g: _GeneratedSet, classes, settings: dict, arch: str, n_params: int,
              device: str) -> dict:
    """The metrics document around the scores: inputs, counts, model space and classifier."""
    from ..schema import new_document

    doc = new_document("classifier", settings)
    both = np.concatenate([r.train_idx, r.test_idx])
    doc["real"] = {"source": str(real), "n": store.n, "kind": store.kind, "shape": list(r.train_x.shape[1:]),
                   "n_train": len(r.train_x), "n_heldout": len(r.test_x),
                   "counts": {"train": _counts(r.labels[r.keep_train], classes), "heldout": _counts(r.labels[r.keep_test], classes)},
                   "left_out": {"unlabelled": int((r.labels[both] == "").sum()),
                                "other_classes": int((~np.isin(r.labels[both], [*classes, ""])).sum())}}
    doc["fake"] = {**g.images.describe(), "n_used": len(g.x), "class_source": g.class_source,
                   "counts": _counts(g.letters, classes), "left_out": g.skipped}
    norm = store.normalisation
    lo, hi = norm.data_range
    doc["model_space"] = {"normalisation": norm.to_dict(), "range": [lo, hi], "classifier_input": "model space, (N, C, H, W)"}
    doc["classifier"] = {"arch": arch, "name": "SmallCNN (3 conv-BN-ReLU-pool blocks, width 16)" if arch == "cnn"
                         else "timm deit_tiny_patch16_224, random init", "parameters": n_params, "device": device}
    return doc


def evaluate_classifier(real, fake, classes=None, augment=(), arch: str = "cnn", epochs: int = 20, test_split: str = "test",
                        out=None, seed: int = 0, batch_size: int = 32, lr: float = 1e-3, device: str = "cpu",
                        split_kwargs: dict | None = None) -> dict:
    """Classifier-based metrics of generated images (``heliogen evaluate classify``).

    Parameters
    ----------
    real : path-like
        A heliogen store with flare labels (``heliogen data labels``).
    fake : path-like
        Generated images: a FITS directory (class from the ``GOESCLS`` card, or
        ``XRSFLUX``) or a labelled store. Brought into the real store's model space.
    classes : str or sequence, optional
        GOES class letters the classifier tells apart (default: those present in the
        real training split). Each needs at least one real training image.
    augment : str or sequence
        Minority classes whose generated images are added to training in the augmentation
        experiment (empty: no experiment).
    arch : {"cnn", "deit"}
        The small CNN, or timm's DeiT-tiny (random init; needs timm).
    test_split : {"val", "test"}
        The held-out time-block split the classifiers are scored on.
    out : path-like, optional
        The metrics JSON (``heliogen-metrics/1``, type ``classifier``), written atomically.

    Returns
    -------
    dict
        The metrics document: ``metrics.real_heldout`` and ``metrics.generated`` hold
        ``{class: {precision, recall, f1, support}}`` (recall = per-class accuracy) plus
        ``accuracy`` and ``macro_f1`` (the mean F1 of the classes with support);
        ``metrics.augmentation`` (with ``augment``) ``real_only``/``with_generated``
        per-class accuracy, their difference and the images added; ``predictions`` the true
        and predicted class indices behind every score.
    """
    from ...atomic import write_text_atomic
    from ...data.splits import split_by_time
    from ..schema import _clean

    real, fake = Path(real), Path(fake)
    device = resolve_device(device)
    store = _check_options(real, test_split, arch, epochs, batch_size)
    make_model = classifier_factory(arch, store.size)  # a missing timm fails before any training

    labels = np.array([_letter(c) for c in store.column("goes_class")])
    split_kwargs = dict(split_kwargs or {})
    splits = split_by_time(store.times(), **split_kwargs)
    classes, augment = _choose_classes(classes, augment, labels[splits["train"]], real)
    r = _read_real(store, labels, splits, classes, test_split, real)
    g = _read_generated(fake, store, classes, augment, r.train_x.shape[1:])

    log.info("classify: %s on %d real training images (%s), %d held-out (%s), %d generated", arch, len(r.train_x),
             ", ".join(f"{c} {k}" for c, k in _counts(labels[r.keep_train], classes).items()), len(r.test_x), test_split, len(g.x))
    model = train_classifier(r.train_x, [classes[i] for i in r.train_y], classes, epochs=epochs, batch_size=batch_size, lr=lr,
                             seed=seed, device=device, make_model=make_model)
    n_params = int(sum(p.numel() for p in model.parameters()))
    test_pred = predict(model, r.test_x, batch_size=max(batch_size, 64), device=device)
    gen_pred = predict(model, g.x, batch_size=max(batch_size, 64), device=device)
    gen_classes = [c for c in classes if (g.y == classes.index(c)).any()]
    metrics = {"real_heldout": _scores(r.test_y, test_pred, classes), "generated": _scores(g.y, gen_pred, classes, gen_classes)}
    predictions = {"classes": classes,
                   "real_heldout": {"index": r.keep_test, "true": r.test_y, "pred": test_pred},
                   "generated": {"names": g.names, "true": g.y, "pred": gen_pred}}
    if augment:
        metrics["augmentation"] = _augmentation(r, g, classes, augment, model, epochs=epochs, seed=seed, device=device,
                                                make_model=make_model, batch_size=batch_size, lr=lr)

    settings = {"classes": classes, "augment": augment, "arch": arch, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                "seed": seed, "optimizer": "adam", "loss": "cross-entropy", "test_split": test_split,
                "split": {"function": "split_by_time", **_split_defaults(), **split_kwargs}}
    doc = _document(real, store, r, g, classes, settings, arch, n_params, device)
    doc["metrics"] = metrics
    doc["predictions"] = predictions
    if out:
        write_text_atomic(out, json.dumps(_clean(doc), indent=2, allow_nan=False) + "\n")
    return doc
