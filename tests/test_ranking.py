"""One ranking (hpbench.results.ranking): a trial that failed or was interrupted is never ranked,
whatever value its epochs left, by the report, compare, the cost ranking, the repeats plan, the
live view and ``Results.best`` alike (bug hunt s51/h1 #1); a search that ended with no value of its
metric exits 1 (#5); ``best --json`` is strict JSON (#4); a study whose every trial failed keeps
its columns' types (#6). No Ray, no training: hand-written tables."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.report import cost_ranking, matters
from hpbench.report.compare import summary
from hpbench.report.data import load_report
from hpbench.report.leaderboard import leaderboard_records, repeat_summary
from hpbench.report.sections import report_json
from hpbench.results.store import ResultsStore
from tests.conftest import TINY_STUDY
from tests.helpers.report_tables import _write

runner = CliRunner()
SPACE = {"lr": "loguniform [0.0001, 0.1]"}


def _row(trial: int, status: str, stop: str | None, best: float | None, *, epochs: int = 4, **extra: Any) -> dict[str, Any]:
    return {"trial": trial, "trial_id": f"r_{trial:05d}", "status": status, "stop_reason": stop, "lr": 0.001 * (trial + 1),
            "epochs": epochs, "best_epoch": epochs if best is not None else None, "best_val_accuracy": best, "val_accuracy": best,
            "train_s": 1.0 + trial if epochs else None, "predicted_flops": 1e8 * (trial + 1), "repeat": 0, "seed": 0, **extra}


def _epochs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"trial": r["trial"], "trial_id": r["trial_id"], "epoch": e, "val_accuracy": r["best_val_accuracy"], "epoch_s": 0.25}
            for r in rows if r["best_val_accuracy"] is not None for e in range(1, int(r["epochs"]) + 1)]


def _results(root: Path, rows: list[dict[str, Any]], name: str = "ranking") -> Path:
    record = {"name": name, "settings": {"metric": "val_accuracy", "mode": "max", "repeats_top": 1}, "space": SPACE,
              "config": {"train": {"max_epochs": 4}}}
    return _write(root / name, record, rows, _epochs(rows))


def _failed_on_top(root: Path) -> Path:
    """Trial 1 raised after 4 epochs with the highest value, trial 2 was interrupted higher still;
    trial 0 finished (completed) and trial 3 was pruned: 0 is the best, 3 the second."""
    return _results(root, [
        _row(0, "finished", "completed", 0.90),
        _row(1, "failed", "failed", 0.95, error="RuntimeError: boom after 100 training steps (at mymodel.py:23 in forward)"),
        _row(2, "interrupted", None, 0.97, epochs=2),
        _row(3, "finished", "pruned", 0.85, epochs=1),
    ])


def test_the_report_ranks_only_finished_trials(tmp_path):
    """The leaderboard's #1 was the failed trial 1 (0.95), and compare's best, the Pareto front,
    the best under budget and what matters gave its value, while ``hpbench best`` named trial 0."""
    out = _failed_on_top(tmp_path)
    data = load_report(out)
    assert list(data.ranked()["trial"]) == [0, 3]  # the pruned trial is ranked, with the value of its epochs
    assert [r["trial"] for r in leaderboard_records(data.trials, metric="val_accuracy", mode="max")] == [0, 3]
    assert [r["trial"] for r in report_json(data, sections=["leaderboard"])["leaderboard"]["top"]] == [0, 3]
    assert (summary(data)["best_trial"], summary(data)["best"]) == (0, pytest.approx(0.90, rel=1e-5))
    cost = cost_ranking.analyse(data, budget_flops=1e9)
    assert {r["trial"] for r in cost["front"]} <= {0, 3} and cost["best_under"][0]["trial"] == 0
    best_by_value = [r["best"] for rows in matters.per_value(data).values() for r in rows if r["best"] is not None]
    assert max(best_by_value) == pytest.approx(0.90, rel=1e-5)
    assert hpbench.Results(out).best.trial == 0  # and the API agrees with the leaderboard


def test_the_live_view_and_the_repeats_plan_skip_a_failed_trial(tmp_path):
    """``ResultsStore.best`` (the live view's best) and ``plan_repeats`` took the failed trial: the
    repeats re-ran the configuration that crashed, and built a mean ± CI out of failed runs."""
    from hpbench.dispatch.repeats import plan_repeats
    from hpbench.study.parse import load_study

    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    study = load_study(path)
    study = dataclasses.replace(study, settings=dataclasses.replace(study.settings, repeats_top=1))
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    for tid, lr, acc, error in (("done", 0.01, 0.90, None), ("crashed", 0.02, 0.95, "RuntimeError: boom"), ("stopped", 0.03, 0.97, None)):
        store.start(tid, {"optimizer": "adam", "lr": lr})
        store.epoch(tid, {"epoch": 1, "val_accuracy": acc, "epoch_s": 0.1})
        if tid != "stopped":
            store.finish(tid, error=error)
    store.annotate("stopped", {"status": "interrupted"})  # Ctrl-C: redone on --resume
    best = store.best()
    assert best is not None and best["trial_id"] == "done"
    runs = plan_repeats(study, store, n_repeats=2)
    assert [(r.labels["repeat_of"], r.params["lr"]) for r in runs] == [(0, 0.01), (0, 0.01)]


def test_a_failed_repeat_is_a_lost_run_not_a_seed(tmp_path):
    rows = [_row(0, "finished", "completed", 0.90),
            _row(1, "finished", "completed", 0.91, repeat=1, repeat_of=0, seed=1),
            _row(2, "failed", "failed", 0.99, repeat=2, repeat_of=0, seed=2, error="RuntimeError: boom")]
    (summary_row,) = repeat_summary(load_report(_results(tmp_path, rows)))
    assert (summary_row["n_runs"], summary_row["n_seeds"], summary_row["n_lost"], summary_row["lost"]) == (2, 1, 1, {"failed": 1})
    assert summary_row["mean"] == pytest.approx(0.91, rel=1e-5)


def test_best_json_is_strict_json_for_a_trial_without_a_value(tmp_path):
    """``hpbench best --trial N --json`` printed ``"value": NaN`` (not JSON) for a diverged or failed trial."""
    out = _results(tmp_path, [_row(0, "finished", "completed", 0.9), _row(1, "finished", "diverged", None, epochs=1)])

    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    r = runner.invoke(app, ["best", str(out), "--trial", "1", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output, parse_constant=refuse)
    assert doc["trial"] == 1 and doc["value"] is None


def test_best_of_an_interrupted_trial_says_it_was_interrupted(tmp_path):
    """``hpbench best --trial N`` of a trial stopped by Ctrl-C printed "no value: None" and "(None)":
    its stop_reason is null; its status says why it has no value (bug hunt s52/v1 #4)."""
    out = _results(tmp_path, [_row(0, "finished", "completed", 0.9), _row(1, "interrupted", None, None, epochs=3)])
    r = runner.invoke(app, ["best", str(out), "--trial", "1"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "no value: interrupted" in r.output.splitlines()[0] and "best - of 3 (interrupted)" in r.output, r.output
    assert "None" not in r.output, r.output


def test_no_value_closes_a_search_whose_trials_all_diverged():
    from hpbench.results.failures import no_value

    def row(trial: int, status: str, stop: str | None, best: float | None) -> dict[str, Any]:
        return {"trial": trial, "status": status, "stop_reason": stop, "best_val_accuracy": best, "repeat": 0}

    diverged = [row(0, "finished", "diverged", None), row(1, "finished", "diverged", None)]
    line = no_value(diverged, metric="val_accuracy")
    assert line is not None and line.startswith("no trial produced a value of val_accuracy: 2 diverged") and "learning rate" in line
    assert no_value([*diverged, row(2, "failed", "failed", 0.9)], metric="val_accuracy").startswith(  # type: ignore[union-attr]
        "no trial produced a value of val_accuracy: 2 diverged, 1 failed")
    assert no_value([*diverged, row(2, "finished", "budget", 0.5)], metric="val_accuracy") is None  # a budget-stopped trial's value ranks
    assert no_value([row(0, "failed", "failed", None)], metric="val_accuracy") is None  # every trial failed: said (and exit 1) by Failures
    assert no_value([row(0, "running", None, None)], metric="val_accuracy") is None and no_value([], metric="val_accuracy") is None


def _search_ending_with(monkeypatch, tmp_path: Path, rows: list[dict[str, Any]]) -> Any:
    """``hpbench search`` whose search (``hpbench.api.search.search``) ended with ``rows``."""
    import hpbench.api.search as api_search

    out = _results(tmp_path, rows, name="tiny")
    monkeypatch.setattr(api_search, "search", lambda study, **_: hpbench.Results(out))
    monkeypatch.setattr(matters, "importance", lambda data, **_: {"available": False, "note": "not asked here"})
    monkeypatch.setattr("hpbench.cli.search._finish", lambda out, *, started_at: None)
    study = tmp_path / "tiny.toml"
    study.write_text(TINY_STUDY)
    return runner.invoke(app, ["search", str(study), "--out", str(out)])


def test_a_search_in_which_every_trial_diverged_exits_1(tmp_path, monkeypatch):
    """It exited 0 with "Leaderboard: top 0 of 2", and ``hpbench best`` then had nothing to name."""
    r = _search_ending_with(monkeypatch, tmp_path, [_row(0, "finished", "diverged", None, epochs=1),
                                                    _row(1, "finished", "diverged", None, epochs=1)])
    assert r.exit_code == 1, r.output
    assert "no trial produced a value of val_accuracy: 2 diverged" in r.output.replace("\n", " ")
    b = runner.invoke(app, ["best", str(tmp_path / "tiny")])
    assert b.exit_code == 2 and "no finished trial with a value of best_val_accuracy" in b.output and " yet" not in b.output


@pytest.mark.parametrize("stop", ["completed", "budget", "pruned"])
def test_a_search_with_one_value_exits_0(tmp_path, monkeypatch, stop):
    r = _search_ending_with(monkeypatch, tmp_path, [_row(0, "finished", stop, 0.8, epochs=2),
                                                    _row(1, "finished", "diverged", None, epochs=1)])
    assert r.exit_code == 0, r.output
    assert "no trial produced a value" not in r.output


def test_a_study_whose_every_trial_failed_keeps_its_column_types(tmp_path):
    """``best_epoch``, the metric and ``best_<metric>`` were ``object`` columns of None (``nlargest``
    refused them) and ``train_s`` an Int64 0 for trials that never trained."""
    rows = [{"trial": i, "trial_id": f"f_{i:05d}", "status": "failed", "stop_reason": "failed", "lr": 0.01, "epochs": 0,
             "best_epoch": None, "val_accuracy": None, "best_val_accuracy": None, "train_s": None, "es_best": None,
             "error": "ImportError: no module named x"} for i in range(2)]
    t = hpbench.load(_results(tmp_path, rows))
    dtypes = {c: str(t[c].dtype) for c in ("best_epoch", "val_accuracy", "best_val_accuracy", "train_s", "es_best", "error")}
    assert dtypes == {"best_epoch": "Int64", "val_accuracy": "float64", "best_val_accuracy": "float64", "train_s": "float64",
                      "es_best": "float64", "error": "string"}
    assert t.nlargest(1, "best_val_accuracy")["best_val_accuracy"].isna().all()  # no TypeError: a number column


def test_a_trial_that_never_trained_measured_no_seconds(tmp_path):
    """The store summed no epochs into ``train_s = 0``, and what matters said "mean measured s 0"."""
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=["lr"])
    store.start("t", {"lr": 0.1})
    store.finish("t", error="ImportError: no module named x")
    assert store.row("t").get("train_s") is None
    # results written before: train_s 0 for the failed trial; its group's mean is "-"
    rows = [_row(0, "finished", "completed", 0.9), _row(1, "failed", "failed", None, epochs=0)]
    rows[1]["train_s"] = 0
    data = load_report(_results(tmp_path, rows))
    data = dataclasses.replace(data, trials=data.trials.drop(columns=["predicted_flops"]))
    by_value = {r["value"]: r["mean_cost"] for r in matters.per_value(data)["lr"]}
    assert by_value == {"0.001": pytest.approx(1.0, rel=1e-5), "0.002": None}
    # ... and in a study whose every trial failed before its first epoch (no epochs column at all)
    failed = [{k: v for k, v in _row(i, "failed", "failed", None, epochs=0).items() if k not in ("epochs", "predicted_flops")} | {"train_s": 0}
              for i in range(2)]
    data = load_report(_results(tmp_path, failed, name="all_failed"))
    assert data.cost_column() == ("train_s", "measured s") and "epochs" not in data.trials.columns
    assert [r["mean_cost"] for r in matters.per_value(data)["lr"]] == [None, None]


def test_the_eta_never_counts_a_failed_trial_among_the_repeats(tmp_path):
    """The live ETA priced the repeats of the trials it expects the repeats to re-run: a failed
    trial stayed a candidate there (with its epochs' score) while plan_repeats now never re-runs one."""
    from hpbench.dispatch.timings import repeat_candidates

    @dataclasses.dataclass(frozen=True)
    class Plan:
        trial: str
        epoch_s: float

    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=["lr"])
    for tid, acc, error in (("done", 0.9, None), ("crashed", 0.95, "RuntimeError: boom")):
        store.start(tid, {"lr": 0.1})
        store.epoch(tid, {"epoch": 1, "val_accuracy": acc, "epoch_s": 0.5})
        store.finish(tid, error=error)
    got = repeat_candidates(store, ["done", "crashed"], so_far=None, fallback=1.0, plan_of=lambda t, s: Plan(t, s), speed=lambda p: 1.0)
    assert [(p.trial, score) for p, score in got] == [("done", pytest.approx(0.9, rel=1e-5))]
