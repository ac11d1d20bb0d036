"""Mutation testing of heliogen's numeric core with mutmut, one group of modules at a time.

Each group mutates a handful of source files and runs only the tests that cover them, so a
group finishes in minutes and the whole run stays well inside CI's limits when run on its own
(``make mutation``; ``make test`` does not run it).

mutmut works in the current directory and reads ``[tool.mutmut]`` from its ``pyproject.toml``,
so every group gets a scratch folder ``.mutation/GROUP`` (git-ignored) holding links to ``src``
and ``tests`` and a generated ``pyproject.toml``. The verdicts are read from mutmut's own
``mutants/**/*.meta`` files. Surviving mutants judged equivalent (no test can tell them apart
from the original) are listed, each with a one-line reason, in
``benchmarks/mutation_equivalent/GROUP.json``; the score leaves them out:

    score = killed / (killed + survived)        killed includes timeouts

Usage: ``python benchmarks/mutation.py [GROUP ...] [--max-children N] [--keep]``.
Results: ``benchmarks/results/mutation.json``, one row per group with a per-file breakdown and
the names of the surviving mutants (``mutmut show NAME`` in the group's folder shows each diff).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation"
EQUIVALENT = Path(__file__).resolve().parent / "mutation_equivalent"  # GROUP.json: {mutant: reason}
GOAL = 0.85

# group -> (files to mutate, tests that cover them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "sampling": (
        ["src/heliogen/diffusion/sampling.py", "src/heliogen/diffusion/schedule.py",
         "src/heliogen/diffusion/guidance.py", "src/heliogen/diffusion/loop.py",
         "src/heliogen/diffusion/denoisers.py", "src/heliogen/diffusion/ddim.py"],
        ["tests/test_sampler_known_answers.py", "tests/test_sampling_loop.py",
         "tests/test_schedule_config.py", "tests/test_denoiser_wrappers.py"],
    ),
    "fd-kid-prdc-cluster": (
        ["src/heliogen/evaluate/metrics/fd.py", "src/heliogen/evaluate/metrics/kid.py",
         "src/heliogen/evaluate/metrics/prdc.py", "src/heliogen/evaluate/metrics/cluster.py"],
        ["tests/test_eval_metrics.py", "tests/test_distribution_metrics.py",
         "tests/test_prdc_cluster_metrics.py"],
    ),
    "physics-fourier-uncertainty": (
        ["src/heliogen/evaluate/metrics/physics.py", "src/heliogen/evaluate/metrics/fourier.py",
         "src/heliogen/evaluate/metrics/uncertainty.py"],
        ["tests/test_physics_fourier_metrics.py", "tests/test_fourier_uncertainty_metrics.py",
         "tests/test_fourier_uncertainty_plots.py"],
    ),
    "mosaic": (
        ["src/heliogen/mosaic/matching.py", "src/heliogen/mosaic/greedy.py", "src/heliogen/mosaic/blending.py",
         "src/heliogen/mosaic/refine.py"],
        ["tests/test_mosaic_numerics.py", "tests/test_mosaic_ga.py", "tests/test_greedy_matcher.py", "tests/test_mosaic.py"],
    ),
    "normalise-resample": (
        ["src/heliogen/data/normalise.py", "src/heliogen/data/resample.py"],
        ["tests/test_normalise.py", "tests/test_resample.py"],
    ),
}

KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def _status_names() -> dict:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code


def _prepare(group: str, keep: bool) -> Path:
    """Make ``.mutation/GROUP`` with links to the sources and tests and a group pyproject."""
    files, tests = GROUPS[group]
    missing = [p for p in files + tests if not (ROOT / p).exists()]
    if missing:
        raise SystemExit(f"mutation: group {group!r} names files that do not exist: {', '.join(missing)}")
    where = SCRATCH / group
    if where.exists() and not keep:
        shutil.rmtree(where)
    where.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests"):
        link = where / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pytest_ini = project["tool"]["pytest"]["ini_options"]
    lines = [
        "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {json.dumps(files)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        # torch and pytest are not fork-safe together: fork workers from a clean server
        'process_isolation = "forkserver"',
        "use_git_change_detection = false",
        "",
        "[tool.pytest.ini_options]",
        f"markers = {json.dumps(pytest_ini['markers'])}",
        f"filterwarnings = {json.dumps(pytest_ini['filterwarnings'])}",
        'addopts = "-p no:cacheprovider -p no:randomly"',
    ]
    (where / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return where


def _verdicts(where: Path, files: list[str]) -> dict[str, dict[str, str]]:
    """file -> {mutant name: status}, read from mutmut's .meta files."""
    names = _status_names()
    out = {}
    for f in files:
        meta = where / "mutants" / (f + ".meta")
        if not meta.exists():
            out[f] = {}
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        out[f] = {k: names[v] for k, v in codes.items()}
    return out


def run_group(group: str, max_children: int, keep: bool) -> dict:
    files, tests = GROUPS[group]
    where = _prepare(group, keep)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)],
                          cwd=where, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - t0
    (where / "mutmut-run.log").write_text(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-20:])
        raise SystemExit(f"mutation: mutmut failed on group {group!r} (exit {proc.returncode}):\n{tail}")
    listed = EQUIVALENT / f"{group}.json"
    equivalent = json.loads(listed.read_text()) if listed.exists() else {}
    rows, totals = [], {"killed": 0, "survived": 0, "equivalent": 0, "not_run": 0}
    survivors = []
    verdicts_by_file = _verdicts(where, files)
    for f, verdicts in verdicts_by_file.items():
        row = {"file": f, "killed": 0, "survived": 0, "equivalent": 0, "not_run": 0}
        for name, status in sorted(verdicts.items()):
            if status in KILLED:
                row["killed"] += 1
            elif name in equivalent:
                row["equivalent"] += 1
            elif status in ("survived", "no tests"):
                row["survived"] += 1
                survivors.append({"mutant": name, "status": status})
            else:  # skipped, interrupted, not checked, suspicious
                row["not_run"] += 1
                survivors.append({"mutant": name, "status": status})
        rows.append(row)
        for k in totals:
            totals[k] += row[k]
    judged = totals["killed"] + totals["survived"]
    score = totals["killed"] / judged if judged else None
    return {
        "group": group, "files": rows, **totals, "score": None if score is None else round(score, 4),
        "met": score is not None and score >= GOAL and totals["not_run"] == 0,
        "tests": tests, "seconds": round(elapsed, 1), "survivors": survivors,
        "equivalent_listed": {k: v for k, v in equivalent.items() if any(k in vs for vs in verdicts_by_file.values())},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("groups", nargs="*", help=f"groups to run (default: all): {', '.join(GROUPS)}")
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--keep", action="store_true", help="reuse .mutation/GROUP and mutmut's cached verdicts")
    args = ap.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        ap.error(f"unknown group {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    groups = args.groups or list(GROUPS)
    out = RESULTS / "mutation.json"
    previous = json.loads(out.read_text()) if out.exists() else {"groups": []}
    done = {g["group"]: g for g in previous.get("groups", [])}
    for group in groups:
        print(f"mutation: {group} ...", flush=True)
        row = run_group(group, args.max_children, args.keep)
        done[group] = row
        print(f"mutation: {group}: {row['killed']} killed, {row['survived']} survived, "
              f"{row['equivalent']} equivalent, score {row['score']} in {row['seconds']} s", flush=True)
        doc = {
            "benchmark": "mutation", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "tool": f"mutmut {_mutmut_version()}",
            "goal": {"metric": "killed / (killed + survived) per group; equivalent mutants listed with a reason "
                               "in benchmarks/mutation_equivalent/GROUP.json are left out",
                     "target": GOAL, "met": all(done[g]["met"] for g in GROUPS if g in done)
                     and all(g in done for g in GROUPS)},
            "groups": [done[g] for g in GROUPS if g in done],
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


def _mutmut_version() -> str:
    from importlib.metadata import version

    return version("mutmut")


if __name__ == "__main__":
    sys.exit(main())
