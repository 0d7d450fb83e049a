"""Ray Tune's trials numbered in the order the searcher asked them.

The trials table numbers a trial as its row starts (:meth:`~hpbench.results.store.ResultsStore.start`).
Tune asks its searcher for each trial in turn (Optuna's ``ask`` takes the enqueued points first, in
the order given: ``[study] enqueue``), but starts a trial once its worker is up, and with
``max_concurrent`` >= 2 the workers come up in either order: ``enqueue = [cnn, gru, transformer]``
ran as table trials gru, cnn, transformer (bug hunt s52/h3). So when a trial starts, the trials Tune
created before it that have not started yet keep the numbers before its own
(:func:`keep_ask_order`): trial 0..k-1 are the enqueued points in the order given (the early trials,
:mod:`hpbench.dispatch.early`, take them one after another first). A kept number whose trial never
starts (the search stopped while it waited for its worker) stays unused: the table has a gap there,
as a resumed search has where an interrupted trial's row was dropped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hpbench.results.store import ResultsStore

PENDING = "PENDING"  # ray.tune.experiment.Trial.PENDING: created, its worker not started


def keep_ask_order(store: ResultsStore, trials: Sequence[Any], trial: Any) -> None:
    """Before ``trial``'s row starts: keep a number for each trial of ``trials`` (Tune's, in the
    order it created them, i.e. asked the searcher) before ``trial`` that has not started."""
    ids = [t.trial_id for t in trials]
    if trial.trial_id not in ids:
        return
    for t in trials[: ids.index(trial.trial_id)]:
        if t.status == PENDING and t.trial_id not in store.trials:
            store.reserve(t.trial_id)
