import numpy as np
import pandas as pd
import pytest
import torch

from heliogen.data.build import build_store
from heliogen.data.dataset import StoreDataset
from heliogen.data.labels import attach_labels
from heliogen.data.splits import split_by_time
from heliogen.data.store import open_store
from heliogen.errors import HeliogenError


def _times(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.Timestamp("2012-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 365, n)), unit="D")


def test_time_block_split_partitions_without_leakage():
    t = _times()
    s = split_by_time(t, (0.7, 0.15, 0.15), n_blocks=20, seed=1)
    allidx = np.concatenate(list(s.values()))
    assert sorted(allidx) == list(range(len(t)))  # a partition
    assert all(len(v) > 0 for v in s.values())
    # contiguous blocks: between consecutive times of different splits there is a block edge,
    # so the number of split changes along time is at most n_blocks - 1
    which = np.empty(len(t), dtype=int)
    for k, v in enumerate(s.values()):
        which[v] = k
    changes = (np.diff(which[np.argsort(t.values)]) != 0).sum()
    assert changes <= 19
    frac = len(s["train"]) / len(t)
    assert 0.55 < frac < 0.85


def test_split_is_deterministic_and_gap_removes_neighbours():
    t = _times()
    a = split_by_time(t, seed=3)
    b = split_by_time(t, seed=3)
    assert all((a[k] == b[k]).all() for k in a)
    g = split_by_time(t, seed=3, gap_days=2.0)
    ts = t.values.astype("datetime64[s]").astype(float) / 86400
    for k1 in g:
        for k2 in g:
            if k1 < k2 and len(g[k1]) and len(g[k2]):
                d = np.abs(ts[g[k1]][:, None] - ts[g[k2]][None, :]).min()
                assert d >= 2.0


def test_bad_fractions():
    with pytest.raises(HeliogenError):
        split_by_time(_times(10), (0.5, 0.5, 0.5))


@pytest.fixture(scope="module")
def labelled_store(tmp_path_factory):
    from heliogen.data.synth import write_synth

    d = tmp_path_factory.mktemp("labelled")
    write_synth("euv", 24, 64, 2, d / "euv")
    write_synth("goes", 24, 0, 2, d / "goes")
    build_store(d / "euv", d / "s.zarr", "euv", 32, progress=False)
    counts = attach_labels(d / "s.zarr", [d / "goes" / "goes_xrs_synthetic.csv"], d / "goes" / "flarelist_synthetic.csv")
    return d / "s.zarr", counts


def test_labels_attached(labelled_store):
    path, counts = labelled_store
    store = open_store(path)
    table = store.table()
    assert counts["unlabelled"] == 0 and sum(counts.values()) == 24
    assert set(table["goes_class"]) <= set("ABCMX")
    np.testing.assert_allclose(table["log10_flux"], np.log10(table["goes_flux"]))
    assert store.attrs["labels"]["window_minutes"] == 60.0


def test_dataset_items(labelled_store):
    path, _ = labelled_store
    ds = StoreDataset(path, labels=True, hflip=False)
    item = ds[3]
    assert item["image"].shape == (1, 32, 32) and item["image"].dtype == torch.float32
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert 0 <= item["class_index"] <= 4
    store = open_store(path)
    np.testing.assert_allclose(item["image"].numpy(), store.images(slice(3, 4))[0] / store.normalisation.params["max"], rtol=1e-6)
    train = StoreDataset(path, split="train", split_kwargs={"n_blocks": 6, "seed": 0})
    test = StoreDataset(path, split="test", split_kwargs={"n_blocks": 6, "seed": 0})
    assert len(set(train.indices) & set(test.indices)) == 0 and len(train) > len(test) > 0
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 1, 32, 32)


def test_dataset_refuses_missing_labels(synth_euv_dir, tmp_path):
    build_store(synth_euv_dir, tmp_path / "s.zarr", "euv", 32, progress=False)
    with pytest.raises(HeliogenError, match="no flare labels"):
        StoreDataset(tmp_path / "s.zarr", labels=True)
    with pytest.raises(HeliogenError, match="no low-resolution pairs"):
        StoreDataset(tmp_path / "s.zarr", lowres=True)


def _flips(ds, num_workers):
    plain = StoreDataset(ds.store)
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=num_workers)
    out = {}
    for item in loader:
        j = int(item["index"][0])
        image, reference = item["image"][0], plain[ds.indices.tolist().index(j)]["image"]
        out[j] = bool(torch.equal(image, reference.flip(-1))) and not torch.equal(image, reference)
    return out


def test_flips_do_not_depend_on_the_worker_count(labelled_store):
    """A flip is a function of (seed, epoch, row): DataLoader workers must not repeat each other's."""
    path, _ = labelled_store
    ds = StoreDataset(path, hflip=True, seed=3)
    serial, parallel = _flips(ds, 0), _flips(ds, 2)
    assert 0 < sum(serial.values()) < len(serial)  # some flipped, some not
    assert serial == parallel
    assert serial == {j: ds.flipped(j) for j in serial}
    ds.set_epoch(1)
    assert _flips(ds, 2) != serial  # a new epoch draws new flips
    assert {j: StoreDataset(path, hflip=True, seed=3).flipped(j) for j in serial} == serial  # repeatable
