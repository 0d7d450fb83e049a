"""Every report section rendered at 120 columns from fixed, hand-written results tables (no
training, no Ray), compared with the expected text under ``tests/golden/``. A change to a
report shows up here as a diff; ``pytest --update-golden tests/test_report_golden.py``
rewrites the files (read them before committing).

Hyperparameter importance is the one input replaced: it is Optuna's (a random forest over the
study in the Optuna storage), so the tests give it a fixed answer (the Ray tests compute it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpbench.report import matters
from hpbench.report.compare import compare_table
from hpbench.report.data import ReportData, load_report
from hpbench.report.sections import SECTIONS, print_report, report_json
from tests.helpers.golden import console, json_text, text_of
from tests.helpers.report_tables import write_bare, write_full

IMPORTANCE: dict[str, dict[str, Any]] = {
    "golden": {"available": True, "evaluator": "fanova", "n_trials": 7, "scores": {"lr": 0.62, "optimizer": 0.3, "distill.alpha": 0.08},
               "conditional": {"momentum": {"n_trials": 3, "score": 0.41}}},
    "bare": {"available": False, "note": "2 completed trials in the Optuna study; importance needs at least 3"},
}
WRITERS = {"golden": write_full, "bare": write_bare}


@pytest.fixture(params=sorted(WRITERS))
def results(request, tmp_path, monkeypatch) -> ReportData:
    """The report data of one hand-written results directory, read by ``load_report`` from a
    relative path (so that no temporary path reaches the output)."""
    monkeypatch.chdir(tmp_path)
    out = WRITERS[request.param](Path("."))
    monkeypatch.setattr(matters, "importance", lambda data, **_: IMPORTANCE[data.name])
    return load_report(out)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_section_renders_as_recorded(results, section, golden):
    con = console()
    print_report(con, results, sections=[section], budgets={"budget_flops": 1e9, "budget_s": None})
    golden(f"{results.name}/{section}.txt", text_of(con))


def test_json_report_as_recorded(results, golden):
    golden(f"{results.name}/report.json", json_text(report_json(results, budgets={"budget_flops": 1e9, "budget_s": None})))


def test_compare_renders_as_recorded(tmp_path, monkeypatch, golden):
    monkeypatch.chdir(tmp_path)
    a, b = load_report(write_full(Path("."))), load_report(write_bare(Path(".")))
    con = console()
    for part in compare_table(a, b, top=3):
        con.print(part)
    golden("compare.txt", text_of(con))


def test_the_fixture_splits_search_trials_repeats_and_device_runs(results):
    """The hand-written tables hold every kind of row the report separates."""
    if results.name == "golden":
        assert (len(results.trials), len(results.repeats), len(results.device_runs)) == (9, 4, 2)
        assert sorted(results.trials["status"].unique()) == ["failed", "finished", "running"]
    else:
        assert (len(results.trials), len(results.repeats), len(results.device_runs)) == (3, 0, 0)


def test_plots_and_html_page(results, tmp_path):
    from hpbench.report.html_page import write_html
    from hpbench.report.plots import write_plots

    out = tmp_path / "plots"
    written = write_plots(results, out, top=8)
    names = sorted(p.name for p in written)
    if results.name == "golden":
        assert names == ["dimensions.png", "history.png", "importance.png", "learning_curves.png", "pareto.png", "reliability.png"]
    else:
        assert names == ["dimensions.png", "history.png", "pareto.png"]
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p
    page = write_html(results, out, written).read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(written) and f"hpbench report: {results.name}" in page


def _all_failed(root: Path) -> Path:
    from tests.helpers.report_tables import _write

    rows = [{"trial": i, "trial_id": f"f_{i:05d}", "status": "failed", "stop_reason": "failed", "lr": 0.01 * (i + 1), "epochs": 0,
             "best_val_loss": None, "predicted_flops": 1e6, "error": "ValueError: boom"} for i in range(3)]
    record = {"name": "failed", "settings": {"metric": "val_loss", "mode": "min"}, "space": {"lr": "loguniform [0.0001, 0.1]"},
              "config": {"train": {"max_epochs": 2}}}
    return _write(root / "results" / "failed", record, rows, [])


def test_plots_of_a_search_where_every_trial_failed_are_skipped_and_said(tmp_path):
    """The Pareto figure raised 'boolean value of NA is ambiguous' (and the box plots a ValueError)
    after the report was printed; now nothing is drawn and the command says which figures were not."""
    from typer.testing import CliRunner

    import hpbench
    from hpbench.cli import app

    results = _all_failed(tmp_path)
    assert hpbench.Results(results).plots(tmp_path / "p") == []
    r = CliRunner().invoke(app, ["report", str(results), "-s", "leaderboard", "--plots", str(tmp_path / "q")])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "plots: none" in r.output and "not drawn" in r.output and "pareto.png" in r.output


def test_plots_into_a_file_is_refused_before_the_report(tmp_path):
    """--plots <a file> raised FileExistsError after printing the report; Results.plots the same."""
    from typer.testing import CliRunner

    import hpbench
    from hpbench.cli import app

    results = write_bare(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    r = CliRunner().invoke(app, ["report", str(results), "--plots", str(blocker)])
    assert r.exit_code == 2 and "--plots" in r.output and "a_file" in r.output and "Leaderboard" not in r.output
    with pytest.raises(hpbench.StudyError, match="directory"):
        hpbench.Results(results).plots(blocker)
    assert blocker.read_text() == "x"


def test_plots_where_they_cannot_be_written_are_refused_before_the_report(tmp_path):
    """--plots /dev/null/p (a folder that is a file) raised FileExistsError with a traceback after
    printing the report, Results.plots the bare OSError; search --out says why in one line."""
    from typer.testing import CliRunner

    import hpbench
    from hpbench.cli import app

    results = write_bare(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    target = blocker / "plots"
    r = CliRunner().invoke(app, ["report", str(results), "--plots", str(target)])
    assert r.exit_code == 2, r.output
    assert f"--plots {target}: {blocker} is not a directory" in r.output and "Leaderboard" not in r.output
    from hpbench.results.files import OutputError  # the error the search's --out check raises

    with pytest.raises(OutputError, match="not a directory"):
        hpbench.Results(results).plots(target)
    assert blocker.read_text() == "x"


def test_what_matters_labels_each_bin_by_its_own_trials():
    """The bins were labelled with pd.qcut's edges: rounded (an lr bin "0.0252–0.0883" held a trial
    of lr 0.0884) and the lowest pushed below the minimum (a dropout bin "-0.001–0.25" of
    uniform [0, 0.5], no trial below 0). Values of real searches (the hunt's diab and prune)."""
    import pandas as pd

    from hpbench.report.data import fmt

    lr = [0.001, 0.012520653814999465, 0.0016183718005855837, 0.08839874534247044, 0.025948485391570495,
          0.023683119664722224, 0.026745157952125707, 0.004903810399055189]
    dropout = [0.0, 0.30138168803582194, 0.4886020765683169, 0.273274448614747, 0.30082699784433925,
               0.03299362861076682, 0.20329814707004634, 0.38160646004863463]
    trials = pd.DataFrame({"trial": range(8), "lr": lr, "model.dropout": dropout, "best_val_loss": [0.5 - 0.01 * i for i in range(8)]})
    data = ReportData(path=Path("."), name="t", metric="val_loss", mode="min", params=["lr", "model.dropout"],
                      space={"lr": "loguniform [0.001, 0.1]", "model.dropout": "uniform [0.0, 0.5]"}, max_epochs=3,
                      trials=trials, repeats=trials.iloc[0:0], epochs=pd.DataFrame(), storage="")
    for key in ("lr", "model.dropout"):
        groups = matters.value_groups(data, key)
        assert groups.nunique() == 3, groups
        for label, members in trials[key].groupby(groups):
            assert label == f"{fmt(members.min())}–{fmt(members.max())}", (key, label, sorted(members))


def test_compare_with_a_search_where_every_trial_failed_says_there_is_no_best(tmp_path):
    """It showed "- (trial None)"."""
    a, b = load_report(write_bare(tmp_path)), load_report(_all_failed(tmp_path))
    con = console()
    for part in compare_table(a, b, top=3):
        con.print(part)
    text = text_of(con)
    assert "trial None" not in text and "no finished trial with a value" in text
