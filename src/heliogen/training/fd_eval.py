"""FD against a held-out store during training, and the best-FD checkpoint it selects.

Every ``eval_every`` steps the trainer asks the model's own code for ``eval_n`` images
(``generate_fn(ema_modules, n, seed)``, in the training store's model range, always with the
same seeds so evaluations compare), maps them and the held-out images to the unit range the
feature extractors take, and computes the Fréchet distance (Heusel et al. 2017) between the
two feature sets. The held-out features are computed once and cached in
``RUN/eval/reference_<features>_<n>.npz`` together with what they were computed from (store
path, size, image count, extractor, normalisation), and recomputed when any of that changes.

Evaluation runs on rank 0 alone while the other ranks wait at a barrier: keep it well under
the process group's timeout (NCCL's default is 30 minutes).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..errors import HeliogenError
from .best import read_best, write_best

__all__ = ["FDEvaluator", "check_eval_settings", "reference_path"]

log = logging.getLogger("heliogen")


def check_eval_settings(settings, train_store=None) -> None:
    """One-line errors for eval options that do not go together, or a held-out store that is
    too small or unlike ``train_store`` (kind, size, channels)."""
    if settings.eval_every < 0:
        raise HeliogenError(f"--eval-every must be 0 (off) or a positive step count, not {settings.eval_every}")
    if settings.eval_every == 0:
        return
    if not settings.eval_data:
        raise HeliogenError("--eval-every needs --eval-data STORE, the held-out store to compute the FD against")
    if settings.eval_n < 2:
        raise HeliogenError(f"--eval-n must be at least 2 (the FD needs a covariance), not {settings.eval_n}")
    from ..evaluate.features.registry import available_extractors

    name = settings.eval_features
    if not (name.startswith("domain:") or name in available_extractors()):
        raise HeliogenError(f"unknown --eval-features {name!r}; choose from {', '.join(available_extractors())}")
    from ..data.store import open_store

    held = open_store(settings.eval_data)
    if held.n < settings.eval_n:
        raise HeliogenError(f"--eval-n {settings.eval_n} exceeds the {held.n} images of {settings.eval_data}")
    if train_store is not None:
        ours = (train_store.kind, train_store.size, int(train_store.attrs["channels"]))
        theirs = (held.kind, held.size, int(held.attrs["channels"]))
        if ours != theirs:
            raise HeliogenError(f"--eval-data {settings.eval_data} holds {theirs[0]} images of {theirs[1]} px and {theirs[2]} "
                                f"channel(s); training is on {ours[0]} images of {ours[1]} px and {ours[2]} channel(s)")


def reference_path(run_dir, features: str, n: int) -> Path:
    safe = features.replace("/", "_").replace(":", "_")
    return Path(run_dir) / "eval" / f"reference_{safe}_{n}.npz"


def _unit(x, data_range) -> np.ndarray:
    """Model-range images to the extractors' [0, 1] (as ``ImageSet.unit``)."""
    lo, hi = data_range
    return np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


class FDEvaluator:
    """FD of generated images against a held-out store, and the best checkpoint so far.

    Parameters
    ----------
    run_dir : path
    settings : TrainSettings
        ``eval_every``, ``eval_data``, ``eval_n``, ``eval_features``, ``seed``.
    generate_fn : callable(ema_modules, n, seed) -> array (n, C, S, S)
        Images in the training store's model range.
    train_store : Store, optional
        The training store: the held-out images are expressed in its normalisation (the model
        range of ``generate_fn``'s images) and must match its kind, size and channels.
    device : str
        Where the feature extractor runs.
    """

    def __init__(self, run_dir, settings, generate_fn, train_store=None, device: str = "cpu"):
        from ..data.store import open_store

        check_eval_settings(settings, train_store)
        if generate_fn is None:
            raise HeliogenError("this trainer cannot generate images for --eval-every (it supplies no generate_fn)")
        self.run_dir, self.settings, self.generate_fn = Path(run_dir), settings, generate_fn
        self.store = open_store(settings.eval_data)
        self.normalisation = train_store.normalisation if train_store is not None else self.store.normalisation
        self.device = device
        self.best: dict | None = None
        self._reference = None

    def describe(self) -> dict:
        """What the reference features depend on (checked against the cache)."""
        from ..evaluate.features.registry import get_extractor

        s = self.settings
        return {"store": str(Path(s.eval_data).resolve()), "store_n": self.store.n, "size": self.store.size,
                "kind": self.store.kind, "n": s.eval_n, "features": s.eval_features,
                "extractor": get_extractor(s.eval_features, device=self.device).cache_key(),
                "normalisation": self.normalisation.to_dict()}

    def reference_features(self) -> np.ndarray:
        """The held-out store's features: from the run's cache when it matches, else computed and cached."""
        from ..evaluate.io import load_images

        s, want = self.settings, self.describe()
        path = reference_path(self.run_dir, s.eval_features, s.eval_n)
        if path.is_file():
            try:
                with np.load(path) as z:
                    if json.loads(str(z["about"])) == want:
                        return z["features"]
                log.info("%s was computed from other data or another extractor; recomputing it", path)
            except (OSError, ValueError, KeyError):
                log.warning("%s is damaged; recomputing it", path)
        real = load_images(s.eval_data, n=s.eval_n, normalisation=self.normalisation, seed=0)
        features = self.features(real.unit())
        write_atomic(path, lambda fh: np.savez(fh, features=features, about=json.dumps(want)), suffix=".npz")
        return features

    def features(self, unit_images) -> np.ndarray:
        from ..evaluate.features.registry import get_extractor

        return get_extractor(self.settings.eval_features, device=self.device)(unit_images)

    def generate(self, ema_modules) -> np.ndarray:
        """The ``eval_n`` generated images (model range), checked against the held-out ones."""
        s = self.settings
        x = np.asarray(self.generate_fn(ema_modules, s.eval_n, s.seed), dtype=np.float32)
        want = (s.eval_n, int(self.store.attrs["channels"]), self.store.size, self.store.size)
        if x.shape != want:
            raise HeliogenError(f"generated images are {x.shape}, the held-out images of {s.eval_data} {want}")
        if not np.isfinite(x).all():
            raise HeliogenError("the generated images hold NaN or infinite values; the FD cannot be computed")
        return x

    def evaluate(self, ema_modules) -> float:
        """FD between ``generate_fn``'s images and the held-out store."""
        from ..evaluate.metrics.fd import frechet_distance, gaussian_stats

        if self._reference is None:  # the held-out statistics are fixed for the whole run
            self._reference = gaussian_stats(self.reference_features())
        real = self._reference
        fake = gaussian_stats(self.features(_unit(self.generate(ema_modules), self.normalisation.data_range)))
        return frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma)

    def record(self, step: int, fd: float) -> dict:
        s = self.settings
        return {"checkpoint": f"step-{step:07d}", "step": step, "fd": fd, "features": s.eval_features, "n": s.eval_n,
                "eval_data": str(Path(s.eval_data).resolve())}

    def _comparable(self, rec: dict) -> bool:
        return rec.get("features") == self.settings.eval_features and rec.get("n") == self.settings.eval_n

    def restore(self, step: int) -> None:
        """Take up the run's best so far at ``step`` (after resume): the pointer, else the best
        logged FD up to ``step`` whose checkpoint still exists (a run continued from an older
        checkpoint, whose pointer went aside with the later history)."""
        rec = read_best(self.run_dir)
        if rec is not None and not self._comparable(rec):
            log.warning("checkpoints/best was chosen by %s FD over %s images; the first %s FD over %s images replaces it",
                        rec.get("features"), rec.get("n"), self.settings.eval_features, self.settings.eval_n)
            rec = None
        elif rec is None:
            rec = self._best_logged(step)
            if rec is not None:
                write_best(self.run_dir, rec)
        self.best = rec

    def _best_logged(self, step: int) -> dict | None:
        stats = self.run_dir / "stats.jsonl"
        rows = [json.loads(line) for line in stats.read_text().splitlines() if line.strip()] if stats.is_file() else []
        found = [self.record(r["step"], r["fd"]) for r in rows if "fd" in r and r["step"] <= step
                 and r.get("fd_features") == self.settings.eval_features and r.get("fd_n") == self.settings.eval_n
                 and (self.run_dir / "checkpoints" / f"step-{r['step']:07d}" / "state.pt").is_file()]
        return min(found, key=lambda r: r["fd"]) if found else None

    def consider(self, step: int, fd: float) -> bool:
        """Point ``checkpoints/best`` at step ``step`` if its FD beats the best so far."""
        if self.best is not None and not fd < self.best["fd"]:
            return False
        self.best = self.record(step, fd)
        write_best(self.run_dir, self.best)
        return True
