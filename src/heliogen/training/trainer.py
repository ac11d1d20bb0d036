"""The training loop every heliogen trainer uses, on HF accelerate.

One process or many (``accelerate launch``, ``torchrun``, SLURM): the loop is the same.
It owns what all trainers share: devices and mixed precision, deterministic step-indexed
batches, gradient clipping, EMA of weights, atomic checkpoints every K steps and exact
resume, pre-emption (SIGTERM/SIGUSR1 checkpoint, then stop), ``stats.jsonl`` and TensorBoard
logs, sample grids, FD against a held-out store with a best-FD checkpoint pointer
(``eval_every``; :mod:`heliogen.training.fd_eval`), and a tqdm bar on rank 0. A trainer
supplies the modules, their optimizers and a ``step_fn`` that computes losses and calls
:meth:`StepContext.optimize`; for FD evaluation it also supplies ``generate_fn``::

    with Trainer(run_dir, settings, modules, optimizers, ["model"], dataset, step_fn) as trainer:
        result = trainer.run()

Leaving the ``with`` block ends every rank cleanly, whether training finished or failed.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..device import resolve_device
from ..errors import HeliogenError
from ..progress import bars_off
from .batches import StepBatchSampler, step_seed
from .checkpoint import latest_checkpoint, load_state, load_weights, save_checkpoint, save_module, set_aside_later_checkpoints
from .ema import ema_weights, make_ema
from .fd_eval import FDEvaluator, check_eval_settings
from .logs import TrainLogs
from .rng import rng_state, set_rng_state
from .signals import stop_on_signals

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
    ema_kimg: float = 0.0  # > 0: StyleGAN2's EMA, half-life in thousands of images (then ``ema`` is unused)
    ema_rampup: float = 0.0  # > 0: ramp that half-life up as this times the images seen
    grad_clip: float = 1.0
    checkpoint_every: int = 1000
    sample_every: int = 0
    log_every: int = 10
    keep_checkpoints: int = 3
    seed: int = 0
    mixed_precision: str = "auto"  # auto: bf16 on a GPU that has it, else fp16; none on CPU unless "bf16"
    device: str = "auto"
    workers: int = 0
    resume: str = "auto"  # auto | never | PATH to a checkpoint directory
    progress: bool = True
    eval_every: int = 0  # FD against eval_data every K steps (0: off); keeps checkpoints/best
    eval_data: str | None = None  # the held-out store
    eval_n: int = 1000  # images generated and held-out images compared
    eval_features: str = "inception"  # a registered feature extractor


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

    Use it as a context manager: leaving the block calls :meth:`close` on every rank.

    Parameters
    ----------
    run_dir : path
    settings : TrainSettings
    modules : dict of name -> torch.nn.Module
        Saved as one ``save_pretrained`` folder each per checkpoint.
    optimizers : dict of name -> callable(module dict) -> torch.optim.Optimizer
    ema_modules : sequence of str
        Modules whose weights get an exponential moving average (``<name>_ema`` in checkpoints).
    dataset : torch Dataset
    step_fn : callable(batch, StepContext) -> dict of float
    sample_fn : callable(ema modules dict, path, step), optional
        Writes a sample grid every ``settings.sample_every`` steps (rank 0).
    trainable_only : sequence of str
        Modules saved as their trainable parameters only (adapters on a frozen base).
    generate_fn : callable(ema modules dict, n, seed) -> array (n, C, S, S), optional
        ``n`` images in the training store's model range, image k from seed ``seed + k``; the
        trainer calls it with the same seed at every evaluation (``settings.eval_every``), on
        rank 0, and computes their FD against ``settings.eval_data``.
    states : dict of name -> object, optional
        Training state outside the modules (an ADA controller's probability): each object's
        plain-Python ``state_dict()`` is saved in every checkpoint and given back to its
        ``load_state_dict`` on resume, so that state resumes exactly too.
    """

    def __init__(self, run_dir, settings: TrainSettings, modules: dict, optimizers: dict, ema_modules, dataset,
                 step_fn: Callable, sample_fn: Callable | None = None, trainable_only=(), generate_fn: Callable | None = None,
                 states: dict | None = None):
        from accelerate import Accelerator

        self.run_dir = Path(run_dir)
        self.settings = settings
        if settings.steps < 1 or settings.batch < 1:
            raise HeliogenError("--steps and --batch must be at least 1")
        check_eval_settings(settings)
        # accelerate places each process on its own GPU; the choice here is CUDA or the CPU
        cuda = resolve_device(settings.device).startswith("cuda")
        precision = settings.mixed_precision
        if precision == "auto":
            precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else ("fp16" if cuda else "no")
        # fp16 needs a GPU's loss scaling; bf16 autocast also runs on the CPU when asked for by name
        if precision == "fp16" and not cuda:
            log.warning("--mixed-precision fp16 needs a GPU; training in float32 (bf16 runs on the CPU)")
        self.accelerator = Accelerator(cpu=not cuda, mixed_precision=precision if cuda or precision == "bf16" else "no")
        world = self.accelerator.num_processes
        if settings.batch % world:
            raise HeliogenError(f"--batch {settings.batch} is not divisible by the {world} processes")
        self.dataset = dataset
        self.step_fn, self.sample_fn = step_fn, sample_fn
        self.raw_modules = dict(modules)
        self.trainable_only = set(trainable_only)
        self.states = dict(states or {})
        self.optimizers = {name: make(self.raw_modules) for name, make in optimizers.items()}
        prepared = self.accelerator.prepare(*self.raw_modules.values(), *self.optimizers.values())
        k = len(self.raw_modules)
        self.modules = dict(zip(self.raw_modules, prepared[:k]))
        self.optimizers = dict(zip(self.optimizers, prepared[k:]))
        self.ema = {name: make_ema(self.raw_modules[name].parameters(), settings.ema, settings.batch, settings.ema_kimg, settings.ema_rampup)
                    for name in ema_modules}
        self.evaluator = None
        if settings.eval_every > 0:
            self.evaluator = FDEvaluator(run_dir, settings, generate_fn, getattr(dataset, "store", None), str(self.accelerator.device))
        self.step = 0
        self._resumed_from: Path | None = None  # the checkpoint training continues from, if any
        self._stop = threading.Event()

    def __enter__(self) -> "Trainer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- checkpoints ------------------------------------------------------------------
    def _write_modules(self, folder: Path) -> None:
        for name, module in self.raw_modules.items():
            save_module(module, folder / name, trainable_only=name in self.trainable_only)
        for name, ema in self.ema.items():
            # the averaged parameters; buffers (BatchNorm statistics) come from the live model
            with ema_weights(ema, self.raw_modules[name]) as averaged:
                save_module(averaged, folder / f"{name}_ema", trainable_only=name in self.trainable_only)

    def save(self) -> Path | None:
        acc = self.accelerator
        acc.wait_for_everyone()
        path = None
        if acc.is_main_process:
            state = {
                "step": self.step,
                "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                "ema": {n: e.state_dict() for n, e in self.ema.items()},
                "rng": rng_state(),
                "extra": {n: obj.state_dict() for n, obj in self.states.items()},
                # fp16's loss scale, so a resumed run scales (and skips steps) as the uninterrupted one would
                "scaler": acc.scaler.state_dict() if getattr(acc, "scaler", None) is not None else None,
                # plain values only (a Path would make weights_only loading refuse the file)
                "settings": json.loads(json.dumps(asdict(self.settings), default=str)),
            }
            path = save_checkpoint(self.run_dir, self.step, self._write_modules, state, keep=self.settings.keep_checkpoints)
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
                module.load_state_dict(load_weights(ckpt, name), strict=name not in self.trainable_only)
            except RuntimeError as err:
                raise HeliogenError(f"checkpoint {ckpt} does not fit the model ({str(err).splitlines()[0]})") from None
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, ema in self.ema.items():
            ema.load_state_dict(state["ema"][name])
        for name, obj in self.states.items():
            if name not in state.get("extra", {}):
                raise HeliogenError(f"checkpoint {ckpt} holds no {name} state; it was written by another trainer")
            obj.load_state_dict(state["extra"][name])
        set_rng_state(state["rng"])
        self._resumed_from = ckpt
        if state.get("scaler") and getattr(self.accelerator, "scaler", None) is not None:
            self.accelerator.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        log.info("resumed from %s at step %d", ckpt, self.step)

    # -- the loop ---------------------------------------------------------------------
    def _start(self) -> None:
        """Resume, then set aside checkpoints of another history (rank 0)."""
        acc = self.accelerator
        self._resume()
        if acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            # one history per run directory: checkpoints past the step training continues
            # from (resumed from an older one, or started afresh) are moved aside
            src = self._resumed_from
            foreign = src is not None and src.resolve().parent != (self.run_dir / "checkpoints").resolve()
            set_aside_later_checkpoints(self.run_dir, self.step, foreign=foreign)
            if self.evaluator is not None:
                self.evaluator.restore(self.step)  # the best so far is kept, not beaten by a worse FD
        acc.wait_for_everyone()

    def _loader(self):
        from torch.utils.data import DataLoader

        s, acc = self.settings, self.accelerator
        sampler = StepBatchSampler(len(self.dataset), s.batch, self.step, s.steps, s.seed, acc.process_index, acc.num_processes)
        # The loader draws its workers' base seed from its own generator: from the global torch RNG,
        # it would shift that RNG by one draw at every (re)start and break exact resume for any
        # step_fn that uses it.
        loader_seed = int(np.random.SeedSequence([s.seed, self.step, acc.process_index, 1]).generate_state(1, dtype=np.uint64)[0] % 2**63)
        return DataLoader(self.dataset, batch_sampler=sampler, num_workers=s.workers, generator=torch.Generator().manual_seed(loader_seed))

    def _train_step(self, batch) -> dict:
        for module in self.modules.values():
            module.train()
        ctx = StepContext(self, self.step)
        with self.accelerator.autocast():
            metrics = self.step_fn(batch, ctx)
        for name, ema in self.ema.items():
            ema.step(self.raw_modules[name].parameters())
        self.step += 1
        return metrics

    def _should_stop(self) -> bool:
        # a signal reaches ranks at different moments: stop together, at the same step
        acc = self.accelerator
        if self._stop.is_set():
            acc.set_trigger()
        stop = acc.check_trigger()
        if stop:
            self._stop.set()
        return stop

    def run(self) -> dict:
        """Train; returns ``{"step", "stopped", "checkpoint", "modules"}`` (the trained modules)."""
        from tqdm.auto import tqdm

        s, acc = self.settings, self.accelerator
        self._start()
        last_saved = None
        with stop_on_signals(self._stop), TrainLogs(self.run_dir, self.step, acc.is_main_process) as logs:
            bar = tqdm(total=s.steps, initial=self.step, desc="train", unit="step", disable=bars_off(acc.is_main_process and s.progress))
            try:
                for batch in self._loader():
                    metrics = self._train_step(batch)
                    bar.update(1)
                    if acc.is_main_process and (self.step % s.log_every == 0 or self.step == s.steps):
                        lr = self.optimizers[next(iter(self.optimizers))].param_groups[0]["lr"]
                        logs.write(self.step, metrics, lr, s.batch)
                        bar.set_postfix({k: f"{float(v):.4g}" for k, v in metrics.items()})
                    else:
                        logs.count(s.batch)
                    stop = self._should_stop()
                    evaluate = self.evaluator is not None and self.step % s.eval_every == 0
                    # an evaluated step always has a checkpoint, for checkpoints/best to name
                    if self.step % s.checkpoint_every == 0 or self.step == s.steps or stop or evaluate:
                        last_saved = self.save()
                    if evaluate:
                        self._evaluate(logs)
                    if self.sample_fn and s.sample_every and self.step % s.sample_every == 0 and acc.is_main_process:
                        self.sample_fn(self.ema_modules(), self.run_dir / "samples" / f"step-{self.step:07d}.png", self.step)
                    if stop:
                        break
            finally:
                bar.close()
        return {"step": self.step, "stopped": self._stop.is_set(), "checkpoint": last_saved, "modules": self.raw_modules}

    def _evaluate(self, logs: "TrainLogs") -> None:
        """FD at this step on rank 0 (logged as ``fd``); moves ``checkpoints/best`` if it is the lowest."""
        acc = self.accelerator
        if acc.is_main_process:
            fd = self.evaluator.evaluate(self.ema_modules())
            better = self.evaluator.consider(self.step, fd)
            logs.write_row(self.step, {"fd": fd}, {"fd_features": self.settings.eval_features, "fd_n": self.settings.eval_n})
            log.info("step %d: FD %.4g%s", self.step, fd, " (best so far)" if better else "")
        acc.wait_for_everyone()

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
        """End every rank cleanly: a barrier before tearing down gloo/NCCL, whose teardown
        otherwise races a rank that is still writing the last checkpoint."""
        acc = self.accelerator
        acc.wait_for_everyone()
        acc.end_training()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
