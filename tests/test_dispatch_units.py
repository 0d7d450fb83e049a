"""Dispatcher logic without a Ray runtime: when trials report, and the cost predictions'
helper process."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from hpbench.dispatch.schedulers import decision_epochs


@pytest.mark.parametrize(("grace", "rf", "max_t"), [(1, 3, 30), (1, 3, 27), (1, 2, 100), (2, 3, 30), (3, 4, 48), (5, 3, 5), (1, 3, 1), (4, 2, 64)])
def test_asha_decision_epochs_are_rays_rungs(grace, rf, max_t):
    import math

    from ray.tune.schedulers.async_hyperband import _Bracket  # the layout hpbench must agree with

    rungs = {math.ceil(m) for m, _ in _Bracket(min_t=grace, max_t=max_t, reduction_factor=rf, s=0)._rungs}
    study = SimpleNamespace(settings=SimpleNamespace(scheduler="asha", grace_period=grace, reduction_factor=rf))
    assert decision_epochs(study, max_t=max_t) == rungs


def test_a_scheduler_without_rungs_needs_no_decision_epochs_and_the_median_rule_every_one():
    def study(scheduler: str) -> SimpleNamespace:
        return SimpleNamespace(settings=SimpleNamespace(scheduler=scheduler, grace_period=1, reduction_factor=3))

    assert decision_epochs(study("none"), max_t=30) == frozenset()
    assert decision_epochs(study("median"), max_t=30) == frozenset(range(1, 31))  # it judges every epoch (bug hunt s47h3)


PREDICT_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from hpbench.study.parse import load_study
from hpbench.dispatch.predictions import AsyncPredictions
from hpbench.results.store import ResultsStore

study = load_study(sys.argv[1])
store = ResultsStore(out=Path(tempfile.mkdtemp()), metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
preds = AsyncPredictions(study=study)
for tid, lr in [("a", 0.01), ("b", 0.001)]:
    store.start(tid, {"optimizer": "adam", "lr": lr})
    preds.submit(tid, {"optimizer": "adam", "lr": lr})
preds.close(store)
print(json.dumps({"torch_in_driver": "torch" in sys.modules, "distinct_predictions": len(preds.by_key),
                  "a": store.trials["a"].get("predicted_s"), "b": store.trials["b"].get("predicted_s"),
                  "flops": store.trials["a"].get("flops_per_step")}))
"""


def test_predictions_run_in_a_helper_process_once_per_architecture(write_study):
    """The driver never loads torch for predictions, and two trials differing only in the
    learning rate share one prediction."""
    from tests.conftest import TINY_STUDY

    path = write_study(TINY_STUDY)
    out = subprocess.run([sys.executable, "-c", PREDICT_SCRIPT, str(path)], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["torch_in_driver"] is False
    assert got["distinct_predictions"] == 1
    assert got["a"] is not None and got["a"] > 0 and got["a"] == got["b"]
    assert got["flops"] > 0


def test_a_late_prediction_never_blocks_and_still_fills_the_spent_columns(tmp_path):
    """The driver harvests without waiting; a prediction landing after its trial finished
    still yields the trial's FLOPs spent and prediction error."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from hpbench.dispatch.predictions import AsyncPredictions
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study
    from tests.conftest import TINY_STUDY

    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    study = load_study(path)
    release = threading.Event()

    def slow_predict(study, params, device):
        release.wait(timeout=30)
        return {"flops_per_epoch": 1e6, "predicted_epoch_s": 0.5}

    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    preds = AsyncPredictions(study=study, predict=slow_predict, executor=ThreadPoolExecutor(max_workers=1))
    store.start("t", {"optimizer": "adam", "lr": 0.01})
    preds.submit("t", {"optimizer": "adam", "lr": 0.01})
    for e in (1, 2):
        store.epoch("t", {"epoch": e, "val_accuracy": 0.5, "epoch_s": 0.25})
    assert preds.harvest(store) == [] and preds.is_pending("t")  # not ready: returns at once
    store.finish("t")
    assert store.trials["t"].get("flops_spent") is None
    release.set()
    preds.close(store)
    t = store.trials["t"]
    assert t["flops_spent"] == 2e6 and t["measured_s"] == 0.5
    assert t["prediction_error"] == pytest.approx((1.0 - 0.5) / 0.5)


def _soon_and_late(tmp_path, *, late):
    """Two finished trials of two architectures (costs predicted apart): 'soon''s prediction comes
    at once, 'late''s once ``late`` is set. Returns (study, store, predictions)."""
    from concurrent.futures import ThreadPoolExecutor

    from hpbench.dispatch.predictions import AsyncPredictions
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study
    from tests.conftest import TINY_STUDY

    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    study = load_study(path)

    def predict(study, params, device):
        if params["optimizer"] == "sgd":
            late.wait(timeout=30)
        return {"predicted_flops": 1e6, "flops_per_epoch": 1e6, "predicted_epoch_s": 0.5}

    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    preds = AsyncPredictions(study=study, predict=predict, executor=ThreadPoolExecutor(max_workers=2))
    for tid, optimizer in (("soon", "adam"), ("late", "sgd")):
        store.start(tid, {"optimizer": optimizer, "lr": 0.01})
        preds.submit(tid, {"optimizer": optimizer, "lr": 0.01})
        store.epoch(tid, {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.25})
        store.finish(tid)
    return study, store, preds


def test_an_interrupted_search_keeps_the_predictions_that_come_soon_and_a_resumed_one_makes_the_rest(tmp_path):
    """Ctrl-C waited for no prediction: trials that had finished lost their cost columns for good
    (the report said the cost model did not run). Now the interrupted search waits a little for
    them, and a resumed one predicts again those still missing (``predictions.unpriced``)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from hpbench.dispatch.predictions import AsyncPredictions, unpriced

    never = threading.Event()  # still in the helper when the search stops
    study, store, preds = _soon_and_late(tmp_path, late=never)
    preds.harvest(store, wait=True, within_s=0.5)  # the interrupted search's close, without stopping the executor
    assert store.trials["soon"]["predicted_flops"] == 1e6 and store.trials["soon"]["flops_spent"] == 1e6
    assert store.trials["late"].get("predicted_flops") is None
    assert unpriced(store, study) == [("late", {"optimizer": "sgd", "lr": 0.01})]
    never.set()
    resumed = AsyncPredictions(study=study, predict=preds.predict, executor=ThreadPoolExecutor(max_workers=1))
    for tid, params in unpriced(store, study):
        resumed.submit(tid, params)
    resumed.close(store)
    assert store.trials["late"]["predicted_flops"] == 1e6 and store.trials["late"]["flops_spent"] == 1e6
    assert unpriced(store, study) == []


def _recorder_setup(tmp_path, predict, *, budget=None, replays=None):
    from concurrent.futures import ThreadPoolExecutor
    from io import StringIO

    from rich.console import Console

    from hpbench.dispatch.predictions import AsyncPredictions
    from hpbench.dispatch.progress import Progress
    from hpbench.dispatch.recorder import Recorder
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study
    from tests.conftest import TINY_STUDY

    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    study = load_study(path)
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    preds = AsyncPredictions(study=study, predict=predict, executor=ThreadPoolExecutor(max_workers=1))
    con = Console(file=StringIO(), width=200)
    progress = Progress(store=store, n_trials=2, console=con, study_name="tiny")
    return store, preds, Recorder(store=store, progress=progress, predictions=preds, budget=budget, replays=replays), con


def test_a_budget_stop_before_the_first_epoch_leaves_the_trial_to_run_again(tmp_path):
    """A spent budget stopped two trials whose workers were still starting: they were written
    finished with no metric, counted as done, and a resumed search never ran them."""
    from hpbench.results.status import StopReason, TrialStatus

    store, _, rec, _ = _recorder_setup(tmp_path, lambda study, params, device: {})
    for tid in ("trained", "starting"):
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
    store.epoch("trained", {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.25})
    assert rec.end_running(StopReason.BUDGET) == ["trained"]
    assert store.row("trained")["status"] == TrialStatus.FINISHED and store.row("trained")["stop_reason"] == "budget"
    assert store.row("starting")["status"] == TrialStatus.INTERRUPTED


def _trial(tid, config, *, error=None):
    return SimpleNamespace(trial_id=tid, config=config, last_result={}, checkpoint=None, error_file=None, get_error=lambda: error)


def test_the_recorder_keeps_the_tables_without_a_ray_runtime(tmp_path):
    """Tune's callback hooks, fed fake trials: rows, epochs, stop reasons, errors, spent cost and the budget."""
    import threading

    from hpbench.dispatch.budget import Budget

    release = threading.Event()

    def predict(study, params, device):
        release.wait(timeout=30)
        return {"flops_per_epoch": 1e6, "predicted_epoch_s": 0.5}

    budget = Budget(flops=1e12)
    store, preds, rec, con = _recorder_setup(tmp_path, predict, budget=budget)
    ok, bad = _trial("ok", {"optimizer": "adam", "lr": 0.01}), _trial("bad", {"optimizer": "adam", "lr": 0.1}, error="RuntimeError: boom")
    rec.on_trial_start(iteration=0, trials=[], trial=ok)
    rec.on_trial_start(iteration=0, trials=[], trial=bad)
    assert store.counts()["running"] == 2
    first = {"epoch": 1, "val_accuracy": 0.4, "epoch_s": 0.25}
    rec.on_trial_result(iteration=1, trials=[], trial=ok,
                        result={"epoch": 2, "val_accuracy": 0.6, "epoch_s": 0.25, "stop_reason": "completed", "epoch_rows": [first]})
    assert budget.spent_flops == 0 and budget.spent_s == 0.5  # no prediction yet: its FLOPs wait for it
    release.set()
    preds.pool.shutdown(wait=True)
    rec.on_step_end(iteration=2, trials=[])
    assert budget.spent_flops == 2e6  # charged once the prediction landed
    rec.on_trial_complete(iteration=3, trials=[], trial=ok)
    rec.on_trial_error(iteration=3, trials=[], trial=bad)
    row, failed = store.row("ok"), store.row("bad")
    assert (row["status"], row["stop_reason"], row["epochs"], row["best_val_accuracy"]) == ("finished", "completed", 2, 0.6)
    assert row["flops_spent"] == 2e6 and row["measured_s"] == 0.5
    assert (failed["status"], failed["stop_reason"], failed["error"]) == ("failed", "failed", "RuntimeError: boom")
    assert store.counts() == {"running": 0, "completed": 1, "solved": 0, "early_stopped": 0, "time_limit": 0, "pruned": 0, "budget": 0, "diverged": 0,
                              "failed": 1}
    assert "trial 0 completed after 2 epochs" in con.file.getvalue()
    preds.close(store)


def test_the_trials_table_records_each_search_trials_number_in_the_optuna_storage(tmp_path):
    """hpbench numbers trials as they start; the Optuna storage (optuna.db, optuna-dashboard) as it
    receives them, each once it has finished (hpbench.dispatch.write_behind): with max_concurrent 2
    they crossed (Optuna's trial 0, the default configuration, was hpbench's trial 1) and no column
    joined the two. Tune's trials are noted by the searcher, early ones as they begin."""
    import optuna
    import pandas as pd

    import hpbench
    from hpbench.dispatch.optuna_numbers import AskedTrials
    from hpbench.dispatch.search_phase import _begin_early
    from hpbench.dispatch.searchers import OBJECTIVE, make_searcher
    from hpbench.dispatch.write_behind import WriteBehind

    store, preds, _, _ = _recorder_setup(tmp_path, lambda study, params, device: {})
    study, url = preds.study, f"sqlite:///{tmp_path / 'optuna.db'}"
    storage, asked = WriteBehind(optuna.storages.RDBStorage(url), study_name=study.name), AskedTrials()
    store.on_written = storage.tables_wrote  # a trial's end reaches the storage once the tables on disk hold it (search_storage)
    ostudy = optuna.create_study(storage=storage, study_name=study.name, direction="maximize")
    first = ostudy.ask()  # an early trial, asked before Tune's searcher is built (in-memory number 0)
    params = study.space.define_by_run(first)
    _begin_early(SimpleNamespace(trial_id="early", params=params, optuna_trial=first), store=store, asked=asked,
                 clock=SimpleNamespace(trial_started=lambda tid: None), trackers=None, predictions=SimpleNamespace(submit=lambda tid, p: None))
    searcher = make_searcher(study, storage=storage, asked=asked)
    configs = {tid: searcher.suggest(tid) for tid in ("a", "b")}
    for tid in ("b", "a"):  # b started first: hpbench's trial 1
        store.start(tid, configs[tid])
    for tid, value in (("a", 0.5), ("b", 0.7)):  # a finished first: the storage's trial 0
        searcher.on_trial_complete(tid, result={OBJECTIVE: value, "stop_reason": "completed", "epoch": 1})
        store.epoch(tid, {"epoch": 1, "val_accuracy": value, "stop_reason": "completed"})
        store.finish(tid)
        store.flush(force=True)
        storage.flush()
    ostudy.tell(first, 0.1)
    store.start("repeat", configs["a"])  # a repeat: no Optuna trial
    storage.close()
    asked.annotate(store, storage.numbers)
    store.flush(force=True)
    trials = hpbench.load(tmp_path / "out").set_index("trial_id")
    assert trials.loc[["early", "b", "a"], "trial"].tolist() == [0, 1, 2]
    assert trials.loc[["early", "b", "a"], "optuna_trial"].tolist() == [2, 1, 0] and pd.isna(trials.loc["repeat", "optuna_trial"])
    assert str(trials["optuna_trial"].dtype) == "Int64"
    stored = {t.number: t.params["lr"] for t in optuna.load_study(study_name=study.name, storage=url).trials}
    assert {tid: stored[int(trials.loc[tid, "optuna_trial"])] for tid in ("early", "b", "a")} == pytest.approx(
        {tid: float(trials.loc[tid, "lr"]) for tid in ("early", "b", "a")}, rel=1e-9)
    preds.close(store)


def test_tables_unwritable_as_a_trial_ends_are_raised_at_tunes_next_step_not_in_its_stop_trial(tmp_path, monkeypatch):
    """Tune's stop_trial catches what its completion callbacks raise, logs "Error stopping trial"
    with a traceback and fails the finished trial: a full disk as a trial ends is raised from the
    next on_step_end instead (out of Tune's loop, to the command's clear error), the trial ended."""
    from hpbench.results.store import TablesNotWritten

    store, preds, rec, _ = _recorder_setup(tmp_path, lambda study, params, device: {})
    trial = _trial("t", {"optimizer": "adam", "lr": 0.01})
    rec.on_trial_start(iteration=0, trials=[], trial=trial)
    rec.on_trial_result(iteration=1, trials=[], trial=trial, result={"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
    full = TablesNotWritten(f"{tmp_path}: cannot write trials.parquet: No space left on device")

    def flush(*a, **k):
        raise full

    monkeypatch.setattr(store, "flush", flush)
    rec.on_trial_complete(iteration=2, trials=[], trial=trial)  # does not raise inside Tune's stop_trial
    assert store.row("t")["status"] == "finished" and rec.unwritten is full
    with pytest.raises(TablesNotWritten, match="No space left"):
        rec.on_step_end(iteration=3, trials=[])
    preds.close(store)


def test_replays_are_labelled_and_a_scheduler_stop_is_pruned(tmp_path):
    from hpbench.dispatch.trainable import Replay

    replays = [Replay(params={"optimizer": "adam", "lr": 0.01}, seed=8, labels={"repeat": 1, "repeat_of": 0, "seed": 8})]
    store, preds, rec, _ = _recorder_setup(tmp_path, lambda study, params, device: {}, replays=replays)
    trial = _trial("r", {"replay": 0})
    rec.on_trial_start(iteration=0, trials=[], trial=trial)
    rec.on_trial_result(iteration=1, trials=[], trial=trial, result={"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
    rec.on_trial_complete(iteration=2, trials=[], trial=trial)
    row = store.row("r")
    assert (row["lr"], row["repeat"], row["repeat_of"], row["seed"], row["stop_reason"]) == (0.01, 1, 0, 8, "pruned")
    assert "flops_spent" not in row  # no prediction, no spent columns
    preds.close(store)


def test_a_loggers_run_of_a_repeat_says_it_is_one(tmp_path):
    """The loggers logged a search's repeats as ordinary trials: MLflow's run "trial 3", a seed
    repeat of trial 1 with its parameters, ranked first by best_val_accuracy with nothing saying
    it was a repeat (bug hunt s48/h5). A replay's labels (repeat, repeat_of, seed) go with its
    parameters."""
    from hpbench.dispatch.trainable import Replay

    replays = [Replay(params={"optimizer": "adam", "lr": 0.01}, seed=8, labels={"repeat": 1, "repeat_of": 0, "seed": 8})]
    store, preds, rec, _ = _recorder_setup(tmp_path, lambda study, params, device: {}, replays=replays)
    started: list[tuple[int, dict]] = []
    rec.trackers = SimpleNamespace(start=lambda trial, params: started.append((trial, dict(params))))
    rec.on_trial_start(iteration=0, trials=[], trial=_trial("r", {"replay": 0}))
    assert started == [(0, {"optimizer": "adam", "lr": 0.01, "repeat": 1, "repeat_of": 0, "seed": 8})]
    preds.close(store)


def test_the_store_takes_ready_columns_and_computes_no_cost(tmp_path):
    from hpbench.results.store import ResultsStore

    store = ResultsStore(out=tmp_path, metric="val_loss", mode="min", param_keys=["lr"])
    store.start("t", {"lr": 0.1})
    store.epoch("t", {"epoch": 1, "val_loss": 1.0, "epoch_s": 2.0})
    store.finish("t")
    store.annotate("t", {"flops_per_epoch": 5.0, "predicted_epoch_s": 1.0})
    assert "flops_spent" not in store.row("t") and store.row("t")["stop_reason"] == "pruned"
    assert "t" in store and len(store) == 1 and [r["trial_id"] for r in store.rows()] == ["t"]
    with pytest.raises(TypeError):
        store.row("t")["lr"] = 1.0  # read-only: rows change through the store's methods


# -- the searcher on resume and extension (no Ray runtime: Tune's OptunaSearch driven by hand) --------
def _searched(study, storage, done: list[dict], n: int) -> list[dict]:
    """``n`` configurations a search proposes after ``done`` (an earlier run's finished trials)."""
    import optuna

    from hpbench.dispatch.searchers import OBJECTIVE, make_searcher

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    searcher = make_searcher(study, storage=storage, done=done)
    out = []
    for i in range(n):
        tid = f"trial-{len(done) + i}"
        config = searcher.suggest(tid)
        searcher.on_trial_complete(tid, {OBJECTIVE: float(config["lr"]), "epoch": 1, "stop_reason": "completed"})
        out.append(config)
    return out


@pytest.mark.parametrize("searcher", ["random", "tpe", "tpe-group"])
def test_an_extended_search_adds_only_new_configurations_and_a_resumed_one_is_reproducible(tmp_path, searcher):
    """A random search of 6 trials extended to 12 (``--trials 12`` / ``--resume``) ran the same 6
    configurations again: the sampler had the same seed on every start. Seeded from the study seed
    and the trials done, the 6 new ones are new, and two resumes from the same point agree."""
    import shutil

    from hpbench.dispatch.storage import open_storage, sqlite_url
    from hpbench.study.parse import parse_study

    study = parse_study({"study": {"name": "ext", "searcher": searcher, "metric": "val_accuracy", "max_concurrent": 2},
                         "data": {"dataset": "iris"}, "model": {"family": "mlp"},
                         "space": {"lr": {"loguniform": [1e-4, 1e-1]}, "optimizer": {"choice": ["adam", "sgd"]}}})
    first = _searched(study, open_storage(sqlite_url(tmp_path / "a.db")), [], 6)
    for suffix in ("", "-wal", "-shm"):  # the storage runs in WAL mode: its recent commits are in a.db-wal
        if (tmp_path / f"a.db{suffix}").exists():
            shutil.copy(tmp_path / f"a.db{suffix}", tmp_path / f"b.db{suffix}")
    extended = _searched(study, open_storage(sqlite_url(tmp_path / "a.db")), first, 6)
    again = _searched(study, open_storage(sqlite_url(tmp_path / "b.db")), first, 6)
    assert not {c["lr"] for c in first} & {c["lr"] for c in extended}, "the extension re-ran earlier configurations"
    assert len({c["lr"] for c in first + extended}) == 12
    assert extended == again  # resumed from the same point: the same configurations
    assert _searched(study, open_storage(sqlite_url(tmp_path / "c.db")), [], 6) == first  # a fresh start is as before


def test_a_trial_the_scheduler_stopped_is_pruned_in_the_optuna_study_and_one_that_ended_is_complete(tmp_path):
    """Tune hands the searcher a stopped trial's last result (no ``stop_reason``: the trainer did
    not end it) as it hands a finished one's; Optuna's storage shows the first PRUNED, its value at
    the epoch it was stopped among its intermediate values, and the second COMPLETE, as Optuna's
    own pruning leaves them. The parameter importances still weigh both."""
    import optuna

    from hpbench.dispatch.searchers import OBJECTIVE, make_searcher
    from hpbench.dispatch.storage import open_storage, sqlite_url
    from hpbench.report.matters import scored_trials
    from hpbench.study.parse import parse_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = parse_study({"study": {"name": "pruned", "searcher": "tpe", "metric": "val_accuracy", "max_concurrent": 2},
                         "data": {"dataset": "iris"}, "model": {"family": "mlp"}, "space": {"lr": {"loguniform": [1e-4, 1e-1]}}})
    url = sqlite_url(tmp_path / "o.db")
    searcher = make_searcher(study, storage=open_storage(url))
    for tid in ("ended", "stopped", "errored"):
        assert searcher.suggest(tid) is not None
    searcher.on_trial_result("ended", {OBJECTIVE: 0.5, "epoch": 1})
    searcher.on_trial_complete("ended", {OBJECTIVE: 0.9, "epoch": 3, "stop_reason": "early_stopped"})
    searcher.on_trial_result("stopped", {OBJECTIVE: 0.4, "epoch": 1})
    searcher.on_trial_complete("stopped", {OBJECTIVE: 0.6, "epoch": 3})  # ASHA's rung at 3: Tune does not pass it to on_trial_result
    searcher.on_trial_complete("errored", None, error=True)
    trials = optuna.load_study(study_name="pruned", storage=url).get_trials(deepcopy=False)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL]
    assert trials[0].value == pytest.approx(0.9, rel=1e-6)
    assert trials[1].intermediate_values == pytest.approx({1: 0.4, 3: 0.6}, rel=1e-6)  # (Optuna keeps the last as its value)
    scored = scored_trials(optuna.load_study(study_name="pruned", storage=url))
    assert [t.value for t in scored] == pytest.approx([0.9, 0.6], rel=1e-6)
    assert [t.params for t in scored] == [trials[0].params, trials[1].params]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in scored)


def test_sampler_seed_keeps_the_study_seed_on_a_fresh_start():
    from hpbench.dispatch.searchers import sampler_seed

    assert sampler_seed(7, 0) == 7
    assert sampler_seed(7, 6) == sampler_seed(7, 6) != sampler_seed(7, 7) != 7
    assert sampler_seed(7, 6) != sampler_seed(8, 6)


def test_tpe_uses_constant_liar_when_trials_run_at_once():
    import optuna  # noqa: F401

    from hpbench.dispatch.searchers import SEARCHERS
    from hpbench.study.parse import parse_study

    def sampler(n: int):
        study = parse_study({"study": {"searcher": "tpe", "max_concurrent": n}, "data": {"dataset": "iris"}, "model": {"family": "mlp"}})
        return SEARCHERS.get("tpe").build(seed=0, space=study.space, max_concurrent=study.settings.max_concurrent)[0].inner(0)  # a trial's own

    assert sampler(2)._constant_liar is True
    assert sampler(1)._constant_liar is False


def test_tpe_group_models_the_parameters_drawn_together_jointly():
    """``searcher = "tpe-group"``: multivariate TPE over the groups of parameters that occur
    together (Optuna's group=True), the constant liar as plain TPE has it; after its random start
    on a conditional space (momentum only for SGD with momentum), every proposal carries its own
    optimizer's parameters and no other's."""
    import optuna

    from hpbench.dispatch.searchers import SEARCHERS
    from hpbench.study.parse import parse_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = parse_study({"study": {"searcher": "tpe-group", "max_concurrent": 2}, "data": {"dataset": "iris"}, "model": {"family": "mlp"},
                         "space": {"optimizer": {"choice": ["momentum", "adam"]}, "lr": {"loguniform": [1e-4, 1e-1]},
                                   "optimizer.momentum": {"uniform": [0.5, 0.99], "when": {"optimizer": ["momentum"]}}}})
    sampler = SEARCHERS.get("tpe-group").build(seed=0, space=study.space, max_concurrent=study.settings.max_concurrent)[0]
    inner = sampler.inner(0)  # each trial's own sampler (hpbench.space.by_trial)
    assert (inner._multivariate, inner._group, inner._constant_liar) == (True, True, True)
    ostudy = optuna.create_study(sampler=sampler, direction="maximize")
    for _ in range(16):
        t = ostudy.ask()
        params = study.space.define_by_run(t)
        assert ("optimizer.momentum" in params) == (params["optimizer"] == "momentum"), params
        ostudy.tell(t, -abs(float(params["lr"]) - 0.01) + (0.1 if params["optimizer"] == "adam" else 0.0))
    late = [t.params["optimizer"] for t in ostudy.trials[12:]]  # past the random start: the better optimizer mostly
    assert late.count("adam") >= 3


def test_the_store_ranks_a_trial_by_the_metric_of_the_weights_it_saved(tmp_path):
    """best_epoch is the trainer's (the saved weights' epoch); <metric> and best_<metric> are the
    metric there. A pruned trial (no trainer best_epoch) gets the epoch of its best value, not its
    last epoch."""
    from hpbench.results.store import ResultsStore

    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["lr"])
    runs = {"kept-best": ([0.5, 0.9, 0.7], 2), "restored-monitor": ([0.5, 0.9, 0.7], 1), "pruned": ([0.6, 0.8, 0.7], None)}
    for tid, (values, best_epoch) in runs.items():
        store.start(tid, {"lr": 0.1})
        for e, v in enumerate(values, 1):
            row = {"epoch": e, "val_accuracy": v, "epoch_s": 0.1}
            if e == len(values) and best_epoch is not None:
                row.update(stop_reason="completed", best_epoch=best_epoch)
            store.epoch(tid, row)
        store.finish(tid)
    rows = {tid: store.row(tid) for tid in runs}
    assert (rows["kept-best"]["best_epoch"], rows["kept-best"]["val_accuracy"], rows["kept-best"]["best_val_accuracy"]) == (2, 0.9, 0.9)
    # restore_best_weights kept epoch 1 (its monitor's best): the trial is ranked by what it saved
    assert (rows["restored-monitor"]["best_epoch"], rows["restored-monitor"]["best_val_accuracy"]) == (1, 0.5)
    assert (rows["pruned"]["best_epoch"], rows["pruned"]["val_accuracy"], rows["pruned"]["best_val_accuracy"]) == (2, 0.8, 0.8)
    assert store.best()["trial_id"] == "kept-best"


def test_a_trial_line_says_one_epoch_not_one_epochs():
    from hpbench.dispatch.progress import _epochs

    assert (_epochs(1), _epochs(0), _epochs(3)) == ("1 epoch", "0 epochs", "3 epochs")


@pytest.mark.parametrize("searcher", ["random", "tpe", "tpe-group"])
def test_tunes_searcher_never_redraws_the_configurations_the_early_trials_go_on_drawing(tmp_path, searcher):
    """The early trials' sampler (the study seed) goes on drawing after Tune's searcher is built
    from the same storage. Built with none drawn yet (the default configuration, enqueued, still
    training), Tune's sampler took the study seed too and proposed the early trials' next random
    configurations again (a race signals search trained 4 of its first 10 trials twice)."""
    import optuna

    from hpbench.dispatch.early_launch import early_sampler
    from hpbench.dispatch.searchers import make_searcher
    from hpbench.dispatch.storage import open_storage, sqlite_url
    from hpbench.study.parse import parse_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = parse_study({"study": {"name": "beside", "searcher": searcher, "metric": "val_accuracy", "max_concurrent": 2, "seed": 2},
                         "data": {"dataset": "iris"}, "model": {"family": "mlp"},
                         "space": {"lr": {"loguniform": [1e-4, 1e-1]}, "optimizer": {"choice": ["adam", "sgd"]}}})
    storage = open_storage(sqlite_url(tmp_path / "o.db"))
    ostudy = optuna.create_study(storage=storage, sampler=early_sampler(study)[0], study_name=study.name, load_if_exists=True,
                                 direction="maximize")
    tune = make_searcher(study, storage=storage, n_drawn=0, beside_early=True)  # as the runner builds it: none drawn yet
    early_lrs, tune_lrs = [], []
    for i in range(5):  # interleaved, as the helper and Tune's driver ask
        early_lrs.append(study.space.define_by_run(ostudy.ask())["lr"])
        tune_lrs.append(tune.suggest(f"t{i}")["lr"])
    assert len(set(early_lrs)) == len(set(tune_lrs)) == 5
    assert not set(early_lrs) & set(tune_lrs), "Tune's searcher proposed the early trials' configurations again"


def test_the_early_trials_draw_on_beside_tunes_searcher_only_while_they_may_launch_more(tmp_path):
    """What the runner tells ``make_searcher`` (``beside_early``) once the early trials share the
    search's count with Tune: while a trial still to be launched lies past the enqueued points, below
    their most (their least once stopped)."""
    from concurrent.futures import Future

    from hpbench.dispatch.early import EarlyTrial, EarlyTrials
    from hpbench.study.parse import parse_study

    study = parse_study({"study": {"name": "beside"}, "data": {"dataset": "iris"}, "model": {"family": "mlp"},
                         "space": {"lr": {"loguniform": [1e-4, 1e-1]}}})

    def draws_on(n_launched: int, *, n_max: int, n_points: int, n_min: int = 1, stopped: bool = False) -> bool:
        early = EarlyTrials(study=study, ostudy=None, executor=None, incoming=str(tmp_path), n_min=n_min, n_max=n_max,
                            points=[{"lr": 0.01}] * n_points, stopped=stopped, n_points=min(n_launched, n_points))  # the points launch first
        early.trials = [EarlyTrial(trial_id=f"early_{k:05d}", params={}, optuna_trial=None, future=Future()) for k in range(n_launched)]
        early.share(100, lambda t: None)
        return early.draws_on

    assert draws_on(1, n_max=250, n_points=1)  # the default configuration still training, more to draw
    assert not draws_on(2, n_max=2, n_points=1)  # at their most
    assert not draws_on(1, n_max=250, n_points=2)  # an enqueued point not launched yet is Tune's: the early trials stop
    assert not draws_on(1, n_max=250, n_points=2, n_min=2)  # stopped, the one still missing is that point, Tune's
    assert draws_on(1, n_max=250, n_points=1, n_min=2, stopped=True)  # stopped, the second of the two at least is drawn


def test_a_search_whose_trials_trained_no_epoch_is_told_apart():
    """The search command's exit 1 when a budget left no trial an epoch (it exited 0 with an empty leaderboard)."""
    import pandas as pd

    from hpbench.cli.search import _trained

    assert not _trained(pd.DataFrame({"trial": [0, 1], "status": ["interrupted", "interrupted"]}))
    assert not _trained(pd.DataFrame({"trial": [0, 1], "epochs": [pd.NA, 0]}, dtype="Int64"))
    assert _trained(pd.DataFrame({"trial": [0, 1], "epochs": [pd.NA, 2]}, dtype="Int64"))


def test_repeats_are_planned_for_distinct_configurations(tmp_path):
    """The top search trials were repeated as they came: two trials of one configuration (a small
    space, or TPE proposing a point again) got the same repeats twice, shown as two configurations,
    and the next configuration was never repeated."""
    import dataclasses

    from hpbench.dispatch.repeats import plan_repeats
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study
    from tests.conftest import TINY_STUDY

    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    study = load_study(path)
    study = dataclasses.replace(study, settings=dataclasses.replace(study.settings, repeats_top=2))
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    for tid, lr, acc in (("a", 0.01, 0.9), ("b", 0.02, 0.7), ("c", 0.01, 0.8)):
        store.start(tid, {"optimizer": "adam", "lr": lr})
        store.epoch(tid, {"epoch": 1, "val_accuracy": acc, "epoch_s": 0.1})
        store.finish(tid)
    runs = plan_repeats(study, store, n_repeats=2)
    assert [(r.labels["repeat_of"], r.params["lr"]) for r in runs] == [(0, 0.01), (0, 0.01), (1, 0.02), (1, 0.02)]
    assert [r.seed for r in runs] == [1, 2, 1, 2]


def test_runs_a_ctrl_c_stops_in_the_repeats_are_interrupted_not_left_running(tmp_path, monkeypatch):
    """Ctrl-C during the repeats left their rows ``running`` in the tables after the command exited."""
    from io import StringIO
    from types import SimpleNamespace

    from rich.console import Console

    import hpbench.dispatch.after_search as after_search
    from hpbench.dispatch.interrupt import Interrupt, SearchInterrupted
    from hpbench.dispatch.recorder import Recorder
    from hpbench.dispatch.trainable import Replay
    from hpbench.results.status import TrialStatus
    from hpbench.results.store import ResultsStore

    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=["lr"])
    stop = Interrupt()

    class Tuner:  # Tune's fit: a repeat starts, trains an epoch, then Ctrl-C stops the experiment
        def fit(self):
            store.start("r1", {"lr": 0.01})
            store.epoch("r1", {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
            stop.event.set()

    monkeypatch.setattr(after_search, "replay_tuner", lambda *a, **k: Tuner())
    recorder = lambda store, progress, replays=None: Recorder(store=store, progress=progress, predictions=None)  # noqa: E731
    clock = SimpleNamespace(entering=None)
    after = after_search.AfterSearch(study=SimpleNamespace(name="s"), opts=SimpleNamespace(), store=store,
                                     console=Console(file=StringIO()), stop=stop, clock=clock, recorder=recorder)
    with pytest.raises(SearchInterrupted):
        after._replay([Replay(params={"lr": 0.01}, seed=1, labels={})], name="repeats", title="s repeats")
    assert store.row("r1")["status"] == TrialStatus.INTERRUPTED


def test_a_search_leaves_no_trial_running_in_its_optuna_storage(tmp_path):
    """Trials the search stopped (Ctrl-C, SIGTERM, a spent budget) were never told an end: they
    stayed RUNNING in optuna.db, shown as running for good, until a resume marked them failed."""
    import optuna
    from optuna.trial import TrialState

    from hpbench.dispatch.storage import open_storage, search_storage, sqlite_url

    url = sqlite_url(tmp_path / "optuna.db")
    with search_storage(url, "s", new_file=tmp_path / "optuna.db") as storage:
        study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
        done = study.ask()
        study.tell(done, 0.5)
        study.ask()  # stopped: never told
    states = [t.state for t in optuna.load_study(study_name="s", storage=open_storage(url)).trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL]


def test_the_end_of_a_search_says_it_waits_for_its_cost_predictions_and_a_ctrl_c_skips_them(tmp_path):
    """A machine's first search calibrates the cost model in the helper: after its last trial the
    command waited a minute or more without a word, and a Ctrl-C there (outside the search's
    handler) cut the final flush of the tables short."""
    import signal
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from hpbench.dispatch.predictions import AsyncPredictions

    calibrated = threading.Event()  # as a first prediction waits on the calibration
    study, store, preds = _soon_and_late(tmp_path, late=calibrated)
    preds.pending["soon"].result(timeout=30)
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        if "skipped" in line:
            calibrated.set()  # a thread pool waits for its running call at shutdown (the helper process is killed)

    timer = threading.Timer(0.3, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))  # the Ctrl-C, to the main thread
    # Python's own Ctrl-C handler, as the command has it there (an in-process Ray Tune run of an earlier
    # test can leave Tune's, which only logs)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer.start()
    try:
        preds.close_said(store, say=say, calibrating=True, quiet_s=0.0)  # returns: the Ctrl-C ends the wait, not the command
    finally:
        timer.cancel()
        calibrated.set()
        signal.signal(signal.SIGINT, handler)
    assert said[0] == "waiting for the cost predictions of 1 trial (this machine's cost model is being calibrated: once); Ctrl-C skips them"
    assert said[1] == "cost predictions skipped for 1 trial"
    assert store.trials["soon"]["predicted_flops"] == 1e6 and store.trials["late"].get("predicted_flops") is None

    quiet: list[str] = []  # every prediction already made: nothing to say
    done = AsyncPredictions(study=study, predict=lambda study, params, device: {"predicted_flops": 1e6}, executor=ThreadPoolExecutor(max_workers=1))
    done.submit("soon", {"optimizer": "adam", "lr": 0.01})
    done.pending["soon"].result(timeout=30)
    done.close_said(store, say=quiet.append)
    assert quiet == []

    # predictions that come within the quiet second are not announced; later ones are, without the calibration when it is not why
    quick = threading.Event()

    def slow(study, params, device):
        quick.wait(timeout=30)
        return {"predicted_flops": 1e6}

    soon = AsyncPredictions(study=study, predict=slow, executor=ThreadPoolExecutor(max_workers=1))
    soon.submit("soon", {"optimizer": "adam", "lr": 0.01})
    threading.Timer(0.1, quick.set).start()
    soon.close_said(store, say=quiet.append, quiet_s=10.0)
    assert quiet == []
    quick.clear()
    late = AsyncPredictions(study=study, predict=slow, executor=ThreadPoolExecutor(max_workers=1))
    late.submit("soon", {"optimizer": "adam", "lr": 0.01})
    threading.Timer(0.3, quick.set).start()
    late.close_said(store, say=quiet.append, quiet_s=0.05)
    assert quiet == ["waiting for the cost predictions of 1 trial; Ctrl-C skips them"]


def test_importances_weigh_only_trials_of_a_finite_value_and_say_when_all_tie(tmp_path):
    """A trial that diverged before any value is told at the worst (+-inf): Optuna's evaluators
    drop it, so the report's count of trials weighed must too (it said "fanova, 7 trials" where 3
    had a value). Every trial at one value (all 1.0) is said in words, not as Optuna's "importance
    failed: Encountered zero total variance in all trees" (bug hunt s47h4)."""
    from types import SimpleNamespace

    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from hpbench.report.matters import importance, scored_trials

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dist = {"lr": FloatDistribution(1e-4, 1e-1, log=True), "wd": FloatDistribution(0.0, 0.1)}

    def study_of(values: list[float], name: str) -> str:
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        s = optuna.create_study(study_name=name, storage=url, direction="maximize")
        for i, v in enumerate(values):
            s.add_trial(create_trial(params={"lr": 10 ** -(1 + i % 3), "wd": 0.01 * i}, distributions=dist, value=v))
        s.add_trial(create_trial(params={"lr": 0.05, "wd": 0.05}, distributions=dist, state=TrialState.PRUNED,
                                 intermediate_values={1: float("-inf")}))
        return url

    url = study_of([0.9, 0.5, 0.7, float("-inf"), 0.8, float("-inf")], "mixed")
    scored = scored_trials(optuna.load_study(study_name="mixed", storage=url))
    assert sorted(t.value for t in scored) == pytest.approx([0.5, 0.7, 0.8, 0.9], rel=1e-6)
    imp = importance(SimpleNamespace(name="mixed", storage=url))
    assert imp["available"] and imp["n_trials"] == 4
    url = study_of([1.0] * 5, "ties")
    imp = importance(SimpleNamespace(name="ties", storage=url))
    assert not imp["available"] and "same value (1)" in imp["note"] and "failed" not in imp["note"], imp


def test_a_log_hears_from_a_search_that_has_not_finished_a_trial(tmp_path):
    """In a log (no terminal) the progress printed a line only when a trial ended: a search on real
    data said nothing for its first 64-112 s (bug hunt s47h4). Once nothing was said for
    HEARTBEAT_S it prints the summary line, once; a trial's line counts as said."""
    from hpbench.dispatch.progress import HEARTBEAT_S

    store, _, rec, con = _recorder_setup(tmp_path, lambda study, params, device: {})
    progress = rec.progress
    store.start("t0", {"optimizer": "adam", "lr": 0.01})
    progress.refresh()
    assert con.file.getvalue() == ""  # just started: nothing to say yet
    progress._said -= HEARTBEAT_S  # as if HEARTBEAT_S passed in silence
    progress.refresh()
    progress.refresh()
    lines = con.file.getvalue().splitlines()
    assert len(lines) == 1 and "0/2 done, 1 running" in lines[0], lines


def test_a_step_is_named_in_a_log_once_it_lasts(tmp_path):
    """announce: a quick step adds no line to a log; one that goes on past its threshold is named once."""
    import threading
    from io import StringIO

    from rich.console import Console

    from hpbench.dispatch.announce import announce, preflight_step
    from hpbench.study.parse import load_study
    from tests.conftest import TINY_STUDY

    con = Console(file=StringIO(), width=200)
    with announce(con, "quick step", after_s=30):
        pass
    assert con.file.getvalue() == ""
    said = threading.Event()
    with announce(con, "slow step", after_s=0.01):
        for _ in range(1000):  # until the line is printed (at most 10 s), not a fixed sleep
            if "slow step..." in con.file.getvalue():
                said.set()
                break
            threading.Event().wait(0.01)
    assert said.is_set() and con.file.getvalue().count("slow step") == 1
    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    assert preflight_step(load_study(path)).startswith("pre-flight: loading and checking the data (")


def test_a_trial_lost_with_its_node_runs_again_where_one_whose_code_raised_failed(tmp_path, monkeypatch):
    """Bug hunt s48/h2, finding 4: a trial whose worker node's raylet was killed ended ``failed``
    ("The actor ... is unavailable: ... Socket closed"), counted as done and never run again, though
    a lost node is among the interruptions whose running trials run again. Ray's node-loss errors
    (as Tune pickles them for the trial) leave it ``interrupted``; an actor that died on a live node
    and an error raised by the trial's code stay the trial's failure."""
    import cloudpickle
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayTaskError

    import hpbench.dispatch.recorder as recorder_module

    store, _, rec, _ = _recorder_setup(tmp_path, lambda study, params, device: {})
    dead_nodes = {"n-dead"}
    monkeypatch.setattr(recorder_module, "node_alive", lambda node: node not in dead_nodes)
    cases = {
        "unavailable": (ActorUnavailableError("RpcError: RPC error: Socket closed rpc_code: 14", None), "n-live"),
        "died-on-dead-node": (ActorDiedError(), "n-dead"),
        "died-on-live-node": (ActorDiedError(), "n-live"),  # killed for its memory, or crashed: its own
        "raised": (RayTaskError("train", "Traceback ...\nValueError: bad shape", ValueError("bad shape")), "n-dead"),
    }
    for tid, (exc, node) in cases.items():
        pickled = tmp_path / f"{tid}.pkl"
        pickled.write_bytes(cloudpickle.dumps(exc))
        trial = SimpleNamespace(**vars(_trial(tid, {"optimizer": "adam", "lr": 0.01}, error=str(exc))), pickled_error_file=str(pickled))
        rec.on_trial_start(iteration=0, trials=[], trial=trial)
        rec.on_trial_result(iteration=1, trials=[], trial=trial, result={"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1, "node_id": node})
        rec.on_trial_error(iteration=2, trials=[], trial=trial)
    status = {tid: store.row(tid)["status"] for tid in cases}
    assert status == {"unavailable": "interrupted", "died-on-dead-node": "interrupted", "died-on-live-node": "failed", "raised": "failed"}
    assert store.row("unavailable")["error"].startswith("lost with its Ray node: ")
