"""Real (tiny) searches through a real local Ray runtime."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.dispatch.runner import SearchOptions, run_search
from hpbench.study.parse import load_study
from tests.conftest import TINY_STUDY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_results(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    path = tmp / "tiny.toml"
    path.write_text(TINY_STUDY.replace('optimizer = { choice = ["adam", "sgd"] }',
                                       'optimizer = { choice = ["adam", "sgd", "momentum"] }\n'
                                       '"optimizer.momentum" = { uniform = [0.5, 0.9], when = { optimizer = ["momentum"] } }'))
    study = load_study(path, trials=6)
    out = tmp / "out"
    run_search(study, SearchOptions(out=out))
    return out


def test_tables_have_one_row_per_trial_and_epoch(tiny_results):
    trials = hpbench.load(tiny_results)
    epochs = hpbench.load(tiny_results, table="epochs")
    assert len(trials) == 6 and trials["trial"].is_unique
    assert set(trials["stop_reason"]) <= {"completed", "early_stopped", "pruned", "diverged"}
    for col in ("optimizer", "lr", "optimizer.momentum", "best_val_accuracy", "val_accuracy", "best_epoch", "epochs", "wall_s", "n_params"):
        assert col in trials.columns, col
    # the conditional parameter is present exactly where its condition holds
    assert (trials["optimizer.momentum"].notna() == (trials["optimizer"] == "momentum")).all()
    assert not epochs.duplicated(["trial", "epoch"]).any()
    per_trial = epochs.groupby("trial")["epoch"].max()
    assert (per_trial.sort_index().to_numpy() == trials.sort_values("trial")["epochs"].to_numpy()).all()
    assert {"train_loss", "val_loss", "val_accuracy", "epoch_s", "epoch_cpu_s"} <= set(epochs.columns)
    # each epoch's CPU seconds, measured in the Ray worker's training thread: some, and never (much) above its wall's
    assert (epochs["epoch_cpu_s"] > 0).all() and (epochs["epoch_cpu_s"] <= epochs["epoch_s"] * 1.05 + 1e-3).all()
    assert trials["best_val_accuracy"].max() > 0.5  # it really trained


def test_study_record_written(tiny_results):
    record = json.loads((tiny_results / "study.json").read_text())
    assert record["settings"]["metric"] == "val_accuracy"
    assert "optimizer.momentum" in record["space"]
    assert (tiny_results / "study.toml").is_file()


def test_report_cli_on_results(tiny_results):
    res = CliRunner().invoke(app, ["report", str(tiny_results), "--json"])
    assert res.exit_code == 0, res.output
    board = json.loads(res.output)["leaderboard"]
    top = board["top"]  # every trial, best first (the JSON always has "top" and "repeats": count the rows)
    assert len(top) == 6 and board["repeats"] == []
    values = [r["best_val_accuracy"] for r in top]
    assert values == sorted(values, reverse=True) and len({r["trial"] for r in top}) == 6
    assert all(r["optimizer"] in ("adam", "sgd", "momentum") and r["lr"] > 0 for r in top)


def test_load_does_not_import_ray_or_torch(tiny_results):
    code = ("import sys, hpbench; df = hpbench.load(sys.argv[1]); "
            "assert len(df) == 6; print('ray' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tiny_results)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_test_split_is_evaluated_once_for_the_best_only(ray_local, tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(TINY_STUDY.replace('preprocess = ["standardize"]', 'preprocess = ["standardize"]\ntest_fraction = 0.2')
                    .replace('trials = 4', 'trials = 4\nrepeats_top = 2'))
    study = load_study(path)
    run_search(study, SearchOptions(out=tmp_path / "out"))
    trials = hpbench.load(tmp_path / "out").sort_values("best_val_accuracy", ascending=False)
    assert trials["test_accuracy"].notna().tolist() == [True, True, False, False]
    assert trials["test_accuracy"].iloc[0] > 0.5 and "test_loss" in trials.columns


def test_budget_stops_launching_trials(ray_local, tmp_path):
    """Each epoch sleeps 0.05 s inside the measured epoch (tests.helpers.flaky), so a trial of 5
    epochs spends at least 0.25 s on any machine (trials of ~0.02 s could all end before the
    first check)."""
    path = tmp_path / "b.toml"
    marks = tmp_path / "marks"
    marks.mkdir()
    path.write_text(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 1").replace("trials = 4", "trials = 12")
                    .replace("max_epochs = 3", "max_epochs = 5")
                    .replace('family = "mlp"\ndepth = 1\nwidth = 32', f'family = "tests.helpers.flaky:build"\ndir = "{marks}"\nsleep = 0.05'))
    study = load_study(path)
    # --budget-s counts the command's wall clock (here: since run_search was called) plus the
    # predicted after-search work: 1 ms is spent before any trial can end, and each trial here
    # spends at least 0.25 s sleeping, so at most the trial running at the first check ends
    store = run_search(study, SearchOptions(out=tmp_path / "out", budget_s=1e-3))
    assert len(store.trials) <= 2, len(store.trials)
    if store.trials:
        trials = hpbench.load(tmp_path / "out")
        assert len(trials) == len(store.trials)
        # a trial the spent budget stopped is ended as such (not left 'running', redone on --resume)
        assert set(trials["status"]) == {"finished"}, trials[["status", "stop_reason"]]
        assert set(trials["stop_reason"]) <= {"budget", "completed", "pruned"}


def test_ctrl_c_during_the_test_split_stops_as_in_the_trials(ray_local, tmp_path, monkeypatch):
    """The first Ctrl-C while the best trials were evaluated on the test split only printed
    "stopping": the evaluation went on, the report followed and the command exited 0."""
    import signal

    import hpbench.train.evaluate as evaluate

    path = tmp_path / "t.toml"
    path.write_text(TINY_STUDY.replace('preprocess = ["standardize"]', 'preprocess = ["standardize"]\ntest_fraction = 0.2')
                    .replace('trials = 4', 'trials = 4\nrepeats_top = 2'))
    real, calls = evaluate.evaluate_test, []

    def evaluated_then_ctrl_c(cfg, model):
        calls.append(1)
        signal.raise_signal(signal.SIGINT)  # a real signal, into the search's own handler
        return real(cfg, model)

    monkeypatch.setattr(evaluate, "evaluate_test", evaluated_then_ctrl_c)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["search", str(path), "--out", str(out), "--no-early-trials"])
    assert res.exit_code == 130, res.output
    assert "continue with:" in res.output and "--resume" in res.output
    assert calls == [1]  # the second of the two best was not evaluated after the Ctrl-C
    trials = hpbench.load(out)
    assert len(trials) == 4 and set(trials["status"]) == {"finished"}
    assert trials["test_accuracy"].notna().sum() == 1  # the evaluation finished before the Ctrl-C keeps its columns


def test_ctrl_c_during_the_final_report_says_the_results_are_saved(ray_local, tmp_path, monkeypatch, request):
    """A Ctrl-C while the final leaderboard printed ended in Click's bare "Aborted!" and exit 1."""
    import signal

    from hpbench.api.results import Results

    def ctrl_c(self, *args, **kwargs):
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(Results, "report", ctrl_c)
    # Python's own Ctrl-C handler, as the command has it after the search (an in-process Ray Tune run of an
    # earlier test can leave Tune's, which only logs)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, handler))
    sigterm_before = signal.getsignal(signal.SIGTERM)
    path = tmp_path / "t.toml"
    path.write_text(TINY_STUDY)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["search", str(path), "--out", str(out), "--no-early-trials"])
    assert res.exit_code == 130, res.output
    assert "interrupted during the report: the search is done" in " ".join(res.output.split())
    assert "Aborted" not in res.output
    assert len(hpbench.load(out)) == 4 and set(hpbench.load(out)["status"]) == {"finished"}
    assert signal.getsignal(signal.SIGTERM) is sigterm_before  # the report's SIGTERM handler is put back


def test_a_resumed_search_prunes_below_the_earlier_runs_trials(ray_local, tmp_path):
    """The earlier run's finished trial holds ASHA's first rung in the resumed search: the one new
    trial (zero initialization, chance accuracy) is pruned at epoch 1. Before, the resumed search's
    rungs started empty and it ran all its epochs."""
    import dataclasses

    grid = """[study]
name = "g"
seed = 0
metric = "val_accuracy"
mode = "max"
searcher = "grid"
scheduler = "asha"
max_concurrent = 1
[data]
dataset = "digits"
[model]
family = "mlp"
[train]
max_epochs = 4
[optimizer]
name = "adam"
lr = 0.01
[space]
init = { choice = INITS }
"""
    first, both = (tmp_path / "first.toml", tmp_path / "both.toml")
    first.write_text(grid.replace("INITS", '["xavier_uniform"]'))
    both.write_text(grid.replace("INITS", '["xavier_uniform", "zeros"]'))
    out = tmp_path / "out"
    run_search(load_study(first), SearchOptions(out=out))
    run_search(load_study(both), dataclasses.replace(SearchOptions(out=out), force=True))  # the space grew: a resume with --force
    trials = hpbench.load(out).set_index("init")
    assert trials.loc["xavier_uniform", "stop_reason"] == "completed" and trials.loc["xavier_uniform", "best_val_accuracy"] > 0.5
    assert trials.loc["zeros", "stop_reason"] == "pruned" and trials.loc["zeros", "epochs"] == 1


def test_the_median_rule_prunes_trials_shorter_than_a_second(ray_local, tmp_path):
    """Three good trials, then two at chance level (plain SGD at 1e-4): the median rule stops the
    two at an early epoch. Their epochs last milliseconds; the trials reported once a second, so
    the rule saw their last epoch only and pruned none (bug hunt s47h3)."""
    study = tmp_path / "median.toml"
    study.write_text("""[study]
name = "median"
seed = 0
metric = "val_accuracy"
mode = "max"
trials = 5
searcher = "random"
scheduler = "median"
grace_period = 1
max_concurrent = 1
enqueue = [{ optimizer = "adam", lr = 0.01 }, { optimizer = "adam", lr = 0.005 }, { optimizer = "adam", lr = 0.02 },
           { optimizer = "sgd", lr = 0.0001 }, { optimizer = "sgd", lr = 0.0002 }]
[data]
dataset = "digits"
[model]
family = "mlp"
[train]
max_epochs = 6
[space]
optimizer = { choice = ["adam", "sgd"] }
lr = { loguniform = [1e-4, 1e-1] }
""")
    out = tmp_path / "out"
    run_search(load_study(study), SearchOptions(out=out))
    trials = hpbench.load(out).set_index("lr")
    assert (trials.loc[[0.01, 0.005, 0.02], "epochs"] == 6).all(), trials[["optimizer", "epochs", "stop_reason"]]
    slow = trials.loc[[0.0001, 0.0002]]
    assert (slow["stop_reason"] == "pruned").all() and (slow["epochs"] < 6).all(), trials[["optimizer", "epochs", "stop_reason"]]


def test_a_search_in_which_every_trial_diverged_exits_1(ray_local, tmp_path):
    """Every trial diverged (SGD at lr 1e5..1e6): the search exited 0 with an empty leaderboard
    (bug hunt s51/h1 #5); it ends with one closing line and exit 1, as when every trial failed."""
    path = tmp_path / "d.toml"
    path.write_text(TINY_STUDY.replace('optimizer = { choice = ["adam", "sgd"] }', 'optimizer = { choice = ["sgd"] }')
                    .replace("lr = { loguniform = [1e-3, 1e-1] }", "lr = { loguniform = [1e5, 1e6] }").replace("trials = 4", "trials = 2"))
    r = CliRunner().invoke(app, ["search", str(path), "--out", str(tmp_path / "out"), "--no-early-trials"])
    trials = hpbench.load(tmp_path / "out")
    assert set(trials["stop_reason"]) == {"diverged"}, trials[["status", "stop_reason"]]
    assert r.exit_code == 1, r.output
    assert "no trial produced a value of val_accuracy: 2 diverged" in " ".join(r.output.split())
    assert str(trials["best_val_accuracy"].dtype) == "float64"
