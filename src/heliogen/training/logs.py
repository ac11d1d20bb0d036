"""The training logs: ``stats.jsonl`` and TensorBoard, written on rank 0 only."""

from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["TrainLogs"]


class TrainLogs:
    """``stats.jsonl`` and TensorBoard on rank 0 (nothing elsewhere); rows past ``step`` are redone."""

    def __init__(self, run_dir: Path, step: int, main: bool):
        self.run_dir, self.step, self.main = run_dir, step, main
        self.writer = self.stats = None
        self.t0, self.seen = time.perf_counter(), 0

    def __enter__(self) -> "TrainLogs":
        if self.main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step or None)
            _truncate_stats(self.run_dir / "stats.jsonl", self.step)  # rows past the checkpoint are redone
            self.stats = open(self.run_dir / "stats.jsonl", "a")
        return self

    def count(self, images: int) -> None:
        self.seen += images

    def write(self, step: int, metrics: dict, lr: float, images: int) -> None:
        self.seen += images
        elapsed = time.perf_counter() - self.t0
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}, "lr": lr,
               "images_per_s": self.seen / max(elapsed, 1e-9), "time": time.time()}
        self.stats.write(json.dumps(row) + "\n")
        self.stats.flush()
        for k, v in metrics.items():
            self.writer.add_scalar(k, float(v), step)
        self.t0, self.seen = time.perf_counter(), 0

    def write_row(self, step: int, scalars: dict, extra: dict) -> None:
        """One row of ``scalars`` (also to TensorBoard) and ``extra`` values (stats.jsonl only)."""
        row = {"step": step, **{k: float(v) for k, v in scalars.items()}, **extra, "time": time.time()}
        self.stats.write(json.dumps(row) + "\n")
        self.stats.flush()
        for k, v in scalars.items():
            self.writer.add_scalar(k, float(v), step)
        self.t0, self.seen = time.perf_counter(), 0  # the evaluation's time is not training throughput

    def __exit__(self, *exc) -> None:
        if self.writer is not None:
            self.writer.close()
            self.stats.close()


def _truncate_stats(path: Path, step: int) -> None:
    """Keep only the logged rows up to ``step`` (a crash may have logged past the checkpoint)."""
    if not path.is_file():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    keep = [line for line in rows if json.loads(line).get("step", 0) <= step]
    if len(keep) != len(rows):
        from ..atomic import write_text_atomic

        write_text_atomic(path, "".join(line + "\n" for line in keep))
