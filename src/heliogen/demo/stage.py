"""What every demo stage takes and returns.

A stage is a function ``stage(ctx) -> StageOutput``: it reads the output folder, the seed,
the demo's sizes and what earlier stages produced from ``ctx``, and returns its report
section(s) and what later stages need. :mod:`heliogen.demo.run` lists the stages with their
time budgets and runs them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..viz.report import Section

__all__ = ["DemoSizes", "DemoContext", "StageOutput", "Stage"]


@dataclass(frozen=True)
class DemoSizes:
    """How much each stage does. The defaults are measured to fit the stages' budgets on 2 CPU cores.

    Parameters
    ----------
    n_euv : int
        Synthetic EUV images (and GOES times); also the held-out set's size.
    euv_size : int
        The EUV store's image size in pixels (the diffusion model trains at 32 px).
    diffusion_steps : int
        Training steps of the class-conditional diffusion model.
    tile_steps : int
        Training steps of the granulation tile GAN.
    gan_steps : int
        Training steps of the full-disk EUV GAN.
    """

    n_euv: int = 48
    euv_size: int = 64
    diffusion_steps: int = 400  # 0.22 CPU s a step on one thread: about 90 s of the stage's 150 s
    tile_steps: int = 150  # 0.08 CPU s a step: banking and the three mosaics cost more
    gan_steps: int = 40  # about 1.4 s a step on 2 cores; four FD evaluations, sampling and GANSpace take the rest


@dataclass
class DemoContext:
    """A stage's inputs: where to write, the seed, the sizes, and earlier stages' products."""

    out: Path
    seed: int = 0
    sizes: DemoSizes = field(default_factory=DemoSizes)
    budget_s: float = 0.0  # the running stage's time share, for stages that scale their work to it
    products: dict = field(default_factory=dict)

    @property
    def raw(self) -> Path:
        """Synthetic FITS and CSV files, one folder per kind."""
        return self.out / "data"

    @property
    def stores(self) -> Path:
        return self.out / "stores"

    @property
    def figures(self) -> Path:
        return self.out / "figures"

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    def __getitem__(self, key: str):
        """A product of an earlier stage (a clear error names it when the stage order is wrong)."""
        if key not in self.products:
            raise KeyError(f"no earlier demo stage produced {key!r}; have {sorted(self.products)}")
        return self.products[key]


@dataclass
class StageOutput:
    """A stage's report sections and the products (paths, small dicts) later stages read."""

    sections: list[Section] = field(default_factory=list)
    products: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One demo stage: a name for the timing table, the function, and its time share in seconds."""

    name: str
    run: Callable[[DemoContext], StageOutput]
    budget_s: float
