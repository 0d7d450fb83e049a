import math

import pytest
from scipy import stats as ss

from hpbench.report.stats import mean_ci, tied_with_best, welch_t_test


def test_mean_ci_matches_t_interval():
    xs = [0.91, 0.93, 0.92, 0.95, 0.90]
    ci = mean_ci(xs)
    low, high = ss.t.interval(0.95, len(xs) - 1, loc=sum(xs) / 5, scale=ss.sem(xs))
    assert ci.n == 5
    assert ci.mean == pytest.approx(0.922)
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))
    assert ci.half_width == pytest.approx((high - low) / 2)


def test_mean_ci_small_samples_and_nan():
    assert math.isnan(mean_ci([]).mean)
    one = mean_ci([0.5, float("nan")])
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.low)
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1, 2], confidence=1.5)


def test_welch_matches_scipy():
    a, b = [0.9, 0.92, 0.91, 0.93], [0.85, 0.88, 0.86, 0.9, 0.87]
    assert welch_t_test(a, b) == pytest.approx(ss.ttest_ind(a, b, equal_var=False).pvalue)
    assert math.isnan(welch_t_test([1.0], b))
    assert welch_t_test([1, 1], [1, 1]) == 1.0
    assert welch_t_test([1, 1], [2, 2]) == 0.0


def test_tied_with_best():
    samples = {"a": [0.95, 0.96, 0.955], "b": [0.94, 0.965, 0.95], "c": [0.70, 0.71, 0.72]}
    out = tied_with_best(samples, mode="max")
    assert out["a"] == (True, 1.0)
    assert out["b"][0] and out["b"][1] >= 0.05
    assert not out["c"][0] and out["c"][1] < 0.05
    low = tied_with_best({"x": [0.1, 0.11], "y": [0.5, 0.52]}, mode="min")
    assert low["x"][0] and not low["y"][0]


def test_mean_difference_matches_scipys_welch_interval():
    from hpbench.report.stats import mean_difference

    a, b = [0.9, 0.92, 0.91, 0.93], [0.85, 0.88, 0.86, 0.9, 0.87]
    d = mean_difference(a, b)
    res = ss.ttest_ind(a, b, equal_var=False)
    low, high = res.confidence_interval(0.95)
    assert d.diff == pytest.approx(sum(a) / 4 - sum(b) / 5, rel=1e-9)
    assert (d.low, d.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert d.p == pytest.approx(res.pvalue, rel=1e-9)
    const = mean_difference([3, 3], [1, 1])  # no spread: a zero-width interval
    assert (const.diff, const.low, const.high, const.p) == (2.0, 2.0, 2.0, 0.0)
    assert math.isnan(mean_difference([1.0], b).low) and math.isnan(mean_difference([], b).diff)


def test_repeats_that_diverged_are_counted_and_named_not_dropped(tmp_path):
    """All 3 repeats of one configuration diverged: the summary said 'seeds 0', as if none ran,
    and a configuration with one surviving seed could be called tied with the best."""
    import pandas as pd

    from hpbench.report.data import ReportData
    from hpbench.report.leaderboard import repeat_summary, repeats_table

    nan = float("nan")
    repeats = pd.DataFrame({"trial": [3, 4, 5, 6, 7, 8], "repeat_of": [0, 0, 0, 1, 1, 1], "repeat": [1, 2, 3, 1, 2, 3],
                            "best_val_loss": [0.50, 0.52, 0.51, nan, 0.49, nan], "status": ["finished"] * 6,
                            "stop_reason": ["completed", "completed", "completed", "diverged", "completed", "diverged"]})
    trials = pd.DataFrame({"trial": [0, 1], "best_val_loss": [0.5, 0.45], "lr": [0.01, 0.05]})
    data = ReportData(path=tmp_path, name="s", metric="val_loss", mode="min", params=["lr"], space={}, max_epochs=3, trials=trials,
                      repeats=repeats, epochs=pd.DataFrame(), storage="")
    rows = {r["trial"]: r for r in repeat_summary(data)}
    assert (rows[1]["n_runs"], rows[1]["n_seeds"], rows[1]["n_lost"], rows[1]["lost"]) == (3, 1, 2, {"diverged": 2})
    assert rows[1]["tied_with_best"] is False
    assert (rows[0]["n_runs"], rows[0]["n_seeds"], rows[0]["n_lost"]) == (3, 3, 0) and rows[0]["tied_with_best"] is True
    from rich.console import Console

    con = Console(width=160, record=True, color_system=None)
    con.print(repeats_table(data))
    assert "1 of 3 (2 diverged)" in con.export_text()
