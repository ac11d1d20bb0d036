"""The heliogen command line: the data commands end to end, and one-line errors."""

import subprocess
import sys

import numpy as np
import pytest

from heliogen.cli import main
from heliogen.data.store import open_store


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_synth_build_labels_show_info(tmp_path, capsys):
    code, out, _ = run(["data", "synth", "--kind", "euv", "--n", "6", "--size", "64", "--seed", "1", "--out", str(tmp_path / "euv")], capsys)
    assert code == 0 and "wrote 6 synthetic euv files" in out
    code, _, _ = run(["data", "synth", "--kind", "goes", "--n", "6", "--seed", "1", "--out", str(tmp_path / "goes")], capsys)
    assert code == 0
    (tmp_path / "euv" / "broken.fits").write_text("not fits")
    store = tmp_path / "s.zarr"
    code, out, err = run(["-q", "data", "build", "--kind", "euv", "--input", str(tmp_path / "euv"), "--out", str(store),
                          "--size", "32", "--wavelength", "193", "--workers", "2"], capsys)
    assert code == 0, err
    assert "6 samples" in out and "skipped 1 x not a FITS file" in out
    code, out, _ = run(["data", "labels", "--store", str(store), "--goes", str(tmp_path / "goes" / "goes_xrs_synthetic.csv")], capsys)
    assert code == 0 and "unlabelled 0" in out
    code, out, _ = run(["data", "show", str(store), "--n", "4", "-o", str(tmp_path / "grid.png")], capsys)
    assert code == 0 and (tmp_path / "grid.png").stat().st_size > 5000
    code, out, _ = run(["data", "info", str(store)], capsys)
    assert code == 0 and "6 euv samples" in out and "broken.fits: not a FITS file" in out


def test_yaml_config_stands_in_for_flags(tmp_path, capsys):
    run(["data", "synth", "--kind", "granulation", "--n", "1", "--size", "128", "--out", str(tmp_path / "g")], capsys)
    cfg = tmp_path / "build.yaml"
    cfg.write_text(f"kind: granulation\ninput: [{tmp_path / 'g'}]\nout: {tmp_path / 'g.zarr'}\nsize: 16\naugment: false\n")
    code, out, err = run(["data", "build", "--config", str(cfg), "--size", "32"], capsys)  # flag wins over file
    assert code == 0, err
    s = open_store(tmp_path / "g.zarr")
    assert s.n == 1 and s.size == 32


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["data", "build", "--kind", "euv", "--input", "/nonexistent/dir", "--out", "x.zarr"], "is not a file, a directory or a matching glob"),
        (["data", "synth", "--kind", "radio", "--out", "x"], "'radio' is not one of"),
        (["data", "synth", "--kind", "euv", "--out", "x", "--bogus"], "No such option"),
        (["data", "show", "/nonexistent.zarr"], "does not exist"),
        (["data", "labels", "--store", "."], "give at least one --goes"),
        (["data", "fetch", "--instrument", "aia", "--start", "2011-01-01", "--end", "2010-01-01", "--out", "x", "--dry-run"], "--end must be after --start"),
        (["data", "fetch", "--instrument", "hmi", "--start", "2011-01-01", "--end", "2011-01-02", "--out", "x", "--via", "jsoc", "--dry-run"], "JSOC_EMAIL"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(argv, fragment, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("JSOC_EMAIL", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("heliogen: error:"), err
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_no_image_built_is_an_error(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.fits").write_text("junk")
    code, _, err = run(["-q", "data", "build", "--kind", "euv", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "s.zarr")], capsys)
    assert code == 2 and "no image could be built" in err


def test_console_script_runs():
    exe = [sys.executable, "-m", "heliogen", "--version"]
    out = subprocess.run(exe, capture_output=True, text=True, check=True).stdout
    assert "heliogen" in out


def test_groups_exist(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for group in ("data", "train", "sample", "evaluate", "mosaic", "demo"):
        assert group in out


def test_quiet_lasts_one_invocation(tmp_path, capsys):
    """`heliogen -q` silences its own progress bars, not those of the next call in the same process."""
    from heliogen import progress

    run(["-q", "data", "synth", "--kind", "euv", "--n", "1", "--size", "32", "--out", str(tmp_path / "a")], capsys)
    assert progress.QUIET
    run(["data", "synth", "--kind", "euv", "--n", "1", "--size", "32", "--out", str(tmp_path / "b")], capsys)
    assert not progress.QUIET
