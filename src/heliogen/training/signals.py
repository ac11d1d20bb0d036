"""Pre-emption: SIGTERM or SIGUSR1 asks training to checkpoint at the end of the step and stop.

Clusters (SLURM's ``--signal``, Kubernetes) send one of these before they kill a job. The
handlers are installed only for the duration of training and the previous ones restored, so
the process is itself again afterwards.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from typing import Callable

__all__ = ["PREEMPTION_SIGNALS", "stop_on_signals"]

log = logging.getLogger("heliogen")

PREEMPTION_SIGNALS = tuple(s for s in (signal.SIGTERM, getattr(signal, "SIGUSR1", None)) if s is not None)


@contextmanager
def stop_on_signals(stop: threading.Event, on_signal: Callable[[int], None] | None = None):
    """Set ``stop`` when a pre-emption signal arrives, inside the ``with`` block.

    Python delivers signals to the main thread only; elsewhere (a notebook's worker thread)
    nothing is installed and training simply runs.
    """

    def handler(signum, frame):
        log.warning("signal %d: checkpointing at the end of this step, then stopping", signum)
        stop.set()
        if on_signal is not None:
            on_signal(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in PREEMPTION_SIGNALS:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
