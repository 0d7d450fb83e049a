"""The store's running counts and totals (what the live progress prints at every trial's end)
and its ended trials' costs (what the in-run correction reads at every prediction) equal a pass
over every row, whatever order the dispatcher's events come in. No Ray."""

from __future__ import annotations

import math
import random

from hpbench.results.columns import FLOPS_SPENT, PREDICTED_FLOPS
from hpbench.results.status import DONE, StopReason, TrialStatus
from hpbench.results.store import ResultsStore


def _by_pass(store: ResultsStore) -> tuple[dict[str, int], dict[str, float | None]]:
    counts: dict[str, int] = {}
    sums: dict[str, float | None] = {}
    for t in store.rows():
        key = str(TrialStatus.RUNNING) if t["status"] == TrialStatus.RUNNING else str(t.get("stop_reason"))
        counts[key] = counts.get(key, 0) + 1
    for c in (FLOPS_SPENT, PREDICTED_FLOPS):
        vals = [t.get(c) for t in store.rows() if isinstance(t.get(c), (int, float))]
        sums[c] = math.fsum(v for v in vals if v == v) if vals else None
    return counts, sums


def _costs_by_pass(store: ResultsStore) -> dict[str, tuple[str, float, float]]:
    out = {}
    for t in store.rows():
        p, m = t.get("predicted_spent_s"), t.get("train_s")
        if t.get("status") in DONE and isinstance(p, (int, float)) and isinstance(m, (int, float)):
            out[t["trial_id"]] = (str(t.get("regime")), float(p), float(m))
    return out


def test_counts_and_totals_follow_every_event(tmp_path):
    rng = random.Random(0)
    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["lr"])
    store.load([{"trial": 0, "trial_id": "old", "status": "finished", "stop_reason": "completed", FLOPS_SPENT: 5.0, PREDICTED_FLOPS: 6.0}], [])
    ids = ["old"]
    for step in range(400):
        tid = rng.choice(ids)
        event = rng.randrange(7)
        if event == 0 or len(ids) < 3:
            tid = f"t{step}"
            ids.append(tid)
            store.start(tid, {"lr": 0.1}, cost={PREDICTED_FLOPS: rng.uniform(1, 9)} if rng.random() < 0.5 else None)
        elif event == 1:
            store.epoch(tid, {"epoch": rng.randint(1, 5), "val_accuracy": rng.random(), "epoch_s": 0.1})
        elif event == 2:
            store.annotate(tid, {FLOPS_SPENT: rng.choice([rng.uniform(0, 9), float("nan"), None]), PREDICTED_FLOPS: rng.uniform(1, 9)})
        elif event == 3:
            store.annotate(tid, {"stop_reason": rng.choice([StopReason.EARLY_STOPPED.value, StopReason.BUDGET.value, "collapsed"])})
        elif event == 4:
            store.finish(tid, error="boom" if rng.random() < 0.2 else None)
        elif event == 5:
            store.annotate(tid, {"predicted_spent_s": rng.choice([rng.uniform(0.1, 2), None]), "regime": rng.choice(["compute", "overhead-bound"])})
        else:
            store.start(tid, {"lr": 0.2})  # a retried trial starts again
        counts, sums = _by_pass(store)
        assert dict(store.ended_costs()) == _costs_by_pass(store)
        tally = store.counts()
        assert {k: v for k, v in tally.items() if v} == counts
        assert set(tally) >= {str(k) for k in (TrialStatus.RUNNING, StopReason.COMPLETED, StopReason.PRUNED, StopReason.FAILED)}
        for c, want in sums.items():
            got = store.total(c)
            assert (got is None) == (want is None)
            if want is not None:
                assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    assert counts[str(StopReason.FAILED)] > 0 and counts[str(TrialStatus.RUNNING)] > 0  # the walk reached every kind of row
    assert len(store.ended_costs()) >= 2  # a trial that ended before its first epoch measured no train_s: it has none
