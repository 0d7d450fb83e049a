"""``hpbench report --budget-flops N --budget-s N``: the cost section ranks with
:mod:`hpbench.report.cost`'s functions and honors the budgets (on the real tiny search of
the ``report_results`` fixture, and in memory)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.report import cost as C
from hpbench.report import cost_ranking
from hpbench.report.data import ReportData

runner = CliRunner()


def _data() -> ReportData:
    trials = pd.DataFrame({"trial": [0, 1, 2, 3], "status": ["finished"] * 4, "best_val_accuracy": [0.5, 0.9, 0.7, 0.95],
                           "predicted_flops": [1e9, 1e10, 2e10, 1e11], "predicted_s": [1.0, 5.0, 8.0, 40.0], "lr": [0.1, 0.01, 0.2, 0.001]})
    return ReportData(path=Path("."), name="t", metric="val_accuracy", mode="max", params=["lr"], space={}, max_epochs=3,
                      trials=trials, repeats=trials.iloc[0:0], epochs=pd.DataFrame(), storage="")


def test_cost_section_uses_report_cost_front():
    d = _data()
    a = cost_ranking.analyse(d)
    want = C.pareto_front(d.trials, metric=d.key, mode=d.mode, cost="predicted_flops")
    assert [r["trial"] for r in a["front"]] == list(want["trial"]) == [0, 1, 3]
    assert a["front"][0]["metric_per_cost"] == pytest.approx(0.5 / 1e9)
    # the plots' adapter is the same function
    assert list(cost_ranking.pareto_front(d.trials, value=d.key, cost="predicted_flops", mode="max")["trial"]) == [0, 1, 3]


def test_a_min_metric_has_no_metric_per_cost():
    """"val_loss per predicted FLOPs" was shown for a loss (and for regression losses): a higher
    value per FLOP is not better there, so the column read backwards. A max metric keeps it."""
    d = _data()
    trials = d.trials.rename(columns={"best_val_accuracy": "best_val_loss"})
    loss = ReportData(path=Path("."), name="t", metric="val_loss", mode="min", params=["lr"], space={}, max_epochs=3,
                      trials=trials, repeats=trials.iloc[0:0], epochs=pd.DataFrame(), storage="")
    a = cost_ranking.analyse(loss)
    assert [r["trial"] for r in a["front"]] == [0] and all("metric_per_cost" not in r for r in a["front"])
    texts = {}
    for name, data in (("min", loss), ("max", d)):
        con = Console(file=StringIO(), width=160, color_system=None)
        con.print(cost_ranking.render(data))
        texts[name] = con.file.getvalue()
    assert "Pareto front of val_loss vs predicted FLOPs" in texts["min"] and " per predicted FLOPs" not in texts["min"]
    assert "val_accuracy per predicted FLOPs" in texts["max"]


def test_budgets_pick_the_best_that_fits():
    a = cost_ranking.analyse(_data(), budget_flops=5e10, budget_s=2.0)
    by_unit = {r["unit"]: r for r in a["best_under"]}
    assert by_unit["FLOPs"]["trial"] == 1 and by_unit["FLOPs"]["cost_column"] == "predicted_flops"
    assert by_unit["s"]["trial"] == 0 and by_unit["s"]["cost_column"] == "predicted_s"
    none = cost_ranking.analyse(_data(), budget_flops=1.0)["best_under"][0]
    assert none["trial"] is None and none["note"] == "no trial fits"
    con = Console(file=StringIO(), width=120, color_system=None)
    con.print(cost_ranking.render(_data(), budget_flops=5e10))
    out = con.file.getvalue()
    assert "Best under budget" in out and "predicted_flops" in out


@pytest.mark.slow
def test_cli_report_budgets(report_results):
    import hpbench

    t = hpbench.load(report_results)
    t = t[t["repeat"].fillna(0) == 0]
    flops = pd.to_numeric(t["predicted_flops"], errors="coerce").dropna()
    assert len(flops), "the tiny search records predicted FLOPs per trial"
    budget = float(flops.median())
    res = runner.invoke(app, ["report", str(report_results), "-s", "cost", "--json", "--budget-flops", str(budget), "--budget-s", "1e9"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)["cost"]
    rows = {r["unit"]: r for r in doc["best_under"]}
    assert rows["FLOPs"]["cost"] <= budget and rows["FLOPs"]["cost_column"] == "predicted_flops"
    best_all = C.best_under_budget(t, metric="best_val_accuracy", mode="max", budget=1e30)
    assert rows["s"]["trial"] == best_all["trial"]  # a budget every trial fits picks the overall best
    res = runner.invoke(app, ["report", str(report_results), "-s", "cost", "--budget-flops", str(budget)])
    assert res.exit_code == 0 and "Best under budget" in res.output and "Pareto front" in res.output
    res = runner.invoke(app, ["report", str(report_results), "--budget-s", "0"])
    assert res.exit_code == 2 and "--budget-s" in res.output
