"""The history file stays small: each record's ETA trace is bounded, and the file is written compactly."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from hpbench.cost import history
from hpbench.cost.history import TRACE_POINTS, bound_trace, thin_trace


def point(i: int) -> list[float]:
    return [0.1 * i, 0.0, float(i), 100.0 - i]


def test_a_long_trace_is_thinned_evenly_keeping_its_ends() -> None:
    trace = [point(i) for i in range(2090)]  # a 2,000-trial search's
    thin = thin_trace(trace)
    assert len(thin) == TRACE_POINTS and thin[0] == trace[0] and thin[-1] == trace[-1]
    gaps = [b[2] - a[2] for a, b in itertools.pairwise(thin)]
    assert max(gaps) - min(gaps) <= 1  # evenly spread
    short = [point(i) for i in range(40)]
    assert thin_trace(short) == short


def test_a_live_trace_stays_within_twice_the_points_as_it_grows() -> None:
    trace: list[list[float]] = []
    for i in range(5000):
        trace.append(point(i))
        bound_trace(trace)
        assert len(trace) <= 2 * TRACE_POINTS
    assert trace[0] == point(0) and trace[-1] == point(4999) and len(trace) > TRACE_POINTS
    ends = [p[2] for p in trace]
    assert ends == sorted(ends)


def test_the_history_is_written_compactly_with_old_records_traces_thinned(tmp_path: Path) -> None:
    old = {"schema": history.SCHEMA, "study": "big", "run_id": "a", "eta": [point(i) for i in range(2000)], "n_trials": 2000}
    history.history_file(tmp_path).write_text(json.dumps({"searches": [old]}, indent=2), encoding="utf-8")
    history.append(tmp_path, {"schema": history.SCHEMA, "study": "small", "run_id": "b", "eta": [point(i) for i in range(30)]})
    text = history.history_file(tmp_path).read_text(encoding="utf-8")
    assert "\n " not in text  # no indentation: a cache that programs read
    big, small = history.load(tmp_path)
    assert (big["study"], big["n_trials"], len(big["eta"])) == ("big", 2000, TRACE_POINTS)
    assert big["eta"][0] == point(0) and big["eta"][-1] == point(1999)
    assert small["eta"] == [point(i) for i in range(30)]
    assert history.finish(tmp_path, out="nowhere", started_at=0.0, report_end=1.0, exit_s=1.0) is False


def test_a_long_searchs_per_trial_figures_keep_their_distribution_and_pairing() -> None:
    import random
    import statistics

    from hpbench.cost.history import FRACTIONS_KEPT, slim

    rng = random.Random(3)
    n = 2000
    best = [rng.random() ** 2 for _ in range(n)]
    lrs = [round(1e-3 * (1 + 9 * f), 9) for f in best]  # each fraction's own rate: the pairing must survive
    batches = [32.0 + i % 3 for i in range(n)]
    ends = [rng.random() for _ in range(n)]
    rec = {"study": "big", "best_fractions": best, "best_lrs": lrs, "best_batches": batches, "end_fractions": ends, "speed": 1.1}
    out = slim(rec)
    assert len(out["best_fractions"]) == len(out["best_lrs"]) == len(out["best_batches"]) == FRACTIONS_KEPT
    assert all(a == round(1e-3 * (1 + 9 * f), 9) for f, a in zip(out["best_fractions"], out["best_lrs"], strict=True))
    pairs = set(zip(best, batches, strict=True))
    assert all(p in pairs for p in zip(out["best_fractions"], out["best_batches"], strict=True))
    assert min(out["best_fractions"]) == min(best) and max(out["best_fractions"]) == max(best)
    assert abs(statistics.median(out["best_fractions"]) - statistics.median(best)) < 0.01
    assert len(out["end_fractions"]) == FRACTIONS_KEPT and abs(statistics.median(out["end_fractions"]) - statistics.median(ends)) < 0.01
    assert out["speed"] == 1.1 and rec["best_fractions"] is best and len(best) == n  # the record given is left as it was
    small = {"best_fractions": [0.2, 0.5], "best_lrs": [0.01, 0.02], "end_fractions": [1.0], "eta": [point(1)]}
    assert slim(small) == small
