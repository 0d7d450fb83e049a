"""Which of Ray Tune's trials trained beside the early trials (:mod:`hpbench.dispatch.early`).

A fresh local search trains its first trials in the helper process while Ray starts. Where those
trials are long, the one running when Tune's first trials start goes on beside them: three
trainers on two cores. Tune's trials of that window run slower than any after it (the held-out
``benchmarks/eta_unseen/long.toml``, 20-epoch MLPs of ~1 s an epoch: its first Tune trials
measured a contention of 2.07 and an in-run correction of x1.46-1.60, the trials after the early
ones ended 1.02-1.03 and x0.92-1.02), and a live ETA that priced the rest of the search at that
pace read +111% at 25% of its trials (250-450 s for 120-160 s left). The in-run correction (the
dispatcher's and the ETA's: :class:`hpbench.dispatch.corrections.Corrections`) and the contention
the ETA measures (:func:`hpbench.dispatch.timings.measured_contention`) read the trials after
that window, not the window: it does not last.

Pure functions over the results store; torch-free.
"""

from __future__ import annotations

import itertools
import math
import time

from hpbench.dispatch.early import EARLY_ID, EARLY_PREFIX
from hpbench.results.status import TrialStatus
from hpbench.results.store import ResultsStore

# A Tune trial counts as beside the early trials when they trained during more than this share of its run
BESIDE_SHARE = 0.25


def early_busy_until(store: ResultsStore) -> float | None:
    """When the early trials stopped training (epoch seconds): the last one's end, ``inf`` while
    one is running (or queued in the helper); None where the search trained none."""
    last: float | None = None
    for k in itertools.count():
        tid = EARLY_ID.format(k)
        if tid not in store:
            return last
        row = store.row(tid)
        ended = row.get("ended_at")
        if row.get("status") == TrialStatus.RUNNING or not isinstance(ended, (int, float)):
            return math.inf
        last = float(ended) if last is None else max(last, float(ended))
    return last  # pragma: no cover (the loop returns)


def beside_early(store: ResultsStore, trial_id: str, *, until: float | None, now: float | None = None) -> bool:
    """Whether Tune's trial ``trial_id`` trained beside the early trials for more than
    :data:`BESIDE_SHARE` of its run so far (``until``: :func:`early_busy_until`); an early trial
    itself never is (it is not Tune's)."""
    if until is None or str(trial_id).startswith(EARLY_PREFIX) or trial_id not in store:
        return False
    row = store.row(trial_id)
    began = row.get("started_at")
    if not isinstance(began, (int, float)):
        return False
    ended = row.get("ended_at")
    end = float(ended) if isinstance(ended, (int, float)) else (time.time() if now is None else now)
    span = end - float(began)
    if span <= 0:
        return float(began) < until
    return min(end, until) - float(began) > BESIDE_SHARE * span


def sets_pace(store: ResultsStore, trial_id: str, *, until: float | None) -> bool:
    """Whether ``trial_id``'s measured seconds tell the pace of the search's trials to come: one
    of Tune's, not beside the early trials (an early trial trains in the helper at another pace)."""
    return not str(trial_id).startswith(EARLY_PREFIX) and not beside_early(store, trial_id, until=until)
