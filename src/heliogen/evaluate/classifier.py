"""Classifier-based metrics of the flare poster: a flare-class classifier trained on the
real store, per-class precision/recall/F1 on generated images of each requested class,
and the augmentation experiment (per-class accuracy with and without generated
minority-class images in training).

The poster trains a classifier on real SDO/AIA images labelled with GOES classes and
reports F1 = 2PR / (P + R) on generated images of a class (its "F1 score" panel). The
classifier here is a small CNN (three conv blocks, global pooling, linear head) trained
with Adam and cross-entropy, seeded; scores come from
``sklearn.metrics.precision_recall_fscore_support``. The poster's DeiT backbone needs
timm with pretrained weights, which heliogen does not assume: ``arch="deit"`` builds
timm's DeiT-tiny with random initialisation (one input channel, the image size) when timm
is installed, and any ``torch.nn.Module`` factory can be passed as ``make_model``.

:func:`evaluate_classifier` (``heliogen evaluate classify``) runs it all on a labelled store:
the classifier is trained on the store's time-block ``train`` split
(:func:`heliogen.data.splits.split_by_time`, default settings, as ``StoreDataset``) with the
GOES class letters of ``heliogen data labels``; it is scored on the held-out ``val`` or
``test`` split and on the generated images, whose class comes from the ``GOESCLS`` header
card ``heliogen sample`` writes (or ``XRSFLUX``), or from a store's ``goes_class`` column.
Only the requested classes take part: real images of other classes and unlabelled ones are
left out (and counted), and so are generated images of other classes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import HeliogenError

__all__ = ["SmallCNN", "DeiTTiny", "classifier_factory", "parse_classes", "train_classifier", "predict", "per_class_scores",
           "generated_class_scores", "augmentation_experiment", "evaluate_classifier", "ARCHS"]

log = logging.getLogger("heliogen")

ARCHS = ("cnn", "deit")


def SmallCNN(n_classes: int, channels: int = 1, width: int = 16):
    """Three conv-BN-ReLU-pool blocks, global average pooling and a linear head."""
    import torch.nn as nn

    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(channels, width), *block(width, 2 * width), *block(2 * width, 4 * width),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, n_classes))


def DeiTTiny(n_classes: int, channels: int = 1, img_size: int = 224):
    """timm's DeiT-tiny (patch 16), randomly initialised, for ``channels`` x ``img_size``^2 inputs."""
    import importlib.util

    if importlib.util.find_spec("timm") is None:
        raise HeliogenError("--arch deit needs timm, which is not installed (pip install timm); use --arch cnn")
    try:
        import timm
    except ImportError as err:
        raise HeliogenError(f"--arch deit needs timm, which cannot be imported ({err})") from None
    if img_size % 16:
        raise HeliogenError(f"DeiT-tiny cuts images into 16 px patches; the image size {img_size} is not a multiple of 16")
    return timm.create_model("deit_tiny_patch16_224", pretrained=False, num_classes=n_classes, in_chans=channels,
                             img_size=img_size)


def classifier_factory(arch: str = "cnn", image_size: int | None = None):
    """``make_model(n_classes, channels)`` for ``arch`` ("cnn" or "deit"; DeiT needs the image size).

    Asking for DeiT without timm fails here, before any data is read.
    """
    if arch == "cnn":
        return SmallCNN
    if arch == "deit":
        if image_size is None:
            raise ValueError("DeiT needs the image size")
        DeiTTiny(2, 1, image_size)  # fail early: timm missing or a size DeiT cannot patch

        def make(n_classes, channels):
            return DeiTTiny(n_classes, channels, image_size)

        return make
    raise HeliogenError(f"unknown classifier architecture {arch!r}; choose {' or '.join(ARCHS)}")


def parse_classes(value, what: str = "--classes") -> list[str]:
    """GOES class letters from "A,B,C" or a sequence (upper-cased, in the order given)."""
    from ..data.goes import GOES_CLASSES

    items = [v.strip().upper() for v in (value.split(",") if isinstance(value, str) else value) if str(v).strip()]
    unknown = [v for v in items if v not in GOES_CLASSES]
    if unknown:
        raise HeliogenError(f"unknown flare class {unknown[0]!r} in {what}; use A, B, C, M or X")
    if len(set(items)) != len(items):
        raise HeliogenError(f"{what} names a class twice: {','.join(items)}")
    return items


def _check(images, labels, classes):
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or len(x) == 0:
        raise HeliogenError(f"classifier images must be a non-empty (N, C, H, W) array, not shape {x.shape}")
    if not np.isfinite(x).all():
        raise HeliogenError("classifier images contain NaN or infinite values")
    y = np.asarray([list(classes).index(c) if c in classes else -1 for c in labels])
    if len(y) != len(x):
        raise HeliogenError(f"{len(x)} images but {len(y)} labels")
    if (y < 0).any():
        raise HeliogenError(f"labels outside the classes {list(classes)}: {sorted(set(np.asarray(labels)[y < 0]))}")
    return x, y


def train_classifier(images, labels, classes, epochs: int = 20, batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                     device: str = "cpu", make_model=None):
    """Train a classifier of ``classes`` on model-space images; returns the torch module."""
    import torch

    x, y = _check(images, labels, classes)
    torch.manual_seed(seed)
    model = (make_model or SmallCNN)(len(classes), x.shape[1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    model.train()
    for epoch in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(batch_size):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx].to(device)), yt[idx].to(device))
            if not torch.isfinite(loss):
                raise HeliogenError(f"the classifier's training loss became {loss.item()} in epoch {epoch + 1}; lower --lr")
            loss.backward()
            opt.step()
    return model.eval()


def predict(model, images, batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """Class indices predicted for model-space images."""
    import torch

    x = np.asarray(images, dtype=np.float32)
    x = x[:, None] if x.ndim == 3 else x
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.isfinite(x).all():
        raise HeliogenError("images to classify contain NaN or infinite values")
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            logits = model(torch.from_numpy(x[i : i + batch_size]).to(device))
            if not torch.isfinite(logits).all():
                raise HeliogenError("the classifier produced non-finite outputs (diverged training or extreme inputs)")
            out.append(logits.argmax(1).cpu().numpy())
    return np.concatenate(out)


def per_class_scores(y_true, y_pred, classes) -> dict:
    """{class: {precision, recall, f1, support}} (zero where a class is never predicted)."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])} for i, c in enumerate(classes)}


def generated_class_scores(model, generated: dict, classes, device: str = "cpu") -> dict:
    """Scores of the real-trained classifier on generated images ``{class: images}``.

    Every generated image's true label is the class it was generated for.
    """
    xs, ys = [], []
    for c, imgs in generated.items():
        if c not in classes:
            raise HeliogenError(f"generated class {c!r} is not one of {list(classes)}")
        x = np.asarray(imgs, dtype=np.float32)
        xs.append(x[:, None] if x.ndim == 3 else x)
        ys += [list(classes).index(c)] * len(x)
    if not ys:
        raise HeliogenError("no generated images given")
    pred = predict(model, np.concatenate(xs), device=device)
    scores = per_class_scores(np.array(ys), pred, classes)
    return {c: scores[c] for c in generated}


def augmentation_experiment(train_x, train_y, test_x, test_y, gen_x, gen_y, classes, epochs: int = 20, seed: int = 0,
                            device: str = "cpu", make_model=None, batch_size: int = 32, lr: float = 1e-3,
                            real_model=None) -> dict:
    """Per-class test accuracy (= recall) of a classifier trained without and with generated images.

    ``real_model``, when given, is the classifier already trained on the real training set
    with the same settings (it is then not trained again).
    """
    from sklearn.metrics import recall_score

    tx, ty = _check(test_x, test_y, classes)
    gx, gy = _check(gen_x, gen_y, classes)
    rx, ry = _check(train_x, train_y, classes)
    out = {}
    for name, (x, y) in {"real_only": (rx, ry), "with_generated": (np.concatenate([rx, gx]), np.concatenate([ry, gy]))}.items():
        if name == "real_only" and real_model is not None:
            model = real_model
        else:
            model = train_classifier(x, [classes[i] for i in y], classes, epochs=epochs, batch_size=batch_size, lr=lr,
                                     seed=seed, device=device, make_model=make_model)
        acc = recall_score(ty, predict(model, tx, device=device), labels=list(range(len(classes))), average=None, zero_division=0)
        out[name] = {c: float(acc[i]) for i, c in enumerate(classes)}
    out["generated_added"] = {c: int((gy == i).sum()) for i, c in enumerate(classes)}
    return out


def _is_store(path: Path) -> bool:
    return (path / "zarr.json").is_file() or path.suffix == ".zarr"


def _letter(value) -> str:
    """The GOES class letter of a label ("M", "M2.5", "M_1e-05"); "" when there is none."""
    from ..data.goes import GOES_CLASSES

    v = str(value).strip().upper()
    return v[0] if v and v[0] in GOES_CLASSES else ""


def _fake_classes(path: Path, fake) -> tuple[np.ndarray, str]:
    """One class letter per generated image, and where it came from."""
    from ..data.goes import goes_class
    from ..data.store import open_store

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

    from ..data.splits import split_by_time

    return {k: (list(v.default) if isinstance(v.default, tuple) else v.default)
            for k, v in inspect.signature(split_by_time).parameters.items() if v.default is not inspect.Parameter.empty}


def _counts(letters, classes) -> dict:
    letters = np.asarray(letters)
    return {c: int((letters == c).sum()) for c in classes}


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
    import torch

    from ..atomic import write_text_atomic
    from ..data.goes import GOES_CLASSES
    from ..data.splits import split_by_time
    from ..data.store import open_store
    from .io import load_images, model_range
    from .schema import _clean, new_document

    real, fake = Path(real), Path(fake)
    if test_split not in ("val", "test"):
        raise HeliogenError(f"the held-out split must be val or test, not {test_split!r}")
    if arch not in ARCHS:
        raise HeliogenError(f"unknown classifier architecture {arch!r}; choose {' or '.join(ARCHS)}")
    if epochs < 1 or batch_size < 1:
        raise HeliogenError("epochs and batch size must be at least 1")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
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
    make_model = classifier_factory(arch, store.size)  # a missing timm fails before any training

    labels = np.array([_letter(c) for c in store.column("goes_class")])
    split_kwargs = dict(split_kwargs or {})
    splits = split_by_time(store.times(), **split_kwargs)
    train_idx, test_idx = splits["train"], splits[test_split]
    train_labels = labels[train_idx]
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

    keep_train = train_idx[np.isin(train_labels, classes)]
    keep_test = test_idx[np.isin(labels[test_idx], classes)]
    if len(keep_test) == 0:
        raise HeliogenError(f"the {test_split} split of {real} holds no labelled images of the classes {','.join(classes)}; "
                            f"try --test-split {'val' if test_split == 'test' else 'test'}")
    norm = store.normalisation

    def read(idx):
        return np.nan_to_num(norm.forward(store.images(idx).astype(np.float64)), nan=0.0).astype(np.float32)

    train_x, test_x = read(keep_train), read(keep_test)
    train_y = np.array([classes.index(c) for c in labels[keep_train]])
    test_y = np.array([classes.index(c) for c in labels[keep_test]])

    f = load_images(fake, normalisation=norm, kind=store.kind)
    if f.images.shape[1:] != train_x.shape[1:]:
        raise HeliogenError(f"generated images are {tuple(f.images.shape[1:])} (C, H, W) but the real store's are "
                            f"{tuple(train_x.shape[1:])}; resample them to the store's size")
    fake_letters, class_source = _fake_classes(fake, f)
    use = np.isin(fake_letters, classes)
    skipped = {c: int((fake_letters == c).sum()) for c in GOES_CLASSES if c not in classes and (fake_letters == c).any()}
    if not use.any():
        raise HeliogenError(f"no generated images of the classes {','.join(classes)} in {fake} "
                            f"(it holds {', '.join(f'{c} {k}' for c, k in skipped.items())})")
    if skipped:
        log.warning("classify: left out %d generated images of classes outside %s (%s)", sum(skipped.values()),
                    ",".join(classes), ", ".join(f"{c} {k}" for c, k in skipped.items()))
    gen_x = f.images[use]
    gen_y = np.array([classes.index(c) for c in fake_letters[use]])
    gen_names = [n for n, u in zip(f.names, use) if u]
    for c in augment:
        if not (gen_y == classes.index(c)).any():
            raise HeliogenError(f"--augment {c}: there are no generated images of class {c} in {fake} to add")

    log.info("classify: %s on %d real training images (%s), %d held-out (%s), %d generated", arch, len(train_x),
             ", ".join(f"{c} {k}" for c, k in _counts(labels[keep_train], classes).items()), len(test_x), test_split, len(gen_x))
    model = train_classifier(train_x, [classes[i] for i in train_y], classes, epochs=epochs, batch_size=batch_size, lr=lr,
                             seed=seed, device=device, make_model=make_model)
    n_params = int(sum(p.numel() for p in model.parameters()))

    def scores(y_true, y_pred, only=None):
        # macro F1 averages the classes present in y_true (a class without examples has no recall)
        per = per_class_scores(y_true, y_pred, classes)
        res = {c: per[c] for c in (only or classes)}
        res["accuracy"] = float((np.asarray(y_true) == np.asarray(y_pred)).mean())
        res["macro_f1"] = float(np.mean([per[c]["f1"] for c in classes if per[c]["support"] > 0]))
        return res

    test_pred = predict(model, test_x, batch_size=max(batch_size, 64), device=device)
    gen_pred = predict(model, gen_x, batch_size=max(batch_size, 64), device=device)
    gen_classes = [c for c in classes if (gen_y == classes.index(c)).any()]
    metrics = {"real_heldout": scores(test_y, test_pred), "generated": scores(gen_y, gen_pred, gen_classes)}
    predictions = {"classes": classes,
                   "real_heldout": {"index": keep_test, "true": test_y, "pred": test_pred},
                   "generated": {"names": gen_names, "true": gen_y, "pred": gen_pred}}
    if augment:
        aug_mask = np.isin(gen_y, [classes.index(c) for c in augment])
        aug = augmentation_experiment(train_x, [classes[i] for i in train_y], test_x, [classes[i] for i in test_y],
                                      gen_x[aug_mask], [classes[i] for i in gen_y[aug_mask]], classes, epochs=epochs,
                                      seed=seed, device=device, make_model=make_model, batch_size=batch_size, lr=lr,
                                      real_model=model)
        aug["delta"] = {c: aug["with_generated"][c] - aug["real_only"][c] for c in classes}
        aug["support"] = _counts(labels[keep_test], classes)
        metrics["augmentation"] = aug

    settings = {"classes": classes, "augment": augment, "arch": arch, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                "seed": seed, "optimizer": "adam", "loss": "cross-entropy", "test_split": test_split,
                "split": {"function": "split_by_time", **_split_defaults(), **split_kwargs}}
    doc = new_document("classifier", settings)
    doc["real"] = {"source": str(real), "n": store.n, "kind": store.kind, "shape": list(train_x.shape[1:]),
                   "n_train": len(train_x), "n_heldout": len(test_x),
                   "counts": {"train": _counts(labels[keep_train], classes), "heldout": _counts(labels[keep_test], classes)},
                   "left_out": {"unlabelled": int((labels[np.concatenate([train_idx, test_idx])] == "").sum()),
                                "other_classes": int((~np.isin(labels[np.concatenate([train_idx, test_idx])], [*classes, ""])).sum())}}
    doc["fake"] = {**f.describe(), "n_used": len(gen_x), "class_source": class_source, "counts": _counts(fake_letters, classes),
                   "left_out": skipped}
    lo, hi = model_range(norm)
    doc["model_space"] = {"normalisation": norm.to_dict(), "range": [lo, hi], "classifier_input": "model space, (N, C, H, W)"}
    doc["classifier"] = {"arch": arch, "name": "SmallCNN (3 conv-BN-ReLU-pool blocks, width 16)" if arch == "cnn"
                         else "timm deit_tiny_patch16_224, random init", "parameters": n_params, "device": device}
    doc["metrics"] = metrics
    doc["predictions"] = predictions
    if out:
        write_text_atomic(out, json.dumps(_clean(doc), indent=2, allow_nan=False) + "\n")
    return doc
