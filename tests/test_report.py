"""Reports on a results directory produced by a real tiny search (Ray, 6 trials of 3 epochs
with ASHA, then 2 repeats of the top 2), run once per test session by the ``report_results`` fixture (conftest)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from rich.console import Console
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def render(renderable, width: int = 120) -> str:
    con = Console(file=StringIO(), width=width, color_system=None)
    con.print(renderable)
    return con.file.getvalue()


def test_tables_hold_search_and_repeat_rows(report_results):
    import hpbench

    t = hpbench.load(report_results)
    assert len(t) == 10
    rep = t[t["repeat"].fillna(0) > 0]
    assert len(rep) == 4 and set(rep["seed"]) == {1, 2} and rep["repeat_of"].nunique() == 2
    assert str(t["lr"].dtype) == "float64" and str(t["optimizer"].dtype) == "string"


def test_every_section_renders(report_results):
    from hpbench.report.data import load_report
    from hpbench.report.sections import print_report

    data = load_report(report_results)
    assert len(data.trials) == 6 and len(data.repeats) == 4
    con = Console(file=StringIO(), width=120, color_system=None)
    print_report(con, data)
    out = con.file.getvalue()
    for title in ("Leaderboard: top 6 of 6 trials by val_accuracy (max)", "Repeats: top 2 configurations",
                  "Cost ranking: Pareto front of val_accuracy vs", "What matters", "Hyperparameter importance (Optuna fanova",
                  "Early stopping and pruning savings", "Learning curves of the top",
                  "Prediction check"):
        assert title in out, title
    assert "optimizer=" in out and "lr=" in out
    assert "± " in out
    # the best configuration is tied with itself: its row of the repeats table (not the header or the
    # caption, which always say "tied") ends with "tied"
    from hpbench.report.leaderboard import repeat_summary, repeats_table

    best = repeat_summary(data)[0]["trial"]
    rows = [ln for ln in render(repeats_table(data)).splitlines() if ln.startswith(f"│ {best:>5} │")]
    assert len(rows) == 1 and rows[0].split("│")[6].strip() == "tied", rows
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")


def test_repeat_summary_statistics(report_results):
    from hpbench.report.data import load_report
    from hpbench.report.leaderboard import repeat_summary

    rows = repeat_summary(load_report(report_results))
    assert len(rows) == 2 and all(r["n_seeds"] == 2 for r in rows)
    assert rows[0]["tied_with_best"] and rows[0]["p_vs_best"] == 1.0
    assert rows[0]["mean"] >= rows[1]["mean"]
    for r in rows:
        assert r["ci95_low"] is None or r["ci95_low"] <= r["mean"] <= r["ci95_high"]


def test_cli_report_section_and_json(report_results):
    res = runner.invoke(app, ["report", str(report_results), "--section", "savings"])
    assert res.exit_code == 0, res.output
    assert "Early stopping and pruning savings" in res.output and "Leaderboard" not in res.output
    res = runner.invoke(app, ["report", str(report_results), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc) >= {"leaderboard", "cost", "matters", "savings", "curves", "prediction"}
    assert doc["n_trials"] == 6 and len(doc["leaderboard"]["repeats"]) == 2
    assert set(doc["matters"]["per_value"]) == {"lr", "optimizer"}
    res = runner.invoke(app, ["report", str(report_results), "--section", "nope"])
    assert res.exit_code == 2 and "--section" in res.output


def test_plots_and_html(report_results, tmp_path):
    res = runner.invoke(app, ["report", str(report_results), "-s", "leaderboard", "--plots", str(tmp_path), "--html"])
    assert res.exit_code == 0, res.output
    for name in ("pareto.png", "learning_curves.png", "history.png", "importance.png", "dimensions.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and "Leaderboard" in page


def test_export_formats(report_results, tmp_path):
    import pandas as pd

    res = runner.invoke(app, ["export", str(report_results), "--format", "csv"])
    assert res.exit_code == 0 and res.output.splitlines()[0].startswith("trial,trial_id,status")
    out = tmp_path / "e.parquet"
    res = runner.invoke(app, ["export", str(report_results), "--format", "parquet", "--table", "epochs", "--out", str(out)])
    assert res.exit_code == 0 and len(pd.read_parquet(out)) >= 6
    res = runner.invoke(app, ["export", str(report_results), "-f", "json"])
    assert res.exit_code == 0 and len(json.loads(res.output)) == 10
    # every digit a float64 has to give (pandas cut lr 0.0020554062603827007 to 0.0020554063, then at 15 digits)
    trials = hpbench.load(report_results)
    exported = pd.DataFrame(json.loads(res.output))
    for col in ("lr", "predicted_flops"):
        if col in trials:
            assert exported[col].tolist() == pytest.approx(trials[col].tolist(), rel=0, abs=0, nan_ok=True), col


def test_compare_two_studies(report_results):
    res = runner.invoke(app, ["compare", str(report_results), str(report_results)], terminal_width=140)
    assert res.exit_code == 0, res.output
    assert "Two studies side by side" in res.output and "same space" in res.output
    res = runner.invoke(app, ["compare", str(report_results), str(report_results), "--json"])
    assert json.loads(res.output)["same_space"] is True


def test_report_rejects_a_non_results_dir(tmp_path):
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2
