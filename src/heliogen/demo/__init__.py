"""The demo: heliogen's pipeline end to end on the synthetic Sun, written up as an HTML report.

The demo is a list of stages (:data:`STAGES`), one module each: synthesise, build stores,
flare labels, quicklooks, class-conditional diffusion, evaluation, granulation tiles and
mosaics. Each stage takes a :class:`DemoContext` and returns its report section and what
later stages need; :func:`run_demo` runs them in order, timing each against its budget.
"""

from .run import DEMO_BUDGET_S, RESERVED_S, STAGE_BUDGETS, STAGES, run_demo
from .stage import DemoContext, DemoSizes, Stage, StageOutput

__all__ = ["run_demo", "STAGES", "STAGE_BUDGETS", "RESERVED_S", "DEMO_BUDGET_S", "DemoContext", "DemoSizes", "Stage", "StageOutput"]
