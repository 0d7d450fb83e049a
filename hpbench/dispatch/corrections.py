"""The dispatcher's in-run correction of new predictions, and what an ended trial spent.

Once 4 of Ray Tune's trials have ended, each new prediction gets ``corrected_s`` (its seconds x
the ratio the ended trials measured over their predictions: :mod:`hpbench.cost.correct`) and the
label "corrected from N trials"; from 2 the run's interval alone. What a trial spent (FLOPs,
predicted seconds for the epochs it ran, the prediction's error) needs both its prediction and its
end: :func:`record_spent` computes it in the driver, whichever arrives last, and hands the store
ready columns. The live ETA reads its own pace (:mod:`hpbench.cost.pace`), not this correction.
"""

from __future__ import annotations

from typing import Any

from hpbench.cost.annotate import spent
from hpbench.cost.correct import Correction, RunningFactors, corrected_seconds, interval_bounds, scale_factors
from hpbench.dispatch.beside_early import early_busy_until, sets_pace
from hpbench.results.status import DONE
from hpbench.results.store import ResultsStore


def ended_pairs(store: ResultsStore) -> list[tuple[str, float, float]]:
    """(regime, predicted_spent_s, train_s) of the trials Ray Tune ran that ended with both: the
    observations the in-run correction learns from (:mod:`hpbench.cost.correct`). Not the early
    trials (:mod:`hpbench.dispatch.early`): they trained in the helper process while Ray started,
    at other ratios than Tune's workers (over 20 searches here the first 4 ended trials, early ones
    included, read the search's Tune trials' ratio with a median error of 30%; Tune's first 4, 17%)."""
    # kept by the store as rows change: a pass over every row here cost ~2 ms per prediction at
    # 2,000 trials (the per-trial overhead grew with the study; benchmarks/dispatch.py). Nor Tune's
    # trials that trained beside a long early trial (hpbench.dispatch.beside_early): that pace does not last.
    until = early_busy_until(store)
    return [pair for tid, pair in store.ended_costs() if sets_pace(store, tid, until=until)]


class Corrections:
    """The in-run correction's factors over :func:`ended_pairs` of one store, kept up to date from
    the store's changes (:meth:`~hpbench.results.store.ResultsStore.ended_costs_since`) as running
    sums (:class:`~hpbench.cost.correct.RunningFactors`): O(the trials ended since the last read)
    where ``scale_factors(ended_pairs(store))`` passes over every ended trial."""

    def __init__(self) -> None:
        self._store: ResultsStore | None = None
        self._cursor = 0
        self._running = RunningFactors()
        self._factors: dict[str, Correction] = {}
        self._bounds: tuple[float, float] | None = None

    def factors(self, store: ResultsStore) -> dict[str, Correction]:
        if store is not self._store:  # another store: start over from its first change
            self._store, self._cursor, self._running, self._factors, self._bounds = store, 0, RunningFactors(), {}, None
        self._cursor, changed = store.ended_costs_since(self._cursor)
        until = early_busy_until(store) if changed else None
        for tid, pair in changed:  # as ended_pairs
            self._running.set(tid, pair if sets_pace(store, tid, until=until) else None)
        if changed:
            self._factors, self._bounds = self._running.factors(), self._running.bounds()
        return self._factors

    def bounds(self, store: ResultsStore) -> tuple[float, float] | None:
        """The run's interval before the correction (:func:`hpbench.cost.correct.interval_bounds`)."""
        self.factors(store)
        return self._bounds


def corrected_columns(store: ResultsStore, columns: dict[str, Any], *, corrections: Corrections | None = None) -> dict[str, Any]:
    """``corrected_s``, ``correction`` ("corrected from N trials") and the corrected P10-P90
    (``corrected_s_p10`` / ``_p90``, :func:`hpbench.cost.correct.prediction_bounds`; that interval
    alone from 2 ended trials, :func:`~hpbench.cost.correct.interval_bounds`) for a new prediction, once
    enough trials of the study have ended (:mod:`hpbench.cost.correct`); nothing before.
    ``corrections``: the running factors of ``store`` (default: a pass over its ended trials)."""
    predicted = columns.get("predicted_s")
    if not isinstance(predicted, (int, float)):
        return {}
    factors = corrections.factors(store) if corrections is not None else scale_factors(ended_pairs(store))
    s, c = corrected_seconds(float(predicted), columns.get("regime"), factors)
    if c is None:  # before the correction, the run's interval alone once 2 trials ended (interval_bounds)
        b = corrections.bounds(store) if corrections is not None else interval_bounds(ended_pairs(store))
        return {"corrected_s_p10": float(predicted) * b[0], "corrected_s_p90": float(predicted) * b[1]} if b else {}
    band = c.interval(float(predicted))
    return {"corrected_s": s, "correction": c.label(), "corrected_s_p10": band[0] if band else None, "corrected_s_p90": band[1] if band else None}


def record_spent(store: ResultsStore, trial_id: str) -> None:
    """An ended trial's spent FLOPs, measured seconds and prediction error
    (:func:`hpbench.cost.annotate.spent`), once it has its predicted columns; nothing before."""
    row = store.row(trial_id)
    if "flops_per_epoch" not in row or row.get("status") not in DONE:
        return
    store.annotate(trial_id, spent(dict(row), epochs_run=int(row.get("epochs") or 0), measured_s=row.get("train_s")))
