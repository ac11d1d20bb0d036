"""Rows encoded by build workers and moved into a store: the bytes, stale chunks, other layouts."""

from pathlib import Path

import numpy as np
import pytest

from heliogen.data.kinds import default_normalisation
from heliogen.data.record import TABLE_COLUMNS, Record
from heliogen.data.staging import adopt_rows, array_metadata, stage_rows
from heliogen.data.store import Store, open_store


def _fields(k, start=0):
    base = {name: ("" if dtype == "str" else (-1 if dtype.startswith("int") else np.nan)) for name, dtype in TABLE_COLUMNS.items()}
    return [dict(base, source=f"f{start + i}") for i in range(k)]


def _store(path, size=8, lowres=None):
    return Store.create(path, "euv", size, channels=1, config={"kind": "euv"}, normalisation=default_normalisation("euv"), lowres_size=lowres)


def test_staged_rows_read_back_as_written_and_are_the_stores_own_bytes(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((3, 1, 8, 8), dtype=np.float32)
    lowres = images[:, :, ::2, ::2].copy()
    store = _store(tmp_path / "s.zarr", lowres=4)
    store.ensure_capacity(5)
    staging = tmp_path / "staging"
    staging.mkdir()
    staged = stage_rows(staging, array_metadata(store.path), [Record(im, f, lo) for im, f, lo in zip(images, _fields(3), lowres)])
    assert staged.k == 3 and staged.lo == images.min() and staged.hi == images.max()
    store.write_fields(2, staged.fields)
    adopt_rows(store.group, store.path, 2, staged)
    store.commit(n=5)
    assert not any(staging.iterdir())  # the staging folder of the file is gone
    again = open_store(store.path)
    np.testing.assert_array_equal(again.images()[2:], images)
    np.testing.assert_array_equal(again.lowres()[2:], lowres)
    assert list(again.column("source")[2:]) == ["f0", "f1", "f2"]
    # the same rows written through zarr give identical chunk files
    reference = _store(tmp_path / "r.zarr", lowres=4)
    reference.ensure_capacity(5)
    reference.write_rows(2, images, _fields(3), lowres)
    for row in (2, 3, 4):
        for name in ("images", "lowres"):
            key = f"{name}/c/{row}/0/0/0"
            assert (store.path / key).read_bytes() == (reference.path / key).read_bytes()


def test_an_all_fill_row_replaces_a_stale_chunk_of_a_killed_build(tmp_path):
    store = _store(tmp_path / "s.zarr")
    store.ensure_capacity(1)
    store.write_rows(0, np.full((1, 1, 8, 8), 7.0, np.float32), _fields(1))  # written, never committed
    assert (store.path / "images/c/0/0/0/0").exists()
    staging = tmp_path / "staging"
    staging.mkdir()
    staged = stage_rows(staging, array_metadata(store.path), [Record(np.zeros((1, 8, 8), np.float32), _fields(1)[0])])
    adopt_rows(store.group, store.path, 0, staged)
    store.commit(n=1)
    np.testing.assert_array_equal(open_store(store.path).images(), 0.0)


@pytest.mark.parametrize("layout", [dict(chunks=(2, 1, 8, 8)),  # two rows a chunk
                                    dict(chunks=(1, 1, 8, 8), chunk_key_encoding={"name": "default", "separator": "."})])
def test_a_store_with_another_chunk_layout_is_written_through_zarr(tmp_path, layout):
    import zarr

    store = _store(tmp_path / "s.zarr")
    del store.group["images"]
    store.group.create_array("images", shape=(4, 1, 8, 8), dtype="float32", fill_value=0.0, **layout)
    images = np.arange(2 * 64, dtype=np.float32).reshape(2, 1, 8, 8) + 1
    staging = tmp_path / "staging"
    staging.mkdir()
    staged = stage_rows(staging, array_metadata(store.path), [Record(im, f) for im, f in zip(images, _fields(2))])
    adopt_rows(store.group, store.path, 1, staged)
    np.testing.assert_array_equal(zarr.open_array(str(store.path / "images"))[1:3], images)


def test_a_file_without_rows_stages_nothing(tmp_path):
    store = _store(tmp_path / "s.zarr")
    staged = stage_rows(tmp_path, array_metadata(store.path), [])
    assert staged.k == 0 and staged.fields == []
    adopt_rows(store.group, store.path, 0, staged)  # nothing to move, nothing removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]


def test_adopting_twice_after_an_interruption_keeps_every_row(tmp_path):
    images = np.stack([np.full((1, 8, 8), v, np.float32) for v in (3.0, 0.0, 5.0)])  # the middle row is all fill
    store = _store(tmp_path / "s.zarr")
    store.ensure_capacity(3)
    store.write_rows(0, np.full((3, 1, 8, 8), 7.0, np.float32), _fields(3))  # a killed build's stale rows
    staging = tmp_path / "staging"
    staging.mkdir()
    staged = stage_rows(staging, array_metadata(store.path), [Record(im, f) for im, f in zip(images, _fields(3))])
    assert staged.written == {"images": [0, 2]}
    first = store.path / "images" / "c" / "0" / "0" / "0" / "0"
    (staging / Path(staged.folder).name / "images" / "c" / "0" / "0" / "0" / "0").replace(first)  # cut short after one move
    adopt_rows(store.group, store.path, 0, staged)
    adopt_rows(store.group, store.path, 0, staged)  # a flush run again
    store.commit(n=3)
    np.testing.assert_array_equal(open_store(store.path).images(), images)


def test_staged_rows_that_vanished_stop_the_build_instead_of_committing_blanks(tmp_path):
    import shutil

    from heliogen.errors import HeliogenError

    store = _store(tmp_path / "s.zarr")
    store.ensure_capacity(1)
    staging = tmp_path / "staging"
    staging.mkdir()
    staged = stage_rows(staging, array_metadata(store.path), [Record(np.ones((1, 8, 8), np.float32), _fields(1)[0])])
    shutil.rmtree(staged.folder)
    with pytest.raises(HeliogenError, match="staged rows .* are gone"):
        adopt_rows(store.group, store.path, 0, staged)
