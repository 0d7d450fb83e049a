"""Replays planned after a search: the top configurations with other seeds (repeats), and
every configuration on the other devices of ``[train] devices``.

The runs go through the same trainable and recorder as the search (``hpbench.dispatch.runner``)
and land in the same tables, labelled ``repeat`` (1..N), ``repeat_of`` (the search trial) and
``seed``. The report turns them into mean ± 95% CI and statistical ties
(hpbench/report/stats.py)."""

from __future__ import annotations

import math

from hpbench.dispatch.trainable import Replay
from hpbench.results.columns import DEVICE_OF, REPEAT, REPEAT_OF, SEED
from hpbench.results.store import ResultsStore
from hpbench.study.schema import Study


def plan_repeats(study: Study, store: ResultsStore, *, n_repeats: int) -> list[Replay]:
    """The ``[study] repeats_top`` best search trials, each with seeds ``seed + 1 .. seed + N`` (the search used
    ``seed``, so every repeat seed is new); runs already in the tables (a resumed search) are
    not planned again."""
    if n_repeats < 1:
        return []
    key = f"best_{store.metric}"
    done = [t for t in store.trials.values()
            if not t.get(REPEAT) and t.get(DEVICE_OF) is None and isinstance(t.get(key), float) and math.isfinite(t[key])]
    done.sort(key=lambda t: t[key], reverse=store.mode == "max")
    have = {(t.get(REPEAT_OF), t.get(REPEAT)) for t in store.trials.values() if t.get(REPEAT) and t.get("status") == "finished"}
    runs = []
    for t in done[: study.settings.repeats_top]:
        params = {k: t[k] for k in store.param_keys if t.get(k) is not None and not (isinstance(t[k], float) and math.isnan(t[k]))}
        for r in range(1, n_repeats + 1):
            if (int(t["trial"]), r) in have:
                continue
            seed = study.settings.seed + r
            runs.append(Replay(params=params, seed=seed, labels={REPEAT: r, REPEAT_OF: int(t["trial"]), SEED: seed}))
    return runs


def plan_device_runs(study: Study, store: ResultsStore, *, device: str) -> list[Replay]:
    """Every search trial that trained (any end but a failure), run again on ``device`` with
    the same seed; runs already in the tables are not planned again."""
    have = {t.get(DEVICE_OF) for t in store.trials.values() if t.get(DEVICE_OF) is not None and t.get("device") == device
            and t.get("status") == "finished"}
    runs = []
    for t in sorted(store.trials.values(), key=lambda t: t["trial"]):
        if t.get(REPEAT) or t.get(DEVICE_OF) is not None or t.get("status") != "finished" or int(t["trial"]) in have:
            continue
        params = {k: t[k] for k in store.param_keys if t.get(k) is not None and not (isinstance(t[k], float) and math.isnan(t[k]))}
        runs.append(Replay(params=params, seed=study.settings.seed, labels={DEVICE_OF: int(t["trial"])}, device=device))
    return runs
