"""One search's record for this machine's history (:mod:`hpbench.cost.history`): its ended trials'
times as the record reads them (:class:`TrialTimes`), the slots' figures they measure and the record
itself (:func:`search_record`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpbench.cost.ends import searched_lr
from hpbench.cost.history import SCHEMA
from hpbench.results.status import StopReason

ENDED_BY_THEMSELVES = (StopReason.EARLY_STOPPED, StopReason.COMPLETED)  # whose best epoch tells where early stopping ends trials
# the ends of trials without early stopping that tell where such trials end: their task's own stops, or max_epochs
# (not a scheduler's pruning, a budget's cut or a failure; nor a time limit's: the replay caps each trial at its own
# max_time_s, hpbench.cost.trial_plan, which an end fraction would count twice)
OWN_ENDS = (StopReason.COMPLETED, StopReason.DIVERGED, StopReason.SOLVED, StopReason.COLLAPSED)


@dataclass(frozen=True, kw_only=True)
class TrialTimes:
    """One ended search trial as the record reads it (the results store's columns)."""

    started_at: float
    ended_at: float
    train_s: float
    epochs: int
    max_epochs: int
    stop_reason: str
    predicted_epoch_s: float | None = None
    best_epoch: int | None = None  # early stopping's best epoch, 1-based (es_best_epoch + 1)
    first_epoch_s: float | None = None  # measured: its first epoch (contention-free seconds where CPU time was measured)
    later_epoch_s: float | None = None  # measured: the median of its later epochs (the same)
    params: Mapping[str, Any] | None = None  # its configuration (what re-prices it against another model: hpbench.cost.reprice)
    batch_rows: float = 0.0  # its rows per step (0: not priced)
    contention: float | None = None  # its epochs' wall / contention-free seconds (None: no CPU time measured, the seconds are wall's)


def _median(xs: Iterable[float]) -> float | None:
    values = [x for x in xs if x == x]
    return statistics.median(values) if values else None


def slot_figures(trials: Sequence[TrialTimes], *, concurrency: int) -> dict[str, float | None]:
    """A fresh worker's start, the per-trial set-up and the turnover, from ended trials: the first
    ``concurrency`` trials ran on fresh workers; each later trial took the slot of the latest trial
    that had ended before it started, and the gap between them is turnover."""
    ordered = sorted(trials, key=lambda t: t.started_at)
    over = [t.ended_at - t.started_at - t.train_s for t in ordered]
    setup = _median(over[concurrency:])
    fresh = _median(o - (setup or 0.0) for o in over[:concurrency])
    ends: list[float] = []
    gaps = []
    for i, t in enumerate(ordered):
        if i >= concurrency:
            before = [e for e in ends if e <= t.started_at + 1e-6]
            if before:
                ends.remove(max(before))
                gaps.append(t.started_at - max(before))
        ends.append(t.ended_at)
    return {"fresh_worker_s": fresh, "setup_s": setup, "turnover_s": _median(gaps)}


def search_record(*, run_id: str, study: str, trials: Sequence[TrialTimes], started_at: float, command: bool, ray_started: bool,
                  warm_runtime: bool = False, cpus: int, concurrency: int, cpus_per_trial: float, contention: float | None, phases: Mapping[str, float],
                  eta: Sequence[Sequence[float]] = (), configs: Sequence[Mapping[str, Any]] = (),
                  quality_rho: float | None = None) -> dict[str, Any]:
    """The record of one search (``phases``: measured seconds of ``search_s``, ``tail_s``,
    ``repeats_s``, ``devices_s``, ``replay_start_s``, ``test_s``, each only when it ran;
    ``quality_rho``: the rank correlation of its trials' cost and score, :mod:`hpbench.cost.quality`)."""
    first = min((t.started_at for t in trials), default=None)
    # A trial's first epoch is slower than the rest (lazy initialization, the optimizer's state,
    # cold caches): the speed ratio is read from later epochs, the first epoch's extra apart.
    speeds = [t.later_epoch_s / t.predicted_epoch_s for t in trials if t.predicted_epoch_s and t.later_epoch_s]
    by_family: dict[str, list[float]] = {}  # a searched family's trials (signals' GRUs ran 2-3x their predictions, its CNNs ~1x)
    for t in trials:
        if t.predicted_epoch_s and t.later_epoch_s and isinstance((t.params or {}).get("family"), str):
            by_family.setdefault(str((t.params or {})["family"]), []).append(t.later_epoch_s / t.predicted_epoch_s)
    if not speeds:
        speeds = [t.train_s / (t.epochs * t.predicted_epoch_s) for t in trials if t.predicted_epoch_s and t.epochs and t.train_s > 0]
    speed = _median(speeds)
    # Seconds with the waits for a CPU taken out (hpbench.dispatch.timings.free_s): a loaded run
    # then teaches the same speed as a quiet one (the quickstart's figure, learned at load 6-49,
    # read 2.45x where the quiet run measured 1.5x); the live ETA puts back the contention its own
    # trials measure (figures.Figures.trials_contention).
    # speed_contention: the trials' median contention as the speed reads it (later epochs' median wall over
    # their median contention-free seconds; not the sums': a few hiccups put the quickstart's at 1.75 where its epochs read 1.0-1.25)
    free = [t.contention for t in trials if t.predicted_epoch_s and t.later_epoch_s]
    first_extra = _median(max(0.0, t.first_epoch_s - (speed or 1.0) * t.predicted_epoch_s) for t in trials
                          if t.first_epoch_s is not None and t.predicted_epoch_s and speeds)
    own = [t for t in trials if t.best_epoch is not None and t.stop_reason in ENDED_BY_THEMSELVES and t.max_epochs > 0]
    best = [min(1.0, (t.best_epoch or 0) / t.max_epochs) for t in own]
    # the learning rate each ran at (0: not searched) and its rows per step (0: not priced); 0 for a trial that ran every
    # epoch (early stopping never fired): its best is a lower bound, not moved to another rate or batch (hpbench.cost.ends)
    censored = [t.stop_reason == StopReason.COMPLETED for t in own]
    best_lrs = [0.0 if c else searched_lr(t.params or {}) or 0.0 for t, c in zip(own, censored, strict=True)]
    best_batches = [0.0 if c else t.batch_rows for t, c in zip(own, censored, strict=True)]
    ends = [min(1.0, t.epochs / t.max_epochs) for t in trials if t.stop_reason in OWN_ENDS and t.max_epochs > 0 and t.epochs > 0]
    return {
        "schema": SCHEMA, "run_id": run_id, "at": time.time(), "study": study, "command": command, "ray_started": ray_started,
        **({"warm_runtime": True} if warm_runtime else {}), "cpus": cpus, "concurrency": concurrency, "cpus_per_trial": cpus_per_trial, "contention": contention,
        "n_trials": len(trials), "startup_s": first - started_at if first is not None and (ray_started or warm_runtime) else None,
        **(slot_figures(trials, concurrency=concurrency) if trials else {}),
        "speed": speed, "speed_free": bool(free) and all(c is not None for c in free),
        "speed_contention": _median(c for c in free if c is not None), "family_speeds": {f: _median(v) for f, v in by_family.items()},
        "first_epoch_s": first_extra, "best_fractions": best,
        **({"best_lrs": best_lrs} if any(best_lrs) else {}), **({"best_batches": best_batches} if any(best_batches) else {}),
        "end_fractions": ends, **dict(phases), "eta": [list(p) for p in eta],
        "configs": [dict(c) for c in configs], "quality_rho": quality_rho,
    }
