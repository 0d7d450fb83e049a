"""Ray Tune's trials numbered in the order the searcher asked them (:mod:`hpbench.dispatch.ask_order`):
``enqueue = [cnn, gru, transformer]`` with ``max_concurrent = 2`` ran as table trials gru, cnn,
transformer (bug hunt s52/h3): Tune asked the points in order, but the second trial's worker came
up first, and the table numbered trials as they started. Tune's callback hooks fed fake trials, no Ray."""

from __future__ import annotations

from io import StringIO
from types import SimpleNamespace

from rich.console import Console

from hpbench.dispatch.progress import Progress
from hpbench.dispatch.recorder import Recorder
from hpbench.results.store import ResultsStore


def _trial(tid: str, lr: float) -> SimpleNamespace:
    return SimpleNamespace(trial_id=tid, config={"optimizer": "adam", "lr": lr}, status="PENDING", last_result={}, checkpoint=None,
                           error_file=None, get_error=lambda: None)


def _recorder(tmp_path) -> tuple[ResultsStore, Recorder]:
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=["optimizer", "lr"])
    progress = Progress(store=store, n_trials=3, console=Console(file=StringIO(), width=200), study_name="tiny")
    return store, Recorder(store=store, progress=progress)


def _start(rec: Recorder, trials: list[SimpleNamespace], trial: SimpleNamespace) -> None:
    trial.status = "RUNNING"  # as Tune sets it before its callbacks' on_trial_start
    rec.on_trial_start(iteration=0, trials=trials, trial=trial)


def test_a_trial_asked_first_keeps_the_first_number_when_the_next_starts_before_it(tmp_path):
    store, rec = _recorder(tmp_path)
    first, second = _trial("a_00000", 0.01), _trial("a_00001", 0.02)  # Tune created (asked) them in this order
    trials = [first, second]
    _start(rec, trials, second)  # its worker came up first
    _start(rec, trials, first)
    third = _trial("a_00002", 0.03)
    trials.append(third)
    _start(rec, trials, third)
    assert [store.row(t.trial_id)["trial"] for t in trials] == [0, 1, 2]
    assert [store.row(t.trial_id)["lr"] for t in trials] == [0.01, 0.02, 0.03]


def test_trials_started_in_order_and_rows_begun_beside_them_number_as_before(tmp_path):
    store, rec = _recorder(tmp_path)
    store.start("early_00000", {"optimizer": "adam", "lr": 0.5})  # an early trial's row (hpbench.dispatch.early)
    a, b = _trial("a_00000", 0.01), _trial("a_00001", 0.02)
    _start(rec, [a, b], a)
    store.start("early_00001", {"optimizer": "adam", "lr": 0.6})
    _start(rec, [a, b], b)
    assert [store.row(t)["trial"] for t in ("early_00000", "a_00000", "early_00001", "a_00001")] == [0, 1, 2, 3]


def test_a_kept_number_whose_trial_never_starts_is_left_unused(tmp_path):
    store, rec = _recorder(tmp_path)
    a, b, c = _trial("a_00000", 0.01), _trial("a_00001", 0.02), _trial("a_00002", 0.03)
    _start(rec, [a, b], b)  # a waits for its worker; the search stops before it starts
    _start(rec, [a, b, c], c)
    assert "a_00000" not in store.trials
    assert [store.row(t.trial_id)["trial"] for t in (b, c)] == [1, 2]
