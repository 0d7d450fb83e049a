"""Replays planned after a search: the top configurations with other seeds (repeats), and
every configuration on the other devices of ``[train] devices``.

The runs go through the same trainable and recorder as the search (``hpbench.dispatch.runner``)
and land in the same tables, labelled ``repeat`` (1..N), ``repeat_of`` (the search trial) and
``seed``. The report turns them into mean ± 95% CI and statistical ties
(hpbench/report/stats.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hpbench.dispatch.trainable import Replay
from hpbench.results.columns import DEVICE_OF, REPEAT, REPEAT_OF, SEED
from hpbench.results.ranking import ranked_rows
from hpbench.results.status import TrialStatus, is_search_trial
from hpbench.results.store import ResultsStore
from hpbench.space.space import SearchSpace
from hpbench.study.schema import Study


def plan_repeats(study: Study, store: ResultsStore, *, n_repeats: int) -> list[Replay]:
    """The ``[study] repeats_top`` best distinct configurations of the search (the best trial of
    each: a configuration the searcher proposed twice, which small spaces and TPE do, is repeated
    once), each with seeds ``seed + 1 .. seed + N`` (the search used ``seed``, so every repeat
    seed is new); runs already in the tables (a resumed search) are not planned again."""
    if n_repeats < 1:
        return []
    # the ranked search trials (finished, with a value): a configuration that failed is never re-run
    done = ranked_rows(store.rows(), metric=store.metric, mode=store.mode)
    have = {(t.get(REPEAT_OF), t.get(REPEAT)) for t in store.rows() if t.get(REPEAT) and t.get("status") == TrialStatus.FINISHED}
    top: dict[str, tuple[Mapping[str, Any], dict[str, Any]]] = {}  # by configuration: its best trial and its values
    for t in done:
        params = searched_params(t, study.space)
        top.setdefault(repr(sorted((k, str(v)) for k, v in params.items())), (t, params))
        if len(top) == study.settings.repeats_top:
            break
    runs = []
    for t, params in top.values():
        for r in range(1, n_repeats + 1):
            if (int(t["trial"]), r) in have:
                continue
            seed = study.settings.seed + r
            runs.append(Replay(params=params, seed=seed, labels={REPEAT: r, REPEAT_OF: int(t["trial"]), SEED: seed}))
    return runs


def plan_device_runs(study: Study, store: ResultsStore, *, device: str) -> list[Replay]:
    """Every search trial that trained (any end but a failure), run again on ``device`` with
    the same seed; runs already in the tables are not planned again."""
    have = {t.get(DEVICE_OF) for t in store.rows() if t.get(DEVICE_OF) is not None and t.get("device") == device
            and t.get("status") == TrialStatus.FINISHED}
    runs = []
    for t in sorted(store.rows(), key=lambda t: t["trial"]):
        if not is_search_trial(t) or t.get("status") != TrialStatus.FINISHED or int(t["trial"]) in have:
            continue
        params = searched_params(t, study.space)
        runs.append(Replay(params=params, seed=study.settings.seed, labels={DEVICE_OF: int(t["trial"])}, device=device))
    return runs


def searched_params(row: Mapping[str, Any], space: SearchSpace) -> dict[str, Any]:
    """A trial's searched hyperparameters as the searcher gave them (inactive ones, missing in
    its row or NaN after a round trip through the tables, left out), each read back as its
    dimension's own value (a tuple stored as a list, a 64 stored as "64" beside "full")."""
    keys = space.keys()
    return space.resolve({k: row[k] for k in keys if row.get(k) is not None and not (isinstance(row[k], float) and math.isnan(row[k]))})
