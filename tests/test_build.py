"""Store building: every bad-input kind, interrupted builds, normalisation round trips."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from heliogen.data.build import build_store
from heliogen.data.euv import DEFAULT_FOV
from heliogen.data.fitsio import read_map
from heliogen.data.store import open_store
from heliogen.errors import HeliogenError

from conftest import make_bad_inputs


def test_every_bad_input_is_skipped_with_its_reason(synth_euv_dir, tmp_path, copy_files):
    inputs = tmp_path / "in"
    good = copy_files(sorted(synth_euv_dir.glob("*.fits"))[:3], inputs)
    expected = make_bad_inputs(good[0], inputs)
    report = build_store(inputs, tmp_path / "s.zarr", "euv", 32, wavelength=193, progress=False)
    assert report.total_samples == 3 and report.added_files == 3
    assert {Path(k).name for k in report.skipped} == set(expected)
    for src, reason in report.skipped.items():
        assert expected[Path(src).name] in reason, (src, reason)
    store = open_store(tmp_path / "s.zarr")
    assert sorted(Path(s).name for s in store.column("source")) == sorted(p.name for p in good)
    assert {Path(k).name for k in store.attrs["skipped"]} == set(expected)
    assert "skipped 1 x truncated FITS file" in report.summary()


def test_normalisation_round_trip_against_independent_preprocessing(synth_euv_dir, tmp_path):
    files = sorted(synth_euv_dir.glob("*.fits"))
    build_store(files, tmp_path / "s.zarr", "euv", 32, progress=False)
    store = open_store(tmp_path / "s.zarr")
    norm = store.normalisation
    stored = store.images().astype(np.float64)
    assert norm.params["max"] == pytest.approx(stored.max())  # the dataset maximum
    model = norm.forward(stored)
    assert model.min() >= 0 and model.max() == pytest.approx(1.0)
    np.testing.assert_allclose(norm.inverse(model), stored, rtol=1e-12)
    # physical values equal an independent computation: scikit-image's block mean of DN/s,
    # clipped at 1 (the synthetic 128 px AIA frames are disk-centred at AIA's field of view)
    from skimage.transform import downscale_local_mean

    m = read_map(files[2])
    assert m.scale.axis1.value * 128 == pytest.approx(DEFAULT_FOV)
    dn_s = np.nan_to_num(m.data.astype(np.float64)) / m.exposure_time.to_value("s")
    expected = np.clip(downscale_local_mean(dn_s, (4, 4)), 1, None)
    np.testing.assert_allclose(norm.physical(model[2, 0]), expected, rtol=1e-5)


def test_workers_give_the_same_store(synth_euv_dir, tmp_path):
    build_store(synth_euv_dir, tmp_path / "a.zarr", "euv", 32, workers=1, progress=False)
    build_store(synth_euv_dir, tmp_path / "b.zarr", "euv", 32, workers=2, progress=False)
    a, b = open_store(tmp_path / "a.zarr"), open_store(tmp_path / "b.zarr")
    np.testing.assert_array_equal(a.images(), b.images())
    assert a.table().equals(b.table())


_SLOW_BUILD = """
import sys, time
import heliogen.data.build as b
orig = b._process
def slow(args):
    time.sleep(0.4)
    return orig(args)
b._process = slow
b.build_store(sys.argv[1], sys.argv[2], "magnetogram", None, crop=32, crop_mode="random", n_random=2, pairs=4, seed=3, progress=False)
"""


def test_killed_build_resumes_to_the_same_store(tmp_path):
    from heliogen.data.synth import write_synth

    inputs = tmp_path / "in"
    write_synth("magnetogram", 10, 128, 1, inputs)
    killed = tmp_path / "killed.zarr"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_BUILD, str(inputs), str(killed)], env=dict(os.environ))
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # wait until some, but not all, files are committed
            time.sleep(0.1)
            try:
                n = open_store(killed).n
            except HeliogenError:
                continue
            if 4 <= n < 20:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    partial = open_store(killed)
    assert 4 <= partial.n < 20 and partial.n % 2 == 0  # whole files only: two crops each
    before = partial.images()
    report = build_store(inputs, killed, "magnetogram", None, crop=32, crop_mode="random", n_random=2, pairs=4, seed=3, progress=False)
    assert report.already_done == len(before) // 2 and report.total_samples == 20
    clean = tmp_path / "clean.zarr"
    build_store(inputs, clean, "magnetogram", None, crop=32, crop_mode="random", n_random=2, pairs=4, seed=3, progress=False)
    a, b = open_store(killed), open_store(clean)
    np.testing.assert_array_equal(a.images(), b.images())
    np.testing.assert_array_equal(a.lowres(), b.lowres())
    assert a.table().equals(b.table())
    np.testing.assert_array_equal(a.images(slice(0, len(before))), before)  # nothing done was lost


def test_resume_with_other_options_is_refused(synth_euv_dir, tmp_path):
    build_store(synth_euv_dir, tmp_path / "s.zarr", "euv", 32, progress=False)
    with pytest.raises(HeliogenError, match="built with other options"):
        build_store(synth_euv_dir, tmp_path / "s.zarr", "euv", 64, progress=False)


def test_rerun_adds_only_new_files(synth_euv_dir, tmp_path, copy_files):
    files = sorted(synth_euv_dir.glob("*.fits"))
    inputs = tmp_path / "in"
    copy_files(files[:4], inputs)
    build_store(inputs, tmp_path / "s.zarr", "euv", 32, progress=False)
    copy_files(files[4:], inputs)
    report = build_store(inputs, tmp_path / "s.zarr", "euv", 32, progress=False)
    assert report.already_done == 4 and report.added_files == len(files) - 4
    assert open_store(tmp_path / "s.zarr").n == len(files)


def test_granulation_store_is_ten_fold_and_minmax(tmp_path):
    from heliogen.data.synth import write_synth

    write_synth("granulation", 2, 182, 0, tmp_path / "in")
    build_store(tmp_path / "in", tmp_path / "g.zarr", "granulation", 32, progress=False)
    s = open_store(tmp_path / "g.zarr")
    assert s.n == 20
    x = s.normalisation.forward(s.images().astype(np.float64))
    assert x.min() == pytest.approx(-1.0) and x.max() == pytest.approx(1.0)


def test_no_inputs_and_unknown_kind(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HeliogenError, match="no input files"):
        build_store(tmp_path / "empty", tmp_path / "s.zarr", "euv", 32)
    with pytest.raises(HeliogenError, match="unknown kind"):
        build_store(tmp_path, tmp_path / "s.zarr", "radio", 32)


def test_a_build_that_produced_nothing_leaves_no_store(synth_euv_dir, tmp_path, copy_files):
    """Every input bad: one error line with the reasons, and the new store is gone; an existing
    store that a later all-bad run adds nothing to is kept as it was."""
    good = sorted(synth_euv_dir.glob("*.fits"))
    bad = make_bad_inputs(good[0], tmp_path / "bad")
    out = tmp_path / "none.zarr"
    with pytest.raises(HeliogenError) as err:
        build_store(tmp_path / "bad", out, "euv", 32, wavelength=193, progress=False)
    message = str(err.value)
    assert "\n" not in message and f"{len(bad)} input(s) skipped" in message and message.startswith("no image could be built") and "removed" in message and "truncated" in message
    assert not out.exists()
    kept = tmp_path / "kept.zarr"
    build_store(copy_files(good[:1], tmp_path / "one"), kept, "euv", 32, wavelength=193, progress=False)
    report = build_store(tmp_path / "bad", kept, "euv", 32, wavelength=193, progress=False)
    assert report.total_samples == 1 and open_store(kept).n == 1


def test_rebuilding_as_another_kind_names_the_kind_first(synth_euv_dir, tmp_path):
    out = tmp_path / "s.zarr"
    build_store(sorted(synth_euv_dir.glob("*.fits"))[:1], out, "euv", 32, wavelength=193, progress=False)
    with pytest.raises(HeliogenError) as err:
        build_store(sorted(synth_euv_dir.glob("*.fits"))[:1], out, "granulation", 32, progress=False)
    assert str(err.value).startswith(f"{out} is a euv store, not granulation")


def test_not_a_store_messages_say_what_a_store_is(tmp_path):
    from heliogen.mosaic.bank import open_bank

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "zarr.json").write_text("{not json")
    for target in (tmp_path / "missing.zarr", plain):
        with pytest.raises(HeliogenError) as err:
            open_store(target)
        assert str(target) in str(err.value) and "`heliogen data build` writes" in str(err.value)
        with pytest.raises(HeliogenError) as err:
            open_bank(target)
        assert str(target) in str(err.value) and "`heliogen mosaic bank` writes" in str(err.value)


def _same_store(a, b):
    a, b = open_store(a), open_store(b)
    np.testing.assert_array_equal(a.images(), b.images())
    assert a.table().equals(b.table())
    assert a.attrs["normalisation"] == b.attrs["normalisation"]


def test_a_flush_cut_short_is_redone_and_the_build_resumes_to_the_same_store(synth_euv_dir, tmp_path, monkeypatch):
    import heliogen.data.build as b

    build_store(synth_euv_dir, tmp_path / "clean.zarr", "euv", 32, progress=False)
    calls, adopt = [], b.adopt_rows

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 5:  # inside the second batch's flush, after one of its files moved in
            raise KeyboardInterrupt
        return adopt(*args)

    monkeypatch.setattr(b, "COMMIT_FILES", 3)
    monkeypatch.setattr(b, "adopt_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_store(synth_euv_dir, tmp_path / "cut.zarr", "euv", 32, progress=False)
    cut, clean = open_store(tmp_path / "cut.zarr"), open_store(tmp_path / "clean.zarr")
    assert cut.n == 6  # the flush in `finally` ran the cut batch (files 4-6) again, whole
    rows = {src: i for i, src in enumerate(clean.column("source"))}
    for i, src in enumerate(cut.column("source")):  # every committed row is its own file's image
        np.testing.assert_array_equal(cut.images([i]), clean.images([rows[src]]))
    assert not (tmp_path / "cut.zarr" / ".staging").exists()
    monkeypatch.setattr(b, "adopt_rows", adopt)
    build_store(synth_euv_dir, tmp_path / "cut.zarr", "euv", 32, progress=False)
    _same_store(tmp_path / "cut.zarr", tmp_path / "clean.zarr")


def test_a_second_build_of_a_store_is_refused_and_harms_nothing(synth_euv_dir, tmp_path):
    from heliogen.data.staging import build_lock

    files = sorted(synth_euv_dir.glob("*.fits"))
    out = tmp_path / "s.zarr"
    build_store(files[:4], out, "euv", 32, progress=False)
    with build_lock(out):  # a build is running
        (out / ".staging").mkdir()
        (out / ".staging" / "rows-x").write_text("being staged")
        with pytest.raises(HeliogenError, match="another build is writing"):
            build_store(files, out, "euv", 32, progress=False)
        with pytest.raises(HeliogenError, match="other options"):
            build_store(files, out, "euv", 64, progress=False)
        assert (out / ".staging" / "rows-x").read_text() == "being staged"  # the running build's rows are untouched
    assert open_store(out).n == 4
    build_store(files, out, "euv", 32, progress=False)  # the lock is free again: resume, and the leftover goes
    assert open_store(out).n == 8 and not (out / ".staging").exists()


def test_rows_are_staged_inside_the_store(synth_euv_dir, tmp_path, monkeypatch):
    import heliogen.data.build as b

    files = sorted(synth_euv_dir.glob("*.fits"))
    real = tmp_path / "real" / "s.zarr"
    build_store(files[:2], real, "euv", 32, progress=False)
    link = tmp_path / "link.zarr"
    link.symlink_to(real, target_is_directory=True)  # a store reached through a link (or a mount point)
    seen, stage = [], b.stage_rows
    monkeypatch.setattr(b, "stage_rows", lambda staging, *a: seen.append(Path(staging)) or stage(staging, *a))
    build_store(files, link, "euv", 32, progress=False)
    assert set(seen) == {link / ".staging"}  # inside the store: moving rows in never crosses a filesystem
    assert sorted(p.name for p in real.iterdir() if p.name.startswith(".")) == [".build.lock"]
    assert open_store(real).n == 8 and set(open_store(real).group.keys()) == {"images", "table"}


def test_a_full_disk_while_staging_ends_the_build_and_keeps_what_was_committed(synth_euv_dir, tmp_path, monkeypatch):
    import errno

    import heliogen.data.build as b

    calls, stage = [], b.stage_rows

    def full(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return stage(*args)

    monkeypatch.setattr(b, "stage_rows", full)
    out = tmp_path / "s.zarr"
    with pytest.raises(HeliogenError, match="cannot write rows staged .*No space left on device"):
        build_store(synth_euv_dir, out, "euv", 32, progress=False)
    store = open_store(out)
    assert store.n == 2 and store.attrs["skipped"] == {}  # the input is not blamed
