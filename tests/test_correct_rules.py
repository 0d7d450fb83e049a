"""The replay harness of the in-run correction's candidates (benchmarks/correct_rules.py, issue 13):
its schedule, its de-duplication of recorded runs, its causality, and that its rule
``regime / mean / w=4 / early trials: none`` is hpbench.cost.correct's own, trial by trial, so that the comparison
in results/benchmarks/correct_replay-s11.md compares against what hpbench does."""

from __future__ import annotations

import math
import random

import pytest

from benchmarks import correct_rules as cr

REL = 1e-9


def _study(n: int, *, concurrent: int, seed: int, early: int = 0) -> list[cr.Row]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        p = rng.uniform(0.05, 3.0)
        rows.append({"run": "r", "concurrent": concurrent, "study": "s", "trial": i, "in_ray": i >= early, "predicted_s": p,
                     "measured_s": p * math.exp(rng.gauss(0.2, 0.3)), "regime": rng.choice(("compute-bound", "memory-bound")),
                     "family": rng.choice(("mlp", "cnn", "gru"))})
    for r, (s, e) in zip(rows, cr.simulated([r["measured_s"] for r in rows], concurrent), strict=True):
        r["started_at"], r["ended_at"] = s, e
    return rows


def test_the_simulated_schedule_starts_each_trial_when_a_slot_frees():
    assert cr.simulated([1.0, 2.0, 3.0], 1) == [(0.0, 1.0), (1.0, 3.0), (3.0, 6.0)]
    assert cr.simulated([1.0, 2.0, 3.0, 1.0], 2) == [(0.0, 1.0), (0.0, 2.0), (1.0, 4.0), (2.0, 3.0)]


def test_a_file_whose_measured_seconds_another_holds_counts_once():
    a = [{"predicted_s": 1.0, "measured_s": 1.5}, {"predicted_s": 2.0, "measured_s": 2.5}]
    again = [dict(r) for r in a]  # the same run saved twice
    other = [{"predicted_s": 1.0, "measured_s": 1.7}]  # the same draw timed again: another run
    assert len(cr.distinct({"cost_model": a, "cost_model-s9-quiet": again, "cost_model-after": other})) == 2


@pytest.mark.parametrize("concurrent", [1, 2])
def test_regime_mean_w4_on_tunes_trials_is_hpbench_own_rule_trial_by_trial(concurrent):
    rows = [r for seed in range(4) for r in _study(14, concurrent=concurrent, seed=seed, early=3)]
    for i, r in enumerate(rows):
        r["study"] = f"s{i // 14}"
    mine = cr.evaluate(rows, lambda b, t: cr.corrected(cr.Rule(key="regime", estimator="mean", shrink=4.0, early="none"), b, t))
    theirs = cr.current(rows)
    assert len(mine) == len(theirs) > 20
    for m, h in zip(mine, theirs, strict=True):
        assert m["err"] == pytest.approx(h["err"], rel=REL, abs=1e-12)
        assert m["inside"] == h["inside"]


def test_a_trial_is_never_corrected_from_itself_or_from_a_trial_still_running():
    rows = _study(10, concurrent=2, seed=7)
    rule = cr.Rule(key="pooled", estimator="mean", shrink=0.0, early="all")
    before = cr.evaluate(rows, lambda b, t: cr.corrected(rule, b, t))
    last = max(rows, key=lambda r: r["ended_at"])  # ends after every other trial started: it corrects none of them
    last["measured_s"] *= 10.0
    after = cr.evaluate(rows, lambda b, t: cr.corrected(rule, b, t))
    changed = [a["err"] != b["err"] for a, b in zip(after, before, strict=True)]
    assert changed.count(True) <= 1  # its own error alone


def test_the_pooled_geometric_mean_without_shrinkage_by_hand():
    rows = [{"regime": "x", "family": "mlp", "in_ray": True, "predicted_s": 1.0, "measured_s": m} for m in (1.0, 2.0, 4.0, 8.0)]
    t = {"regime": "x", "family": "mlp", "in_ray": True, "predicted_s": 3.0, "measured_s": 1.0}
    s, band = cr.corrected(cr.Rule(key="pooled", estimator="mean", shrink=0.0), rows, t) or (0.0, None)
    assert s == pytest.approx(3.0 * math.sqrt(8.0), rel=REL)  # exp(mean of log 1, 2, 4, 8) = 2^1.5
    assert band is not None and band[0] < s < band[1]
    assert cr.corrected(cr.Rule(key="pooled", estimator="mean", shrink=0.0), rows[:3], t) is None  # fewer than 4 ended


def test_the_seconds_left_are_exact_for_every_factor_when_every_trial_reads_twice_its_prediction():
    from benchmarks import correct_strategies as cs

    rows = _study(10, concurrent=1, seed=3)
    for r in rows:
        r["measured_s"] = 2.0 * r["predicted_s"]
    for r, (s, e) in zip(rows, cr.simulated([r["measured_s"] for r in rows], 1), strict=True):
        r["started_at"], r["ended_at"] = s, e
    got = cs.remaining(rows)
    assert got["uncorrected"]["median"] == pytest.approx(0.5, rel=REL)  # predicted half of what it took
    assert got["regime / sums (the ETA's factor)"]["median"] == pytest.approx(0.0, abs=1e-12)
    assert got["regime / mean / w=0"]["median"] == pytest.approx(0.0, abs=1e-12)
    assert 0.0 < got["regime / mean / w=4 (the per-trial factor)"]["median"] < 0.5  # shrunk towards 1
