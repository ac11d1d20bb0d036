"""Classifier-based metrics of the flare poster: a flare-class classifier trained on real
images, per-class precision/recall/F1 on generated images of each requested class, and
the augmentation experiment (per-class accuracy with and without generated minority-class
images in training).

The poster trains a classifier on real SDO/AIA images labelled with GOES classes and
reports F1 = 2PR / (P + R) on generated images of a class (its "F1 score" panel). The
classifier here is a small CNN (three conv blocks, global pooling, linear head) trained
with Adam and cross-entropy, seeded; scores come from
``sklearn.metrics.precision_recall_fscore_support``. The poster's DeiT backbone needs
timm with pretrained weights, which heliogen does not assume: ``arch="deit"`` builds
timm's DeiT-tiny with random initialisation (one input channel, the image size) when timm
is installed, and any ``torch.nn.Module`` factory can be passed as ``make_model``.

:func:`heliogen.evaluate.commands.classify.evaluate_classifier` (``heliogen evaluate
classify``) runs it all on a labelled store.
"""

from __future__ import annotations

import numpy as np

from ...errors import HeliogenError

__all__ = ["SmallCNN", "DeiTTiny", "classifier_factory", "parse_classes", "train_classifier", "predict", "per_class_scores",
           "generated_class_scores", "augmentation_experiment", "ARCHS"]

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
    from ...data.goes import GOES_CLASSES

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
