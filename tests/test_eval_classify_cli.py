"""``heliogen evaluate classify``: a flare-class classifier on a small labelled store, end to end."""

import json

import numpy as np
import pytest
from astropy.io import fits

from heliogen.cli import main
from heliogen.data.normalise import Normalisation
from heliogen.data.record import TABLE_COLUMNS
from heliogen.data.store import Store

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the shared 2-core machine: see conftest

SIZE = 16
LOGMAX = 10.0  # the store's log_max constant: model = ln(I) / 10
PATTERN = "AAMMX"  # the class of sample i is PATTERN[i % 5]: every time block mixes classes, X is the minority


def _images(rng, cls, n):
    """Model-space EUV images in [0, 1]: "A" quiet, "M" a compact bright kernel, "X" a broad bright one."""
    y, x = np.mgrid[:SIZE, :SIZE]
    out = 0.3 + 0.03 * rng.normal(size=(n, 1, SIZE, SIZE))
    if cls != "A":
        cx, cy = rng.integers(5, 11, n), rng.integers(5, 11, n)
        width = 1.5 if cls == "M" else 12.0
        out += 0.6 * np.exp(-((x - cx[:, None, None]) ** 2 + (y - cy[:, None, None]) ** 2) / width)[:, None]
    return np.clip(out, 0.01, 1.0)


def _store(path, n=60, labels=True, seed=0):
    rng = np.random.default_rng(seed)
    store = Store.create(path, "euv", SIZE, 1, {}, Normalisation("log_max", {"max": LOGMAX}))
    classes = [PATTERN[i % len(PATTERN)] for i in range(n)]
    model = np.concatenate([_images(rng, c, 1) for c in classes])
    times = np.datetime64("2012-01-01T00:00") + np.arange(n) * np.timedelta64(4, "h")
    fields = [{k: ("" if d == "str" else (-1 if d.startswith("int") else np.nan)) for k, d in TABLE_COLUMNS.items()} for _ in range(n)]
    for f, t in zip(fields, times):
        f["time"], f["source"] = str(t), "synthetic"
    store.ensure_capacity(n)
    store.write_rows(0, (model * LOGMAX).astype(np.float32), fields)
    if labels:
        store.write_column("goes_class", np.array(classes, dtype=object), "str")
    store.commit(n=n)
    return path


def _fits_dir(folder, per_class, seed=1, card="GOESCLS", looks=None):
    """Generated images as ``heliogen sample`` writes them: physical DN/s, class in a header card.

    ``looks`` draws every image as that class's images look, whatever class its header says.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir()
    k = 0
    for cls, n in per_class.items():
        for img in _images(rng, looks or cls, n):
            h = fits.Header({"WAVELNTH": 193, "BUNIT": "DN/s", "CDELT1": 76.8, "CDELT2": 76.8, "CUNIT1": "arcsec",
                             "CUNIT2": "arcsec", "CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "DATE-OBS": "2011-01-01T00:00:00"})
            if card == "GOESCLS":
                h["GOESCLS"] = cls if k % 2 else f"{cls}_{10 ** (-8 + 'ABCMX'.index(cls) + 0.5):.4g}"  # class, class+flux labels
            elif card == "XRSFLUX":
                h["XRSFLUX"] = 10 ** (-8 + "ABCMX".index(cls) + 0.5)
            fits.PrimaryHDU(np.exp(img[0] * LOGMAX).astype(np.float32), h).writeto(folder / f"{cls}_{k:06d}.fits")
            k += 1
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    return {"real": _store(root / "real.zarr"), "unlabelled": _store(root / "bare.zarr", n=10, labels=False),
            "fake": _fits_dir(root / "gen", {"A": 8, "M": 8, "X": 12}),
            "flux": _fits_dir(root / "genflux", {"A": 3, "X": 3}, card="XRSFLUX"),
            "xonly": _fits_dir(root / "xonly", {"X": 2}), "x_like_m": _fits_dir(root / "x_like_m", {"X": 40}, looks="M"), "noclass": _fits_dir(root / "noclass", {"A": 3}, card=None),
            "empty": (root / "empty").mkdir() or root / "empty"}


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_classify_cli_json_table_and_consistency(data, tmp_path, capsys):
    from sklearn.metrics import precision_recall_fscore_support, recall_score

    from heliogen.data.splits import split_by_time
    from heliogen.data.store import open_store
    from heliogen.evaluate.commands.classify import evaluate_classifier

    out = tmp_path / "cls.json"
    code, stdout, err = run(["-q", "evaluate", "classify", "--real", str(data["real"]), "--fake", str(data["fake"]),
                             "--classes", "A,M,X", "--augment", "X", "--epochs", "15", "--batch-size", "8", "--out", str(out), "--seed", "3"], capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["schema"] == "heliogen-metrics/1" and doc["type"] == "classifier" and doc["versions"]["torch"]
    assert doc["settings"]["classes"] == ["A", "M", "X"] and doc["settings"]["augment"] == ["X"]
    assert doc["settings"]["seed"] == 3 and doc["settings"]["test_split"] == "test" and doc["classifier"]["arch"] == "cnn"
    assert doc["fake"]["n"] == 28 and doc["fake"]["counts"] == {"A": 8, "M": 8, "X": 12} and len(doc["fake"]["sha256"]) == 64
    m = doc["metrics"]
    assert set(m) == {"real_heldout", "generated", "augmentation"}
    for part in ("real_heldout", "generated"):
        for c in ("A", "M", "X"):
            assert set(m[part][c]) == {"precision", "recall", "f1", "support"}
            assert all(0 <= m[part][c][k] <= 1 for k in ("precision", "recall", "f1"))
    assert [m["generated"][c]["support"] for c in "AMX"] == [8, 8, 12]
    # The held-out set is the store's time-block test split, its classes from the labels.
    store = open_store(data["real"])
    test_idx = split_by_time(store.times())["test"]
    labels = store.column("goes_class")
    p = doc["predictions"]
    assert p["classes"] == ["A", "M", "X"] and p["real_heldout"]["index"] == test_idx.tolist()
    assert [p["classes"][i] for i in p["real_heldout"]["true"]] == list(labels[test_idx])
    assert doc["real"]["n_train"] + doc["real"]["n_heldout"] + len(split_by_time(store.times())["val"]) == 60
    # Every reported number follows from the saved predictions (sklearn, independently).
    for part in ("real_heldout", "generated"):
        t, pr = np.array(p[part]["true"]), np.array(p[part]["pred"])
        prec, rec, f1, sup = precision_recall_fscore_support(t, pr, labels=[0, 1, 2], zero_division=0)
        for i, c in enumerate("AMX"):
            assert m[part][c]["precision"] == pytest.approx(prec[i]) and m[part][c]["recall"] == pytest.approx(rec[i])
            assert m[part][c]["f1"] == pytest.approx(f1[i]) and m[part][c]["support"] == sup[i]
        assert m[part]["accuracy"] == pytest.approx((t == pr).mean())
        assert m[part]["macro_f1"] == pytest.approx(f1[sup > 0].mean())
    a = m["augmentation"]
    assert a["generated_added"] == {"A": 0, "M": 0, "X": 12}
    assert a["real_only"] == {c: m["real_heldout"][c]["recall"] for c in "AMX"}
    assert a["delta"]["X"] == pytest.approx(a["with_generated"]["X"] - a["real_only"]["X"])
    # The classes are separable: the real-trained classifier recognises generated M and X kernels.
    assert m["generated"]["accuracy"] > 0.6
    # The compact table: one row per class, and the file named.
    rows = [line for line in stdout.splitlines() if line[:1] in "AMX" and "|" in line]
    assert [r.split()[0] for r in rows] == ["A", "M", "X"] and f"wrote {out}" in stdout
    assert f"{m['generated']['X']['f1']:.3f}" in rows[2]

    # The Python API with the same seed gives the same predictions (training is seeded), and
    # the with-generated accuracies follow from retraining with the 12 generated X images added.
    api = evaluate_classifier(data["real"], data["fake"], classes="A,M,X", augment="X", epochs=15, batch_size=8, seed=3)
    assert api["predictions"]["generated"]["pred"].tolist() == p["generated"]["pred"]
    assert api["metrics"]["augmentation"]["with_generated"] == a["with_generated"]
    from heliogen.evaluate.metrics.classifier import predict, train_classifier
    from heliogen.evaluate.io import load_images

    norm = store.normalisation
    split = split_by_time(store.times())
    tr = split["train"]
    gen = load_images(data["fake"], normalisation=norm, kind="euv")
    gx = gen.images[[n.startswith("X_") for n in gen.names]]
    x = np.concatenate([norm.forward(store.images(tr)).astype(np.float32), gx])
    y = list(labels[tr]) + ["X"] * len(gx)
    model = train_classifier(x, y, ["A", "M", "X"], epochs=15, batch_size=8, seed=3)
    tx = norm.forward(store.images(test_idx)).astype(np.float32)
    acc = recall_score(p["real_heldout"]["true"], predict(model, tx), labels=[0, 1, 2], average=None, zero_division=0)
    assert [a["with_generated"][c] for c in "AMX"] == pytest.approx(acc.tolist())


def test_classify_augmentation_trains_on_the_generated_images(data, tmp_path, capsys):
    """40 generated images labelled X that look like M: trained on them too, the classifier calls real M images X.

    The real-only arm is the run above's (same store, seed and settings); only the with-generated arm can change.
    """
    out = tmp_path / "mislabelled.json"
    code, _, err = run(["-q", "evaluate", "classify", "--real", str(data["real"]), "--fake", str(data["x_like_m"]), "--classes", "A,M,X",
                        "--augment", "X", "--epochs", "15", "--batch-size", "8", "--out", str(out), "--seed", "3"], capsys)
    assert code == 0, err
    a = json.loads(out.read_text())["metrics"]["augmentation"]
    assert a["generated_added"] == {"A": 0, "M": 0, "X": 40} and a["support"]["M"] >= 2
    assert a["real_only"] == {"A": 1.0, "M": 1.0, "X": 1.0}
    assert a["with_generated"]["M"] <= 0.5 and a["delta"]["M"] <= -0.5


def test_classify_default_classes_flux_headers_and_val_split(data, tmp_path, capsys):
    out = tmp_path / "c.json"
    code, stdout, err = run(["-q", "evaluate", "classify", "--real", str(data["real"]), "--fake", str(data["flux"]),
                             "--epochs", "2", "--test-split", "val", "--out", str(out)], capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["settings"]["classes"] == ["A", "M", "X"]  # those in the real training split
    assert set(doc["metrics"]["generated"]) == {"A", "X", "accuracy", "macro_f1"}  # classes from XRSFLUX
    assert doc["fake"]["class_source"].startswith("FITS header") and "augmentation" not in doc["metrics"]
    assert doc["settings"]["test_split"] == "val" and "-     -     -     0" in stdout  # no generated M


def test_classify_deit_without_timm_is_one_clear_line(data, tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("timm") is not None:
        pytest.skip("timm is installed; see test_classify_deit_with_timm")
    code, out, err = run(["evaluate", "classify", "--real", str(data["real"]), "--fake", str(data["fake"]), "--arch", "deit",
                          "--out", str(tmp_path / "x.json")], capsys)
    assert code == 2 and err.count("\n") == 1 and "timm, which is not installed" in err
    assert not (tmp_path / "x.json").exists()


def test_classify_deit_with_timm(data, tmp_path):
    pytest.importorskip("timm")
    from heliogen.evaluate.commands.classify import evaluate_classifier

    doc = evaluate_classifier(data["real"], data["fake"], classes="A,M,X", arch="deit", epochs=1, out=tmp_path / "d.json")
    assert doc["classifier"]["arch"] == "deit" and doc["classifier"]["parameters"] > 1e6
    assert json.loads((tmp_path / "d.json").read_text())["metrics"]["generated"]["X"]["support"] == 12


@pytest.mark.parametrize(
    "real, fake, extra, fragment",
    [
        ("unlabelled", "fake", [], "has no flare labels; run `heliogen data labels`"),
        ("fake", "fake", [], "must be a heliogen store with flare labels"),
        ("real", "fake", ["--classes", "A,Q"], "unknown flare class 'Q' in --classes"),
        ("real", "fake", ["--classes", "A,C"], "no real training images of class C"),
        ("real", "fake", ["--classes", "A"], "at least two classes"),
        ("real", "fake", ["--classes", "A,M", "--augment", "X"], "--augment class X is not one of the classes A,M"),
        ("real", "flux", ["--augment", "M"], "no generated images of class M"),
        ("real", "xonly", ["--classes", "A,M"], "no generated images of the classes A,M"),
        ("real", "noclass", [], "carry no flare class"),
        ("real", "empty", [], "no FITS files"),
    ],
)
def test_classify_bad_inputs_exit_2_with_one_line(data, tmp_path, capsys, real, fake, extra, fragment):
    out = tmp_path / "x.json"
    code, _, err = run(["evaluate", "classify", "--real", str(data[real]), "--fake", str(data[fake]), "--epochs", "1",
                        "--out", str(out), *extra], capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("heliogen: error: ") and fragment in err, err
    assert not out.exists()
