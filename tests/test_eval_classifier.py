"""Classifier-based metrics on separable synthetic classes."""

import numpy as np
import pytest

from heliogen.errors import HeliogenError
from heliogen.evaluate.metrics.classifier import augmentation_experiment, generated_class_scores, per_class_scores, predict, train_classifier


def _images(rng, cls, n):
    # Class "A": smooth; class "X": a bright compact kernel (a flare-like blob).
    y, x = np.mgrid[:16, :16]
    out = 0.2 + 0.05 * rng.normal(size=(n, 1, 16, 16))
    if cls == "X":
        cx, cy = rng.integers(4, 12, n), rng.integers(4, 12, n)
        out += np.exp(-((x - cx[:, None, None]) ** 2 + (y - cy[:, None, None]) ** 2) / 4.0)[:, None]
    return out.astype(np.float32)


def test_per_class_scores_match_definitions():
    got = per_class_scores(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["A", "X"])
    # class X: TP 2, FP 1, FN 0 -> P 2/3, R 1, F1 0.8
    assert got["X"]["precision"] == pytest.approx(2 / 3) and got["X"]["recall"] == 1.0 and got["X"]["f1"] == pytest.approx(0.8)


def test_classifier_scores_and_augmentation():
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    classes = ["A", "X"]
    x = np.concatenate([_images(rng, "A", 40), _images(rng, "X", 40)])
    labels = ["A"] * 40 + ["X"] * 40
    model = train_classifier(x, labels, classes, epochs=25, seed=0)
    gen = {"A": _images(rng, "A", 10), "X": _images(rng, "X", 10)}
    scores = generated_class_scores(model, gen, classes)
    assert scores["X"]["f1"] > 0.8 and scores["A"]["f1"] > 0.8
    # Minority class X (4 real examples) augmented with 30 generated ones.
    tx = np.concatenate([_images(rng, "A", 20), _images(rng, "X", 20)])
    ty = ["A"] * 20 + ["X"] * 20
    trx = np.concatenate([_images(rng, "A", 40), _images(rng, "X", 4)])
    gen_x = _images(rng, "X", 30)
    res = augmentation_experiment(trx, ["A"] * 40 + ["X"] * 4, tx, ty, gen_x, ["X"] * 30, classes, epochs=25)
    assert set(res) == {"real_only", "with_generated", "generated_added"} and res["generated_added"] == {"A": 0, "X": 30}
    assert res["with_generated"]["X"] >= res["real_only"]["X"]
    # The with-generated arm is the classifier trained (same seed) on the real and generated images, recomputed here.
    from sklearn.metrics import recall_score

    pred = predict(train_classifier(np.concatenate([trx, gen_x]), ["A"] * 40 + ["X"] * 34, classes, epochs=25, seed=0), tx)
    recall = recall_score([classes.index(c) for c in ty], pred, labels=[0, 1], average=None)
    assert [res["with_generated"][c] for c in classes] == pytest.approx(recall.tolist(), abs=1e-12)
    # A class that only the generated images show: trained on real A alone the classifier never
    # answers X; with the 30 generated X added to training it recognises real X.
    only = augmentation_experiment(trx[:40], ["A"] * 40, tx, ty, gen_x, ["X"] * 30, classes, epochs=25)
    assert only["real_only"]["X"] == 0.0 and only["with_generated"]["X"] > 0.8 and only["generated_added"] == {"A": 0, "X": 30}
    with pytest.raises(HeliogenError, match="outside the classes"):
        train_classifier(x[:2], ["A", "Q"], classes, epochs=1)


def test_non_finite_inputs_or_diverged_training_are_errors_not_scores():
    from heliogen.errors import HeliogenError
    from heliogen.evaluate.metrics.classifier import predict, train_classifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 1, 8, 8)).astype(np.float32)
    y = ["A", "B"] * 4
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(HeliogenError, match="NaN"):
        train_classifier(bad, y, ["A", "B"], epochs=1)
    model = train_classifier(x, y, ["A", "B"], epochs=1)
    with pytest.raises(HeliogenError, match="NaN"):
        predict(model, bad)
    # a huge learning rate on huge inputs diverges: one clear error, not argmax of NaN
    with pytest.raises(HeliogenError, match="lower --lr"):
        train_classifier(x * 1e30, y, ["A", "B"], epochs=5, lr=1e30)
