"""Shared by the benchmarks: machine description, the results JSON format and a synthetic store.

Every result is ``benchmarks/results/bench_NAME.json`` with the keys benchmark, when, machine,
results, reference {what, value, source} and goal {metric, target, achieved, met}.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / ".work"  # git-ignored scratch space


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = None
    try:
        import torch

        torch_version = torch.__version__
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        torch_version = None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "torch": torch_version, "python": platform.python_version()}


def write_result(name: str, results: list, reference: dict, goal: dict, **extra) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
           "results": results, "reference": reference, "goal": goal, **extra}
    path = RESULTS / f"bench_{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return path


def granulation_store(work: Path, patches: int, tile: int) -> Path:
    """A synthetic granulation store of ``tile`` px tiles under ``work`` (built once, then reused)."""
    from heliogen.data import build_store
    from heliogen.data.synth import write_synth

    work.mkdir(parents=True, exist_ok=True)
    store = work / f"gran{tile}.zarr"
    if not store.exists():
        write_synth("granulation", patches, 256, 0, work / "synth")
        build_store(work / "synth", store, "granulation", tile, progress=False)
    return store
