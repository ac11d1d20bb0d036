"""The training loop every heliogen trainer uses, on HF accelerate.

One process or many (``accelerate launch``, ``torchrun``, SLURM): the loop is the same.
It owns what all trainers share: devices and mixed precision, deterministic step-indexed
batches, gradient clipping, EMA of weights, atomic checkpoints every K steps and exact
resume, pre-emption (SIGTERM/SIGUSR1 checkpoint, then stop), ``stats.jsonl`` and TensorBoard
logs, sample grids, and a tqdm bar on rank 0. A trainer supplies the modules, their
optimizers and a ``step_fn`` that computes losses and calls :meth:`StepContext.optimize`.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import HeliogenError
from ..progress import bars_off
from .batches import StepBatchSampler, step_seed
from .checkpoint import latest_checkpoint, load_state, load_weights, save_checkpoint, set_aside_later_checkpoints

__all__ = ["TrainSettings", "Trainer", "StepContext"]

log = logging.getLogger("heliogen")


@dataclass
class TrainSettings:
    """Settings every trainer shares (the CLI's common options)."""

    steps: int = 1000
    batch: int = 16  # global batch, split over processes
    lr: float = 1e-4
    weight_decay: float = 0.0
    ema: float = 0.9999
    grad_clip: float = 1.0
    checkpoint_every: int = 1000
    sample_every: int = 0
    log_every: int = 10
    keep_checkpoints: int = 3
    seed: int = 0
    mixed_precision: str = "auto"  # auto: bf16 on a GPU that has it, else none; never on CPU
    device: str = "auto"
    workers: int = 0
    resume: str = "auto"  # auto | never | PATH to a checkpoint directory
    progress: bool = True


class StepContext:
    """What a ``step_fn`` gets: the step, a seeded generator, the accelerator and optimizers."""

    def __init__(self, trainer: "Trainer", step: int):
        self.trainer = trainer
        self.step = step
        self.accelerator = trainer.accelerator
        self.generator = torch.Generator().manual_seed(step_seed(trainer.settings.seed, step, trainer.accelerator.process_index))

    @property
    def device(self):
        return self.accelerator.device

    def module(self, name: str):
        return self.trainer.modules[name]

    def optimize(self, loss: torch.Tensor, optimizer: str) -> float:
        """Backward, clip, step and zero one optimizer; returns the gradient norm (or NaN-free 0)."""
        acc = self.accelerator
        # every rank must agree, or the healthy ones would wait forever in the gradient all-reduce
        bad = acc.reduce(torch.tensor(float(not torch.isfinite(loss)), device=acc.device), reduction="sum")
        if float(bad) > 0:
            raise HeliogenError(f"the loss became non-finite at step {self.step}; lower --lr or check the data")
        acc.backward(loss)
        opt = self.trainer.optimizers[optimizer]
        params = [p for group in opt.param_groups for p in group["params"]]
        norm = acc.clip_grad_norm_(params, self.trainer.settings.grad_clip) if self.trainer.settings.grad_clip > 0 else None
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(norm) if norm is not None else 0.0


class Trainer:
    """Run ``step_fn`` for ``settings.steps`` steps with checkpoints, EMA, logs and resume.

    Parameters
    ----------
    run_dir : path
    settings : TrainSettings
    modules : dict of name -> torch.nn.Module
    optimizers : dict of name -> callable(module dict) -> torch.optim.Optimizer
    ema_modules : sequence of str
        Modules whose weights get an exponential moving average (``<name>_ema`` in checkpoints).
    dataset : torch Dataset
    step_fn : callable(batch, StepContext) -> dict of float
    sample_fn : callable(ema modules dict, path, step), optional
        Writes a sample grid every ``settings.sample_every`` steps (rank 0).
    """

    def __init__(self, run_dir, settings: TrainSettings, modules: dict, optimizers: dict, ema_modules, dataset,
                 step_fn: Callable, sample_fn: Callable | None = None):
        from accelerate import Accelerator

        self.run_dir = Path(run_dir)
        self.settings = settings
        if settings.steps < 1 or settings.batch < 1:
            raise HeliogenError("--steps and --batch must be at least 1")
        cuda = torch.cuda.is_available() and settings.device in ("auto", "cuda")
        if settings.device == "cuda" and not torch.cuda.is_available():
            raise HeliogenError("--device cuda asked for, but no CUDA device is available")
        precision = settings.mixed_precision
        if precision == "auto":
            precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else ("fp16" if cuda else "no")
        self.accelerator = Accelerator(cpu=not cuda, mixed_precision=precision if cuda else "no")
        world = self.accelerator.num_processes
        if settings.batch % world:
            raise HeliogenError(f"--batch {settings.batch} is not divisible by the {world} processes")
        self.dataset = dataset
        self.step_fn, self.sample_fn = step_fn, sample_fn
        self.raw_modules = dict(modules)
        self.optimizers = {name: make(self.raw_modules) for name, make in optimizers.items()}
        prepared = self.accelerator.prepare(*self.raw_modules.values(), *self.optimizers.values())
        k = len(self.raw_modules)
        self.modules = dict(zip(self.raw_modules, prepared[:k]))
        self.optimizers = dict(zip(self.optimizers, prepared[k:]))
        from diffusers.training_utils import EMAModel

        self.ema = {name: EMAModel(self.raw_modules[name].parameters(), decay=settings.ema) for name in ema_modules}
        self.step = 0
        self._resumed_from: Path | None = None  # the checkpoint training continues from, if any
        self._stop = threading.Event()

    # -- checkpoints ------------------------------------------------------------------
    def _weights(self) -> dict:
        weights = {name: m.state_dict() for name, m in self.raw_modules.items()}
        for name, ema in self.ema.items():
            # full state dict (buffers such as BatchNorm statistics come from the live model)
            averaged = dict(weights[name])
            averaged.update(zip(_param_names(self.raw_modules[name]), ema.shadow_params))
            weights[f"{name}_ema"] = averaged
        return weights

    def save(self) -> Path | None:
        acc = self.accelerator
        acc.wait_for_everyone()
        path = None
        if acc.is_main_process:
            state = {
                "step": self.step,
                "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                "ema": {n: e.state_dict() for n, e in self.ema.items()},
                "rng": _rng_state(),
                # fp16's loss scale, so a resumed run scales (and skips steps) as the uninterrupted one would
                "scaler": acc.scaler.state_dict() if getattr(acc, "scaler", None) is not None else None,
                # plain values only (a Path would make weights_only loading refuse the file)
                "settings": json.loads(json.dumps(asdict(self.settings), default=str)),
            }
            path = save_checkpoint(self.run_dir, self.step, self._weights(), state, keep=self.settings.keep_checkpoints)
        acc.wait_for_everyone()
        return path

    def _resume(self) -> None:
        how = self.settings.resume
        if how in ("never", "none", "", None):
            return
        ckpt = latest_checkpoint(self.run_dir) if how == "auto" else Path(how)
        if ckpt is None:
            return
        if not ckpt.is_dir():
            raise HeliogenError(f"no checkpoint at {ckpt}")
        state = load_state(ckpt)
        for name, module in self.raw_modules.items():
            try:
                module.load_state_dict(load_weights(ckpt, name))
            except RuntimeError as err:
                raise HeliogenError(f"checkpoint {ckpt} does not fit the model ({str(err).splitlines()[0]})") from None
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, ema in self.ema.items():
            ema.load_state_dict(state["ema"][name])
        _set_rng_state(state["rng"])
        self._resumed_from = ckpt
        if state.get("scaler") and getattr(self.accelerator, "scaler", None) is not None:
            self.accelerator.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        log.info("resumed from %s at step %d", ckpt, self.step)

    # -- the loop ---------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        log.warning("signal %d: checkpointing at the end of this step, then stopping", signum)
        self._stop.set()

    def run(self) -> dict:
        """Train; returns ``{"step", "stopped", "checkpoint", "modules"}`` (the trained modules)."""
        from torch.utils.data import DataLoader
        from tqdm.auto import tqdm

        s, acc = self.settings, self.accelerator
        self._resume()
        if acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            # one history per run directory: checkpoints past the step training continues
            # from (resumed from an older one, or started afresh) are moved aside
            src = self._resumed_from
            foreign = src is not None and src.resolve().parent != (self.run_dir / "checkpoints").resolve()
            set_aside_later_checkpoints(self.run_dir, self.step, foreign=foreign)
        acc.wait_for_everyone()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, getattr(signal, "SIGUSR1", None)):
                if sig is not None:
                    previous[sig] = signal.signal(sig, self._on_signal)
        sampler = StepBatchSampler(len(self.dataset), s.batch, self.step, s.steps, s.seed, acc.process_index, acc.num_processes)
        # The loader draws its workers' base seed from its own generator: from the global torch RNG,
        # it would shift that RNG by one draw at every (re)start and break exact resume for any
        # step_fn that uses it.
        loader_seed = int(np.random.SeedSequence([s.seed, self.step, acc.process_index, 1]).generate_state(1, dtype=np.uint64)[0] % 2**63)
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=s.workers,
                            generator=torch.Generator().manual_seed(loader_seed))
        writer = stats = None
        if acc.is_main_process:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step or None)
            _truncate_stats(self.run_dir / "stats.jsonl", self.step)  # rows past the checkpoint are redone
            stats = open(self.run_dir / "stats.jsonl", "a")
        bar = tqdm(total=s.steps, initial=self.step, desc="train", unit="step", disable=bars_off(acc.is_main_process and s.progress))
        last_saved = None
        t0, seen = time.perf_counter(), 0
        try:
            for batch in loader:
                for module in self.modules.values():
                    module.train()
                ctx = StepContext(self, self.step)
                with acc.autocast():
                    metrics = self.step_fn(batch, ctx)
                for name, ema in self.ema.items():
                    ema.step(self.raw_modules[name].parameters())
                self.step += 1
                seen += s.batch
                bar.update(1)
                if acc.is_main_process and (self.step % s.log_every == 0 or self.step == s.steps):
                    elapsed = time.perf_counter() - t0
                    row = {"step": self.step, **{k: float(v) for k, v in metrics.items()},
                           "lr": self.optimizers[next(iter(self.optimizers))].param_groups[0]["lr"],
                           "images_per_s": seen / max(elapsed, 1e-9), "time": time.time()}
                    stats.write(json.dumps(row) + "\n")
                    stats.flush()
                    for k, v in metrics.items():
                        writer.add_scalar(k, float(v), self.step)
                    bar.set_postfix({k: f"{float(v):.4g}" for k, v in metrics.items()})
                    t0, seen = time.perf_counter(), 0
                # a signal reaches ranks at different moments: stop together, at the same step
                if self._stop.is_set():
                    acc.set_trigger()
                stop = acc.check_trigger()
                if stop:
                    self._stop.set()
                if self.step % s.checkpoint_every == 0 or self.step == s.steps or stop:
                    last_saved = self.save()
                if self.sample_fn and s.sample_every and self.step % s.sample_every == 0 and acc.is_main_process:
                    self.sample_fn(self.ema_modules(), self.run_dir / "samples" / f"step-{self.step:07d}.png", self.step)
                if stop:
                    break
        finally:
            for sig, handler in previous.items():  # the process is itself again after training
                signal.signal(sig, handler)
            bar.close()
            if writer is not None:
                writer.close()
                stats.close()
        return {"step": self.step, "stopped": self._stop.is_set(), "checkpoint": last_saved, "modules": self.raw_modules}

    def ema_modules(self) -> dict:
        """Copies of the EMA-averaged modules (the weights sampling uses), in eval mode."""
        import copy

        out = {}
        for name, ema in self.ema.items():
            module = copy.deepcopy(self.raw_modules[name])
            ema.copy_to(module.parameters())
            out[name] = module.eval()
        return out

    def close(self) -> None:
        """End every rank cleanly: a barrier before tearing down gloo/NCCL (OFFLINE.md)."""
        acc = self.accelerator
        acc.wait_for_everyone()
        acc.end_training()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def _rng_state() -> dict:
    """The global RNG states as tensors and plain Python values only.

    ``state.pt`` is read back with ``torch.load(weights_only=True)``, which unpickles no
    arbitrary objects; numpy's state (a tuple holding an ndarray) would not pass, so its
    MT19937 key travels as an int64 tensor.
    """
    np_state = np.random.get_state(legacy=False)
    if np_state["bit_generator"] != "MT19937":  # numpy's global RandomState is always MT19937
        raise HeliogenError(f"cannot checkpoint numpy's {np_state['bit_generator']} global generator")
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)), "pos": int(np_state["state"]["pos"]),
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss_next},
    }


def _set_rng_state(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    cuda = rng.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    n = rng["numpy"]
    if isinstance(n, tuple):  # checkpoints from before the tensor form: numpy's own legacy tuple
        np.random.set_state(n)
    else:
        np.random.set_state({"bit_generator": "MT19937", "state": {"key": n["key"].numpy().astype(np.uint32), "pos": int(n["pos"])},
                             "has_gauss": int(n["has_gauss"]), "gauss": float(n["gauss"])})
    p = rng["python"]
    if isinstance(p, tuple):
        random.setstate(p)
    else:
        random.setstate((int(p["version"]), tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))


def _param_names(module) -> list[str]:
    return [n for n, _ in module.named_parameters()]


def _truncate_stats(path: Path, step: int) -> None:
    """Keep only the logged rows up to ``step`` (a crash may have logged past the checkpoint)."""
    if not path.is_file():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    keep = [line for line in rows if json.loads(line).get("step", 0) <= step]
    if len(keep) != len(rows):
        from ..atomic import write_text_atomic

        write_text_atomic(path, "".join(line + "\n" for line in keep))
