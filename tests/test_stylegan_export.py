"""``heliogen data export --format stylegan-zip``: the zip read back exactly as NVlabs' loader reads it.

The reader below follows stylegan3's ``training/dataset.py`` (``ImageFolderDataset``): image
members are the zip names with a PIL image extension, sorted; each is ``np.array(PIL.Image.open)``,
HW becomes HWC and then CHW; ``dataset.json``'s labels become a dict looked up per image name and
an int64 array. Expected pixels are computed here from the stored values by nearest 8-bit level.
"""

import json
import os
import zipfile

import numpy as np
import PIL.Image
import pytest

from heliogen.cli import main
from heliogen.data.normalise import Normalisation
from heliogen.data.record import TABLE_COLUMNS
from heliogen.data.splits import split_by_time
from heliogen.data.store import Store
from heliogen.data.stylegan_zip import check_stylegan_shape, export_stylegan_zip, from_uint8
from heliogen.errors import HeliogenError

SIZE = 16
LOGMAX = 9.0  # the EUV store's max ln(DN/s)
CLASSES = "ABCMXCAB"  # GOES class of sample i, for an 8-image store


def _fields(n, hours=6):
    times = np.datetime64("2013-05-01T00:00") + np.arange(n) * np.timedelta64(hours, "h")
    rows = [{k: ("" if d == "str" else (-1 if d.startswith("int") else np.nan)) for k, d in TABLE_COLUMNS.items()} for _ in range(n)]
    for row, t in zip(rows, times):
        row["time"], row["source"] = str(t), "synthetic"
    return rows


def _store(path, stored, normalisation, kind="euv", classes=None):
    """A store holding exactly ``stored`` (N, C, S, S) float32, and optional goes_class labels."""
    n, c, s, _ = stored.shape
    store = Store.create(path, kind, s, c, {}, normalisation)
    store.ensure_capacity(n)
    store.write_rows(0, stored.astype(np.float32), _fields(n))
    if classes is not None:
        store.write_column("goes_class", np.array(list(classes), dtype=object), "str")
    store.commit(n=n)
    return path


def _euv_values(n=8, seed=0):
    """ln(DN/s) in [0, LOGMAX], with hand-placed pixels of known 8-bit level in image 0."""
    v = np.random.default_rng(seed).uniform(0.0, LOGMAX, size=(n, 1, SIZE, SIZE))
    v[0, 0, 0, :4] = [0.0, LOGMAX, LOGMAX * 100 / 255, LOGMAX * 0.5]  # levels 0, 255, 100, 128 (127.5 rounds up)
    return v.astype(np.float32)


def nvlabs_read(path):
    """Images (N, C, H, W) uint8, their member names, and labels (or None), as stylegan3 reads a zip."""
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        PIL.Image.init()
        image_names = sorted(f for f in names if os.path.splitext(f)[1].lower() in PIL.Image.EXTENSION)
        images = []
        for f in image_names:
            with zf.open(f, "r") as fh:
                image = np.array(PIL.Image.open(fh))
            image = image[:, :, np.newaxis] if image.ndim == 2 else image
            images.append(image.transpose(2, 0, 1))
        labels = None
        if "dataset.json" in names:
            with zf.open("dataset.json", "r") as fh:
                raw = json.load(fh)["labels"]
            if raw is not None:
                raw = dict(raw)
                labels = np.array([raw[f.replace("\\", "/")] for f in image_names])
                labels = labels.astype({1: np.int64, 2: np.float32}[labels.ndim])
        meta = json.loads(zf.read("heliogen.json")) if "heliogen.json" in names else None
    images = np.stack(images)
    # what their Dataset then asserts
    assert images.dtype == np.uint8 and images.shape[2] == images.shape[3]
    assert images.shape[2] == 2 ** round(np.log2(images.shape[2]))
    return images, image_names, labels, meta


def nearest_level(unit):
    """The nearest of the 256 levels k/255 to each value in [0, 1] (clipped first); an exact
    half-way value goes to the upper level (argmin over the levels from 255 down)."""
    unit = np.clip(unit, 0.0, 1.0)
    return (255 - np.abs(unit[..., None] - np.arange(255, -1, -1) / 255.0).argmin(axis=-1)).astype(np.uint8)


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_euv_pixels_labels_and_inverse_as_nvlabs_reads_them(tmp_path, capsys):
    stored = _euv_values()
    store = _store(tmp_path / "euv.zarr", stored, Normalisation("log_max", {"max": LOGMAX}), classes=CLASSES)
    code, out, err = run(["data", "export", str(store), "--format", "stylegan-zip", "--out", str(tmp_path / "d.zip"), "--no-progress"], capsys)
    assert code == 0, err
    assert "wrote 8 euv images (1x16x16, split all, GOES classes A=0 B=1 C=2 M=3 X=4)" in out
    images, names, labels, meta = nvlabs_read(tmp_path / "d.zip")
    assert names == [f"00000/img{k:08d}.png" for k in range(8)]
    # EUV model space is ln I / max in [0, 1]; PNG row 0 is the store's last row
    expected = nearest_level(stored.astype(np.float64) / LOGMAX)[:, :, ::-1, :]
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(images[0, 0, -1, :4], [0, 255, 100, 128])
    np.testing.assert_array_equal(labels, ["ABCMX".index(c) for c in CLASSES])
    with zipfile.ZipFile(tmp_path / "d.zip") as zf:
        assert PIL.Image.open(zf.open(names[0])).mode == "L"
    # invert with heliogen.json's constants alone: m = lo + (hi - lo) q / 255, stored = m * max
    lo, hi = meta["model_range"]
    assert (lo, hi) == (0.0, 1.0) and meta["normalisation"] == {"kind": "log_max", "params": {"max": LOGMAX}}
    back = (lo + (hi - lo) * images[:, :, ::-1, :].astype(np.float64) / 255.0) * meta["normalisation"]["params"]["max"]
    step = LOGMAX / 255.0
    assert meta["quantisation_step"]["stored"] == pytest.approx(step)
    assert np.abs(back - stored).max() <= 0.5 * step + 1e-6
    np.testing.assert_allclose(from_uint8(images[:, :, ::-1, :], Normalisation.from_dict(meta["normalisation"])), back)
    assert [m["store_index"] for m in meta["members"]] == list(range(8)) and meta["labels"]["classes"] == list("ABCMX")


def test_magnetogram_nan_and_clip_and_granulation_minmax(tmp_path):
    b = np.random.default_rng(1).uniform(-3000, 3000, size=(3, 1, SIZE, SIZE))
    b[0, 0, 0, :6] = [0.0, 3000.0, -3000.0, np.nan, 1500.0, -1500.0]  # hand levels 128, 255, 0, 128, 191, 64
    _store(tmp_path / "m.zarr", b, Normalisation("linear", {"scale": 3000.0}), kind="magnetogram")
    export_stylegan_zip(tmp_path / "m.zarr", tmp_path / "m.zip", progress=False)
    images, _, labels, meta = nvlabs_read(tmp_path / "m.zip")
    assert labels is None and meta["labels"] is None
    np.testing.assert_array_equal(images[0, 0, -1, :6], [128, 255, 0, 128, 191, 64])
    expected = nearest_level((np.nan_to_num(b.astype(np.float32).astype(np.float64)) / 3000.0 + 1.0) / 2.0)
    np.testing.assert_array_equal(images, expected[:, :, ::-1, :])
    finite = np.isfinite(b)
    back = (-1.0 + 2.0 * images[:, :, ::-1, :] / 255.0) * meta["normalisation"]["params"]["scale"]
    assert np.abs(back - b)[finite].max() <= 0.5 * 6000.0 / 255.0 + 1e-3
    # granulation: min/max of I/<I> to [-1, 1]
    g = np.random.default_rng(2).uniform(0.6, 1.5, size=(2, 1, SIZE, SIZE)).astype(np.float32)
    _store(tmp_path / "g.zarr", g, Normalisation("minmax", {"lo": 0.6, "hi": 1.5}), kind="granulation")
    export_stylegan_zip(tmp_path / "g.zarr", tmp_path / "g.zip", progress=False)
    images, _, _, meta = nvlabs_read(tmp_path / "g.zip")
    np.testing.assert_array_equal(images, nearest_level((g.astype(np.float64) - 0.6) / 0.9)[:, :, ::-1, :])
    p = meta["normalisation"]["params"]
    back = p["lo"] + (p["hi"] - p["lo"]) * images[:, :, ::-1, :] / 255.0
    assert np.abs(back - g).max() <= 0.5 * 0.9 / 255.0 + 1e-6


def test_three_channels_are_rgb(tmp_path):
    stored = np.random.default_rng(3).uniform(0, LOGMAX, size=(2, 3, 8, 8)).astype(np.float32)
    _store(tmp_path / "rgb.zarr", stored, Normalisation("log_max", {"max": LOGMAX}))
    export_stylegan_zip(tmp_path / "rgb.zarr", tmp_path / "rgb.zip", progress=False)
    images, names, _, _ = nvlabs_read(tmp_path / "rgb.zip")
    with zipfile.ZipFile(tmp_path / "rgb.zip") as zf:
        assert PIL.Image.open(zf.open(names[1])).mode == "RGB"
    np.testing.assert_array_equal(images, nearest_level(stored.astype(np.float64) / LOGMAX)[:, :, ::-1, :])


def test_splits_partition_the_store_and_follow_the_time_blocks(tmp_path):
    n = 40
    stored = np.random.default_rng(4).uniform(0, LOGMAX, size=(n, 1, 8, 8)).astype(np.float32)
    store = _store(tmp_path / "s.zarr", stored, Normalisation("log_max", {"max": LOGMAX}))
    times = np.datetime64("2013-05-01T00:00") + np.arange(n) * np.timedelta64(6, "h")
    want = split_by_time([str(t) for t in times])
    seen = []
    for split in ("train", "val", "test"):
        out = tmp_path / f"{split}.zip"
        assert export_stylegan_zip(store, out, split=split, progress=False)["n"] == len(want[split])
        images, _, _, meta = nvlabs_read(out)
        rows = [m["store_index"] for m in meta["members"]]
        assert rows == list(want[split]) and meta["split"] == split
        np.testing.assert_array_equal(images, nearest_level(stored[rows].astype(np.float64) / LOGMAX)[:, :, ::-1, :])
        seen += rows
    assert sorted(seen) == list(range(n))


def test_same_store_same_bytes_and_overwrite(tmp_path):
    store = _store(tmp_path / "e.zarr", _euv_values(4), Normalisation("log_max", {"max": LOGMAX}), classes="ABCM")
    export_stylegan_zip(store, tmp_path / "a.zip", progress=False)
    export_stylegan_zip(store, tmp_path / "b.zip", progress=False)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with pytest.raises(HeliogenError, match="exists; pass --overwrite"):
        export_stylegan_zip(store, tmp_path / "a.zip", progress=False)
    export_stylegan_zip(store, tmp_path / "a.zip", labels=False, overwrite=True, progress=False)
    assert nvlabs_read(tmp_path / "a.zip")[2] is None
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".zip") == ["a.zip", "b.zip"]  # no temp files left


def test_unlabelled_images_need_no_labels(tmp_path):
    store = _store(tmp_path / "u.zarr", _euv_values(4), Normalisation("log_max", {"max": LOGMAX}), classes=["A", "", "C", ""])
    with pytest.raises(HeliogenError, match="2 of 4 images to export have no GOES class"):
        export_stylegan_zip(store, tmp_path / "u.zip", progress=False)
    assert not (tmp_path / "u.zip").exists()
    export_stylegan_zip(store, tmp_path / "u.zip", labels=False, progress=False)
    with zipfile.ZipFile(tmp_path / "u.zip") as zf:
        assert json.loads(zf.read("dataset.json")) == {"labels": None}


@pytest.mark.parametrize("shape, fragment", [
    ((1, 16, 32), "square images, and these are 16x32"),
    ((1, 24, 24), "power-of-two image side"),
    ((1, 2, 2), "power-of-two image side"),
    ((2, 16, 16), "1 (grey) or 3 (RGB) channels"),
])
def test_shapes_stylegan_cannot_train_on(shape, fragment):
    with pytest.raises(HeliogenError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        check_stylegan_shape(*shape)
    for ok in ((1, 4, 4), (3, 1024, 1024), (1, 64, 64)):
        check_stylegan_shape(*ok)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("stylegan_cli")
    norm = Normalisation("log_max", {"max": LOGMAX})
    odd = np.random.default_rng(5).uniform(0, LOGMAX, size=(2, 1, 24, 24))
    (root / "taken.zip").write_bytes(b"not ours")
    untimed = Store(_store(root / "untimed.zarr", _euv_values(2), norm), mode="r+")
    untimed.write_column("time", np.array(["", ""], dtype=object), "str")  # images without an observation time
    return {"good": _store(root / "good.zarr", _euv_values(2), norm), "odd": _store(root / "odd.zarr", odd, norm),
            "untimed": untimed.path, "root": root}


@pytest.mark.parametrize("case, fragment", [
    ("missing", "does not exist"),
    ("format", "Invalid value for '--format': 'png' is not 'stylegan-zip'"),
    ("odd", "StyleGAN needs a power-of-two image side"),
    ("taken", "taken.zip exists; pass --overwrite to replace it"),
    ("suffix", "--out must end in .zip"),
    ("split", "--split train needs an observation time per image"),
])
def test_cli_errors_are_one_line_and_exit_2(case, fragment, stores, capsys, tmp_path):
    good, root = str(stores["good"]), stores["root"]
    argv = {
        "missing": ["data", "export", str(root / "nope.zarr"), "--out", str(tmp_path / "x.zip")],
        "format": ["data", "export", good, "--format", "png", "--out", str(tmp_path / "x.zip")],
        "odd": ["data", "export", str(stores["odd"]), "--out", str(tmp_path / "x.zip")],
        "taken": ["data", "export", good, "--out", str(root / "taken.zip")],
        "suffix": ["data", "export", good, "--out", str(tmp_path / "x.tar")],
        "split": ["data", "export", str(stores["untimed"]), "--split", "train", "--out", str(tmp_path / "x.zip")],
    }[case]
    code, _, err = run(argv, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("heliogen: error:"), err
    assert fragment in lines[0] and "Traceback" not in err
    assert not (tmp_path / "x.zip").exists() and (root / "taken.zip").read_bytes() == b"not ours"
