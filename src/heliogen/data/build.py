"""``heliogen data build``: preprocess FITS files into a store, resumably, skipping bad inputs.

Workers preprocess files in parallel (a process pool, results consumed in input order) and
encode their rows with the store's codecs (:mod:`heliogen.data.staging`); the parent moves the
encoded rows into place, writes the table and commits every 16 files or 2 seconds, holding the
store's build lock throughout. Re-running with the same options skips files whose rows are already committed; files skipped before are tried
again (they may have been fixed). Each skip is logged with its reason, kept in the store's
``skipped`` attribute and summarised at the end.
"""

from __future__ import annotations

import glob
import json
import logging
import multiprocessing as mp
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import BadInput, HeliogenError
from ..progress import bars_off
from .fitsio import read_map
from .kinds import kind_spec
from .staging import adopt_rows, array_metadata, build_lock, stage_rows, staging_folder
from .store import Store

__all__ = ["build_store", "BuildReport", "resolve_inputs"]

log = logging.getLogger("heliogen.data")

COMMIT_FILES, COMMIT_SECONDS = 16, 2.0  # commit after this many files or seconds, whichever first


@dataclass
class BuildReport:
    """What a build did: rows added, files done before, and skips with reasons."""

    store: Path
    added_files: int = 0
    added_samples: int = 0
    already_done: int = 0
    skipped: dict = field(default_factory=dict)
    total_samples: int = 0

    def summary(self) -> str:
        lines = [
            f"{self.store}: {self.total_samples} samples "
            f"(+{self.added_samples} from {self.added_files} files, {self.already_done} files already done, "
            f"{len(self.skipped)} skipped)"
        ]
        for reason, count in Counter(_reason_kind(r) for r in self.skipped.values()).most_common():
            lines.append(f"  skipped {count} x {reason}")
        return "\n".join(lines)


def _reason_kind(reason: str) -> str:
    return reason.split(" (")[0]


def resolve_inputs(spec) -> list[Path]:
    """Files named by a directory, a glob pattern, a file, or a list of these; sorted."""
    specs = [spec] if isinstance(spec, (str, Path)) else list(spec)
    files: list[Path] = []
    for item in specs:
        p = Path(item)
        if p.is_dir():
            files += [f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")]
        elif any(ch in str(item) for ch in "*?["):
            files += [Path(f) for f in glob.glob(str(item), recursive=True) if Path(f).is_file()]
        elif p.is_file():
            files.append(p)
        else:
            raise HeliogenError(f"input {item} is not a file, a directory or a matching glob")
    files = sorted(set(files))
    if not files:
        raise HeliogenError(f"no input files in {', '.join(map(str, specs))}")
    return files


def _process(args):
    """Worker: read, preprocess and encode one file's rows; never raises for a bad input.

    Only reading and preprocessing are the input's fault; writing the staged rows (a full disk,
    a lost folder) ends the build like any other store error.
    """
    path, kind, size, options, staging, metadata = args
    source = str(Path(path).resolve())  # one name per file, however the input was spelled
    try:
        records = kind_spec(kind).preprocess(read_map(path), size, source, options)
        for s in records:
            if not np.isfinite(s.image).all():
                raise BadInput("preprocessing produced non-finite values")
    except BadInput as err:
        return source, None, err.reason
    except HeliogenError:
        raise
    except Exception as err:  # noqa: BLE001 - a broken file must not end the batch
        return source, None, f"unreadable ({type(err).__name__}: {err})"
    try:
        return source, stage_rows(staging, metadata, records), None
    except OSError as err:
        raise HeliogenError(f"cannot write rows staged for the store in {staging}: {err.strerror or err}") from None


def build_store(inputs, out, kind: str, size: int | None, workers: int = 1, progress: bool = True, **options) -> BuildReport:
    """Preprocess ``inputs`` into the store ``out``, resuming if it exists.

    Parameters
    ----------
    inputs : path, glob or list
    out : path
        The ``.zarr`` store; created if absent, resumed if present.
    kind : {"euv", "magnetogram", "granulation"}
    size : int
        Stored side S (magnetograms may pass None to keep the crop/native size).
    workers : int
        Preprocessing processes.
    **options
        The kind's build options, :attr:`heliogen.data.kinds.KindSpec.options`: euv
        ``wavelength, register, degradation, degradation_table, fov``; magnetogram ``crop,
        crop_mode, n_random, positions, pairs, seed``; granulation ``augmentations``.

    Returns
    -------
    BuildReport
    """
    spec = kind_spec(kind)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise HeliogenError(f"{kind} takes no build option {unknown[0]!r}; it takes {', '.join(spec.options)}")
    if workers < 1:
        raise HeliogenError("--workers must be at least 1")
    files = resolve_inputs(inputs)
    if size is None:
        if kind != "magnetogram" or not options.get("crop"):
            raise HeliogenError("--size is required (magnetograms may omit it only with --crop)")
        size = int(options["crop"])
    if options.get("pairs") and size % options["pairs"]:
        raise HeliogenError(f"--size {size} is not divisible by --pairs {options['pairs']}")
    identity = {k: options.get(k) for k in spec.identity_options}
    config = json.loads(json.dumps({"kind": kind, "size": size, **identity}))  # as stored in attrs
    out = Path(out)

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    pool = ctx.Pool(workers) if workers > 1 else None  # before zarr starts its I/O thread
    created = not out.exists()
    try:
        store = _open_or_create(out, kind, size, config, options)
        report = BuildReport(store=out)
        with build_lock(out), staging_folder(out) as staging:
            done = set(store.column("source")) if store.n else set()
            todo = [f for f in files if str(f.resolve()) not in done]
            report.already_done = len(files) - len(todo)
            skipped = dict(store.attrs.get("skipped", {}))
            store.ensure_capacity(store.n + len(todo) * spec.rows_per_file(options))
            jobs = [(f, kind, size, options, str(staging), array_metadata(out)) for f in todo]
            results = pool.imap(_process, jobs) if pool else map(_process, jobs)
            _ingest(store, results, len(jobs), kind, report, skipped, progress)
    finally:
        if pool:  # every result is consumed unless an error stops the batch: then stop at once
            pool.terminate()
            pool.join()
    report.total_samples = store.n
    if created and store.n == 0:
        _remove_empty_store(out, report)
    return report


def _remove_empty_store(out: Path, report: BuildReport) -> None:
    """A new store that received no row is removed, and the build fails with the reasons."""
    shutil.rmtree(out, ignore_errors=True)
    reasons = Counter(reason.split(" (")[0] for reason in report.skipped.values())
    summary = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common()) or "they gave no image"
    raise HeliogenError(f"no image could be built ({len(report.skipped)} input(s) skipped: {summary}); the empty store {out} was removed")


def _ingest(store: Store, results, total: int, kind: str, report: BuildReport, skipped: dict, progress: bool) -> None:
    """Write preprocessed files' rows into ``store`` as they come, with one atomic commit per
    batch of files (every ``COMMIT_FILES`` files or ``COMMIT_SECONDS``), and record skips."""
    norm = store.normalisation
    n = store.n
    pending: list = []
    last = time.monotonic()

    def flush():
        # One write per column and one atomic commit for a batch of files. ``n`` and ``pending``
        # move on only after the commit: a flush cut short (Ctrl-C) is simply run again.
        nonlocal n, last
        m = n
        rows = sum(staged.k for staged in pending)
        if rows:
            store.ensure_capacity(n + rows)
            store.write_fields(n, [f for staged in pending for f in staged.fields])
            for staged in pending:
                adopt_rows(store.group, store.path, m, staged)
                norm.update(np.array([staged.lo, staged.hi]))  # the extremes fold as the whole rows would
                m += staged.k
        store.commit(n=m, normalisation=norm.to_dict(), skipped=skipped)
        n = m
        pending.clear()
        last = time.monotonic()

    try:
        for source, staged, reason in tqdm(results, total=total, desc=f"build {kind}", unit="file", disable=bars_off(progress)):
            if reason is not None:
                log.warning("skip %s: %s", source, reason)
                skipped[source] = reason
                report.skipped[source] = reason
            else:
                skipped.pop(source, None)
                pending.append(staged)
                report.added_files += 1
                report.added_samples += staged.k
            if len(pending) >= COMMIT_FILES or time.monotonic() - last > COMMIT_SECONDS:
                flush()
    finally:
        flush()  # also on Ctrl-C: what is done is kept


def _open_or_create(out: Path, kind, size, config, options) -> Store:
    if out.exists():
        store = Store(out, mode="r+")
        old = store.attrs.get("config", {})
        if old.get("kind") != kind:
            # the kind first: every other option differs too, and would bury the real change
            raise HeliogenError(f"{out} is a {old.get('kind')} store, not {kind}; build {kind} into a new --out")
        # an option added since the store was built reads as unset (None) there
        changed = [k for k in sorted(set(old) | set(config)) if old.get(k) != config.get(k)]
        if changed:
            diff = ", ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in changed)
            raise HeliogenError(f"{out} was built with other options ({diff}); resume with the same options or choose a new --out")
        return store
    lowres = size // options["pairs"] if options.get("pairs") else None
    return Store.create(out, kind, size, channels=1, config=config, normalisation=kind_spec(kind).default_normalisation(),
                        lowres_size=lowres)
