"""How sure the corrected seconds are (issue 13): one trial's P10-P90 of measured / predicted from
the study's ended trials, a Student-t prediction interval on their log ratios
(:func:`hpbench.cost.correct.prediction_bounds`). By hand on four trials, the same from running
sums as from a pass, and its coverage on synthetic studies whose ratios scatter around a bias."""

from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

import pytest

from hpbench.cost.correct import (
    EndedTrial,
    RunningFactors,
    corrected_interval,
    interval_bounds,
    replay_intervals,
    scale_factors,
)
from hpbench.cost.spread import prediction_bounds, t_quantile

REL = 1e-5


def test_t_quantile_matches_the_tables():
    # Student's t, 0.9 quantile (e.g. Abramowitz & Stegun table 26.10): nu = 3, 4, 10, 30
    for nu, exact in ((1, 3.077684), (2, 1.885618), (3, 1.637744), (4, 1.533206), (10, 1.372184), (30, 1.310415)):
        assert t_quantile(nu) == pytest.approx(exact, rel=1e-3)
    assert t_quantile(10_000) == pytest.approx(1.2815516, rel=1e-4)  # the normal's
    with pytest.raises(ValueError, match="nu"):
        t_quantile(0)


def test_the_corrected_interval_of_four_trials_by_hand():
    ratios = (1.2, 1.5, 1.8, 1.5)  # measured / predicted of four compute-bound trials
    f = scale_factors([("compute-bound", 2.0, 2.0 * r) for r in ratios])
    logs = [math.log(r) for r in ratios]
    mean, sd = statistics.fmean(logs), statistics.stdev(logs)
    half = 1.637744 * sd * math.sqrt(1 + 1 / 4)  # t_{0.9, 3} · sd · sqrt(1 + 1/n)
    c = f["compute-bound"]
    assert c.low == pytest.approx(math.exp(mean - half), rel=1e-3) and c.high == pytest.approx(math.exp(mean + half), rel=1e-3)
    assert c.low < min(ratios) and c.high > max(ratios)  # four trials: wider than what they spanned
    lo, hi = corrected_interval(10.0, "compute-bound", f) or (0.0, 0.0)
    assert (lo, hi) == (pytest.approx(10.0 * c.low, rel=REL), pytest.approx(10.0 * c.high, rel=REL))
    assert lo < 10.0 * c.per_trial < hi
    assert corrected_interval(10.0, "compute-bound", {}) is None
    same = scale_factors([("overhead-bound", 1.0, 1.5)] * 4)["overhead-bound"]  # no scatter: the interval is the point
    assert same.low == pytest.approx(1.5, rel=REL) and same.high == pytest.approx(1.5, rel=REL)
    with pytest.raises(ValueError, match="n >= 2"):
        prediction_bounds(mean=0.0, sd=0.1, n=1)


def test_running_sums_give_the_same_interval_as_a_pass():
    rng = random.Random(3)
    running, held = RunningFactors(), {}
    for _ in range(300):
        key = f"t{rng.randrange(30)}"
        obs = (rng.choice(["compute", "memory"]), rng.uniform(0.1, 2.0), rng.uniform(0.1, 3.0), rng.random() < 0.8)
        if rng.random() < 0.2:
            running.set(key, None)
            held.pop(key, None)
        else:
            running.set(key, obs)
            held[key] = obs
        got, want = running.factors(), scale_factors(list(held.values()))
        b, wb = running.bounds(), interval_bounds(list(held.values()))
        assert (b is None) == (wb is None) and (b is None or b == (pytest.approx(wb[0], rel=REL), pytest.approx(wb[1], rel=REL)))
        assert set(got) == set(want)
        for k, c in want.items():
            assert (got[k].low, got[k].high) == (pytest.approx(c.low, rel=REL), pytest.approx(c.high, rel=REL))
    assert len(want) >= 2


def test_before_the_correction_two_ended_trials_give_a_wide_pooled_interval():
    ended = [("compute-bound", 1.0, 1.2), ("memory-bound", 2.0, 3.6)]  # ratios 1.2 and 1.8, two regimes: pooled
    assert interval_bounds(ended[:1]) is None and scale_factors(ended) == {}
    logs = [math.log(1.2), math.log(1.8)]
    half = 3.077684 * statistics.stdev(logs) * math.sqrt(1.5)  # t_{0.9, 1}
    lo, hi = interval_bounds(ended) or (0.0, 0.0)
    assert lo == pytest.approx(math.exp(statistics.fmean(logs) - half), rel=REL) and hi == pytest.approx(math.exp(statistics.fmean(logs) + half), rel=REL)
    # what each trial of a run was shown: nothing, nothing, the run's interval, then (4 ended) its correction's
    trials = [EndedTrial(regime="compute-bound", predicted_s=1.0, measured_s=r, started_at=float(i), ended_at=i + 0.5)
              for i, r in enumerate((1.2, 1.8, 1.5, 1.4, 1.6))]
    shown = replay_intervals(trials)
    assert shown[0] is None and shown[1] is None
    assert shown[2] == (pytest.approx(lo, rel=REL), pytest.approx(hi, rel=REL))
    c = scale_factors([("compute-bound", 1.0, r) for r in (1.2, 1.8, 1.5, 1.4)])["compute-bound"]
    assert shown[4] == (pytest.approx(c.low, rel=REL), pytest.approx(c.high, rel=REL))


def test_the_interval_covers_eighty_percent_of_the_next_trials_on_synthetic_studies():
    """Studies whose trials read measured / predicted = bias x scatter (log-normal, each study its
    own bias and spread): after n = 4..12 ended trials, the next trial falls inside its corrected
    P10-P90 80% of the time (the t interval is exact for normal log ratios); the calibration-style
    interval taken around the prediction (the scatter's quantiles, no bias) misses most."""
    rng = random.Random(13)
    inside, naive = [], []
    for _ in range(4000):
        bias, spread, n = rng.gauss(0.3, 0.3), rng.uniform(0.1, 0.6), rng.randint(4, 12)
        ended = [("compute-bound", 1.0, math.exp(rng.gauss(bias, spread))) for _ in range(n)]
        nxt = math.exp(rng.gauss(bias, spread))
        lo, hi = corrected_interval(1.0, "compute-bound", scale_factors(ended)) or (0.0, 0.0)
        inside.append(lo <= nxt <= hi)
        naive.append(math.exp(-1.2816 * spread) <= nxt <= math.exp(1.2816 * spread))
    assert statistics.fmean(inside) == pytest.approx(0.80, abs=0.02)
    assert statistics.fmean(naive) < 0.65


def test_corrected_columns_carry_the_interval(tmp_path: Path):
    """From 2 ended trials the run's interval alone, from 4 the correction with its interval."""
    from hpbench.dispatch.corrections import Corrections, corrected_columns
    from hpbench.results.store import ResultsStore

    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=["lr"])
    running = Corrections()
    for i, spent in enumerate((1.0, 1.0, 2.0, 1.0)):
        tid = f"t{i}"
        store.start(tid, {"lr": 0.1})
        store.epoch(tid, {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 1.5})
        store.finish(tid)
        store.annotate(tid, {"regime": "overhead-bound", "predicted_spent_s": spent})
        if i == 2:  # three ended (ratios 1.5, 1.5, 0.75): no correction yet, the run's interval
            b = interval_bounds([("overhead-bound", p, 1.5) for p in (1.0, 1.0, 2.0)]) or (0.0, 0.0)
            for got in (corrected_columns(store, {"predicted_s": 3.0}), corrected_columns(store, {"predicted_s": 3.0}, corrections=running)):
                assert got == {"corrected_s_p10": pytest.approx(3.0 * b[0], rel=REL), "corrected_s_p90": pytest.approx(3.0 * b[1], rel=REL)}
    want = scale_factors([("overhead-bound", p, 1.5) for p in (1.0, 1.0, 2.0, 1.0)])["overhead-bound"]
    for got in (corrected_columns(store, {"predicted_s": 3.0, "regime": "overhead-bound"}),
                corrected_columns(store, {"predicted_s": 3.0, "regime": "overhead-bound"}, corrections=running)):
        assert got["corrected_s_p10"] == pytest.approx(3.0 * want.low, rel=REL)
        assert got["corrected_s_p90"] == pytest.approx(3.0 * want.high, rel=REL)
        assert got["corrected_s_p10"] < got["corrected_s"] < got["corrected_s_p90"]
