"""How many of a search's first trials the helper trains while Ray starts (the early trials,
:mod:`hpbench.dispatch.early`), as the wall-time model (:mod:`hpbench.cost.walltime`) counts them:
inside the start-up, so not in Tune's slots. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

from hpbench.cost.figures import Figures
from hpbench.cost.simulate import SimTrial

# The helper trains its first early trial once the pre-flight and the trainer's warm-up are done:
# 3.4-4.9 s after the command started (benchmarks/timeline.py, the race's digits, session 11, load 2.8)
EARLY_READY_S = 4.9


def early_window_s(figures: Figures, c: float, *, warm: bool = False) -> float:
    """Seconds the helper trains early trials: from its warm-up's end until Tune's first trial
    reports (the start-up to Tune's first trial, then a fresh worker's start); ``warm``: the
    search joins the warm local runtime (no Ray to start)."""
    return max(0.0, figures.startup(early=True, contention=c, warm=warm) + figures.at("fresh_worker_s", c) - EARLY_READY_S)


def early_count(trials: Sequence[SimTrial], *, least: int, most: int, window_s: float) -> int:
    """How many of the search's first ``trials`` the helper trains (:mod:`hpbench.dispatch.early`):
    ``least`` launched at once, then one after another while their epochs fit in ``window_s``, at
    most ``most`` in all, and never the last one (Tune runs at least one)."""
    k, spent = 0, 0.0
    for t in trials[: min(max(least, most), len(trials) - 1)]:
        spent += t.epoch_s * t.epochs
        if k >= least and spent > window_s:
            break
        k += 1
    return k
