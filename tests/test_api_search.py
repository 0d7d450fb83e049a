"""A real small search from Python (a real Ray runtime, real training on scikit-learn's digits):
``hpbench.search`` returns Results whose best trial agrees with the tables, whose saved model is
the trained one, and whose winner ``hpbench best`` → ``hpbench train`` retrains with the same
trainer to the same numbers (test split included); ``hpbench search --json`` prints a summary."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from rich.console import Console
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from tests.helpers.studies import TINY_STUDY

pytestmark = pytest.mark.slow

# 4 trials of 3 epochs; a held-out test split; a mixed choice (stored as strings in the tables)
STUDY = TINY_STUDY.replace('preprocess = ["standardize"]', 'preprocess = ["standardize"]\ntest_fraction = 0.2').replace(
    "batch_size = 64\n", "").replace("[space]\n", '[space]\nbatch_size = { choice = [64, "full"] }\n')


@pytest.fixture(scope="module")
def searched(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    path = tmp / "tiny.toml"
    path.write_text(STUDY, encoding="utf-8")
    study = hpbench.Study.from_toml(path, overrides={"study.trials": 4})
    progress = StringIO()
    results = hpbench.search(study, out=tmp / "out", console=Console(file=progress, width=120))
    return path, results, progress.getvalue()


def test_search_from_python_returns_the_tables(searched):
    _, results, progress = searched
    assert isinstance(results, hpbench.Results)
    assert len(results.trials) == 4 and set(results.trials["status"]) == {"finished"}
    assert results.trials.equals(hpbench.load(results.path))
    assert results.epochs.equals(hpbench.load(results.path, table="epochs"))
    assert len(results.epochs) == 4 * 3
    assert "4/4 done" in progress and "test split" in progress  # the live progress went to the given console


def test_the_search_records_its_datas_pre_flight_seconds(searched):
    """The machine's history keeps the seconds the pre-flight spent loading and checking the data
    before Ray started (the start-up's part that is the study's own: hpbench.cost.figures)."""
    from hpbench.cost import history

    _, results, _ = searched
    (rec,) = [r for r in history.load(history.default_cache_dir()) if r.get("out") == str(results.path.resolve())]
    assert isinstance(rec["data_s"], float) and 0.0 < rec["data_s"] < 60.0


def test_best_agrees_with_the_trials_table(searched):
    _, results, _ = searched
    df = results.trials
    top = df.sort_values("best_val_accuracy", ascending=False, kind="stable").iloc[0]
    best = results.best
    assert best.trial == int(top["trial"])
    assert best.value == pytest.approx(float(top["best_val_accuracy"]), rel=1e-5)
    assert best.params["optimizer"] == top["optimizer"]
    assert best.params["lr"] == pytest.approx(float(top["lr"]), rel=1e-5)
    assert best.params["batch_size"] in (64, "full") and str(best.params["batch_size"]) == str(top["batch_size"])
    epochs = results.epochs
    at = epochs[(epochs["trial"] == best.trial) & (epochs["epoch"] == best.best_epoch)].iloc[0]
    assert best.metrics["val_accuracy"] == pytest.approx(float(at["val_accuracy"]), rel=1e-5)
    assert best.metrics["val_loss"] == pytest.approx(float(at["val_loss"]), rel=1e-5)
    assert best.metrics["test_accuracy"] == pytest.approx(float(top["test_accuracy"]), rel=1e-5)
    assert best.weights is not None and best.weights.is_file()


def test_loaded_model_is_the_trained_one(searched):
    """The best trial's model scores its recorded validation accuracy on the validation split."""
    import torch

    from hpbench.data.prepare import prepare

    _, results, _ = searched
    best = results.best
    model = results.load_model()
    assert isinstance(model, torch.nn.Module) and not model.training
    s = prepare(dataset="digits", options={}, val_fraction=0.2, test_fraction=0.2, preprocess=("standardize",), seed=0)
    with torch.no_grad():
        pred = model(torch.as_tensor(s.x_val, dtype=torch.float32)).argmax(1)
    accuracy = float((pred == torch.as_tensor(s.y_val)).float().mean())
    assert accuracy == pytest.approx(best.metrics["val_accuracy"], rel=1e-5)
    other = int(results.trials["trial"].iloc[-1])
    assert results.load_model(trial=other) is not None


def test_best_then_train_retrains_the_winner(searched, tmp_path):
    """``hpbench best --study-out`` → ``hpbench train``: the same trainer, seed and split, so the
    retrained model's metrics are the trial's, and the test split's are printed."""
    _, results, _ = searched
    best = results.best
    fixed = tmp_path / "best.toml"
    r = CliRunner().invoke(app, ["best", str(results.path), "--study-out", str(fixed)])
    assert r.exit_code == 0, r.output
    assert f"trial {best.trial}" in r.output and fixed.is_file()
    study = hpbench.Study.from_toml(fixed)
    assert len(study.space) == 0 and study.name == "tiny-best"
    assert study.config["optimizer"]["name"] == best.params["optimizer"]
    assert study.config["train"]["batch_size"] == best.params["batch_size"]
    out = tmp_path / "final"
    r = CliRunner().invoke(app, ["train", str(fixed), "--out", str(out)])
    assert r.exit_code == 0, r.output
    printed = dict(re.findall(r"│ (\w+) +│ +([-\d.e]+) │", r.output))
    assert "test_accuracy" in printed and "val_accuracy" in printed
    saved = json.loads((out / "metrics.json").read_text())["metrics"]
    for k in ("val_accuracy", "val_loss", "test_accuracy", "test_loss"):
        assert saved[k] == pytest.approx(best.metrics[k], rel=1e-5), k
        assert float(printed[k]) == pytest.approx(saved[k], rel=1e-3)  # printed to 4 digits


def test_search_json_prints_a_summary_on_stdout(searched):
    """Re-running the finished study (nothing left to run, so no Ray) with --json: stdout is one JSON object."""
    path, results, _ = searched
    r = CliRunner().invoke(app, ["search", str(path), "--out", str(results.path), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["study"] == "tiny" and summary["n_trials"] == 4 and summary["status"] == {"finished": 4}
    assert summary["best"]["trial"] == results.best.trial
    assert summary["best"]["value"] == pytest.approx(results.best.value, rel=1e-5)
    assert "all 4 trials done" in r.stderr


def test_report_from_python_matches_the_cli(searched):
    _, results, _ = searched
    out = StringIO()
    results.report(Console(file=out, width=120), sections=["leaderboard"])
    assert "Leaderboard" in out.getvalue()
    cli = json.loads(CliRunner().invoke(app, ["report", str(results.path), "--json", "-s", "leaderboard"]).output)
    assert results.report_json(sections=["leaderboard"]) == cli


def test_a_budget_spent_before_any_trial_is_said_not_a_traceback(ray_local, tmp_path):
    """--budget-s counts the command's clock from its start, plus the predicted after-search work:
    1 ms is spent before Ray Tune can launch anything (or, at most, while its first trial runs)."""
    path = tmp_path / "tiny.toml"
    path.write_text(STUDY, encoding="utf-8")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["search", str(path), "--out", str(out), "--budget-s", "0.001"])
    if r.exit_code == 1:  # nothing trained: said; a trial launched before the first check is in the table, interrupted, with no epoch
        flat = " ".join(r.output.split())  # Rich wraps the line at the runner's 80 columns, where the path falls
        assert "no trial ran: the budget (--budget-s 0.001) was spent before the first trial trained an epoch" in flat, r.output
        if (out / "trials.parquet").exists():
            trials = hpbench.load(out)
            assert set(trials["status"]) == {"interrupted"}, trials
            assert "epochs" not in trials.columns or not (trials["epochs"].fillna(0) > 0).any(), trials
    else:  # a trial launched before the first check: it ended as budget-stopped or finished, not running
        assert r.exit_code == 0, r.output
        trials = hpbench.load(out)
        assert len(trials) >= 1 and set(trials["status"]) == {"finished"}, trials[["status", "stop_reason"]]
