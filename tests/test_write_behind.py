"""The searcher's write-behind Optuna storage (hpbench.dispatch.write_behind): a seeded TPE
search through it draws what it draws on the SQLite storage directly, and the file ends up
holding the same study (trials, parameters, states, values, intermediate values), each trial
written whole once finished, readable by a resumed search. No Ray."""

from __future__ import annotations

import pickle

import optuna
import pytest

from hpbench.dispatch.storage import open_storage, search_storage, sqlite_url
from hpbench.dispatch.write_behind import WriteBehind

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _search(storage, n: int, *, seed: int = 0) -> list[dict]:
    """n seeded TPE trials (a categorical, a log-float, a conditional int), each reporting 3 epochs;
    every third pruned, the rest told a value; the first runs an enqueued point."""
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=4))
    study.enqueue_trial({"opt": "adam", "lr": 0.01})
    for _ in range(n):
        t = study.ask()
        opt = t.suggest_categorical("opt", ["sgd", "adam", "rmsprop"])
        lr = t.suggest_float("lr", 1e-4, 1e-1, log=True)
        depth = t.suggest_int("depth", 1, 4) if opt != "sgd" else 0
        value = -abs(lr - 0.01) - 0.001 * depth
        for step in range(1, 4):
            t.report(value * step / 3, step)
        if t.number % 3 == 2:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(t, value)
    return _trials(storage)


def _trials(storage, name: str = "s") -> list[dict]:
    loaded = optuna.load_study(study_name=name, storage=storage)
    return [{"number": t.number, "state": t.state, "params": t.params, "value": t.value, "steps": t.intermediate_values}
            for t in loaded.get_trials(deepcopy=False)]


def test_write_behind_draws_and_records_what_the_file_storage_does(tmp_path):
    direct = _search(open_storage(sqlite_url(tmp_path / "direct.db")), 12)
    url = sqlite_url(tmp_path / "behind.db")
    with search_storage(url, "s") as storage:
        assert isinstance(storage, WriteBehind)
        behind = _search(storage, 12)
        assert storage.failed is None
    assert behind == direct  # the same draws (the sampler saw the same history)
    assert _trials(open_storage(url)) == direct  # and the file holds all of it once the search ended
    assert len(direct) == 12 and {t["state"] for t in direct} == {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}


def test_a_resumed_search_continues_from_the_file(tmp_path):
    url = sqlite_url(tmp_path / "optuna.db")
    with search_storage(url, "s") as storage:
        _search(storage, 6)
    # a running trial left by a killed driver is settled (failed) before the memory copy loads
    killed = optuna.load_study(study_name="s", storage=open_storage(url)).ask()
    with search_storage(url, "s") as storage:
        loaded = _trials(storage)
        assert len(loaded) == 7 and loaded[-1]["state"] == optuna.trial.TrialState.FAIL and loaded[-1]["number"] == killed.number
        _search(storage, 4)
    resumed = _trials(open_storage(url))
    assert len(resumed) == 11 and [t["number"] for t in resumed] == list(range(11))
    # the first run drew what the file storage drew directly (the second enqueued its point again: it ran first again)
    direct = open_storage(sqlite_url(tmp_path / "direct.db"))
    _search(direct, 6)
    optuna.load_study(study_name="s", storage=direct).ask()
    direct_trials = _trials(direct)
    direct_trials[-1]["state"] = optuna.trial.TrialState.FAIL
    assert [t["params"] for t in resumed[:7]] == [t["params"] for t in direct_trials]


def test_pickled_copy_keeps_the_trials_without_the_writer(tmp_path):
    """Tune pickles its searcher, storage included, into its experiment snapshot."""
    with search_storage(sqlite_url(tmp_path / "optuna.db"), "s") as storage:
        _search(storage, 3)
        copy = pickle.loads(pickle.dumps(storage))
    assert _trials(copy) == _trials(storage)
    copy.close()  # nothing to stop; no file written by the copy
    with pytest.raises(KeyError):
        copy.get_study_id_from_name("other")


def test_a_trial_reaches_the_file_once_finished_and_a_running_one_at_the_end(tmp_path):
    url = sqlite_url(tmp_path / "optuna.db")
    with search_storage(url, "s") as storage:
        study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
        running = study.ask()
        running.suggest_float("lr", 1e-4, 1e-1, log=True)
        running.report(0.5, 1)
        done = study.ask()
        done.suggest_float("lr", 1e-4, 1e-1, log=True)
        study.tell(done, 0.9)
        storage.flush()
        in_file = _trials(open_storage(url))
        assert [(t["state"], t["value"]) for t in in_file] == [(optuna.trial.TrialState.COMPLETE, 0.9)]
    at_end = _trials(open_storage(url))
    # the trial still running when the search ended: FAIL (never left running for good), its steps kept
    assert [t["state"] for t in at_end] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert at_end[1]["steps"] == {1: 0.5} and at_end[1]["params"] == running.params


def test_closing_while_another_thread_asks_for_a_trial(tmp_path, monkeypatch):
    """An early trial's thread may still ask the searcher while the search closes its storage (a
    search stopped while Ray started): close() walks the trials left running on a copy of the list
    (seen: "dictionary changed size during iteration"). The ask is made from inside close()'s walk,
    at the moment the other thread's would land."""
    url = sqlite_url(tmp_path / "optuna.db")
    with search_storage(url, "s") as storage:
        study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
        running = study.ask()
        running.suggest_float("lr", 1e-4, 1e-1, log=True)
        write = storage._write_trial
        asked: list[int] = []

        def write_while_asked(sid: int, tid: int) -> None:
            write(sid, tid)
            if not asked:
                asked.append(study.ask().number)  # a new trial while close() walks them

        monkeypatch.setattr(storage, "_write_trial", write_while_asked)
    assert asked == [1]
    in_file = _trials(open_storage(url))
    assert [(t["number"], t["state"]) for t in in_file] == [(0, optuna.trial.TrialState.FAIL)]  # the one running at close, settled


def test_a_new_file_is_opened_behind_the_search_after_its_imports(tmp_path):
    """A fresh search's optuna.db (the file does not exist yet) is opened by the writer thread once
    the driver's imports are done: the searcher draws from memory at once, the file ends up the same."""
    from concurrent.futures import Future

    direct = _search(open_storage(sqlite_url(tmp_path / "direct.db")), 8)
    path = tmp_path / "optuna.db"
    imported: Future[None] = Future()
    with search_storage(sqlite_url(path), "s", new_file=path, imported=imported) as storage:
        behind = _search(storage, 8)  # before the imports are done: nothing opened yet
        assert not path.exists()
        imported.set_result(None)
        storage.flush()
        assert path.exists() and storage.failed is None
    assert behind == direct
    assert _trials(open_storage(sqlite_url(path))) == direct


def test_a_new_file_that_cannot_be_opened_leaves_the_search_in_memory(tmp_path):
    path = tmp_path / "no-such-folder" / "optuna.db"
    with search_storage(sqlite_url(path), "s", new_file=path) as storage:
        trials = _search(storage, 4)
        storage.flush()
        assert storage.failed is not None and "OperationalError" in storage.failed
    assert len(trials) == 4 and not path.exists()


def test_an_existing_file_is_loaded_not_opened_behind(tmp_path):
    path = tmp_path / "optuna.db"
    with search_storage(sqlite_url(path), "s") as storage:
        _search(storage, 3)
    from concurrent.futures import Future

    done: Future[None] = Future()
    done.set_result(None)  # the imports' thread is done (an existing file waits for it: the test below)
    with search_storage(sqlite_url(path), "s", new_file=path, imported=done) as storage:
        assert len(_trials(storage)) == 3


def test_an_existing_database_is_opened_only_once_the_imports_thread_is_done(tmp_path, monkeypatch):
    """A resumed search opened its optuna.db on the main thread while the imports' thread was still
    importing SQLAlchemy: "partially initialized module 'sqlalchemy.sql.roles'" (seen once in 8
    resumes). It waits for that thread first, as a fresh search's writer thread does."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import hpbench.dispatch.storage as storage_module

    url = sqlite_url(tmp_path / "optuna.db")
    with search_storage(url, "s"):
        pass  # the file exists now: the resume path
    release, seen = threading.Event(), []
    real = storage_module.open_storage

    def opening(u):
        seen.append(release.is_set())
        return real(u)

    monkeypatch.setattr(storage_module, "open_storage", opening)
    with ThreadPoolExecutor(1) as pool:
        imported = pool.submit(release.wait, 5.0)
        threading.Timer(0.2, release.set).start()
        with search_storage(url, "s", new_file=tmp_path / "optuna.db", imported=imported):
            pass
    assert seen == [True]


def _tables_and_file(out, url, name: str = "s") -> tuple[dict[str, str], list[tuple[int, object]]]:
    """What a driver killed now leaves: the tables on disk (trial id -> status) and the file's trials."""
    from hpbench.results.parts import read_table, table_exists

    rows = read_table(out, "trials.parquet").to_dict("records") if table_exists(out, "trials.parquet") else []
    return {r["trial_id"]: r["status"] for r in rows}, [(t["number"], t["state"]) for t in _trials(open_storage(url), name)]


def test_a_finished_trial_reaches_the_file_only_once_its_row_is_on_disk(tmp_path):
    """Bug hunt s48/h2, finding 1: the file received a trial's end as soon as Tune's searcher told it,
    while the tables are written behind (throttled): a kill -9 in between left optuna.db with finished
    trials the tables had as running or not at all, re-run on resume. Driven as a search drives them
    (Tune's searcher told first, then the recorder's row), the kill taken at the moment between the
    tell and the table write: nothing in the file the tables do not hold ended."""
    from hpbench.dispatch.searchers import OBJECTIVE, make_searcher
    from hpbench.results.store import ResultsStore
    from tests.test_searchers import _study

    study = _study("random", name="s")
    out, url = tmp_path / "out", sqlite_url(tmp_path / "optuna.db")
    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=study.space.keys())
    with search_storage(url, study.name, tables=store) as storage:
        tune = make_searcher(study, storage=storage)
        for tid in ("t0", "t1"):
            store.start(tid, study.space.resolve(tune.suggest(tid)))
            store.epoch(tid, {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
        tune.on_trial_complete("t0", {OBJECTIVE: 0.5, "epoch": 1, "stop_reason": "completed"})  # Tune: the searcher first
        store.finish("t0")  # then the recorder; its write is throttled (not made yet)
        storage.flush()  # the Optuna copy is as far as it goes: killed here
        assert _tables_and_file(out, url) == ({}, [])
        store.flush(force=True)  # the tables hold t0's end now, and the copy follows
        storage.flush()
        assert _tables_and_file(out, url) == ({"t0": "finished", "t1": "running"}, [(0, optuna.trial.TrialState.COMPLETE)])
        tune.on_trial_complete("t1", {OBJECTIVE: 0.4, "epoch": 1})  # pruned by the scheduler; its row ends interrupted
        store.annotate("t1", {"status": "interrupted"})
    # at the end the tables are written first; a trial whose row never ended is FAIL in the file, as an interrupted trial is
    assert _tables_and_file(out, url) == ({"t0": "finished", "t1": "interrupted"},
                                          [(0, optuna.trial.TrialState.COMPLETE), (1, optuna.trial.TrialState.FAIL)])


def test_a_trial_recorded_before_it_is_told_is_copied_as_it_is_told(tmp_path):
    """An early trial's row ends (and may be written) before Optuna is told (hpbench.dispatch.early):
    told after its row is on disk, it is copied at once; one told before waits for the next write."""
    from hpbench.results.store import ResultsStore

    out, url = tmp_path / "out", sqlite_url(tmp_path / "optuna.db")
    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=["lr"])
    with search_storage(url, "s", tables=store) as storage:
        ostudy = optuna.create_study(storage=storage, study_name="s", direction="maximize")
        early, later = ostudy.ask(), ostudy.ask()
        for t, tid in ((early, "early_0"), (later, "early_1")):
            t.suggest_float("lr", 1e-4, 1e-1, log=True)
            storage.owned_by(t._trial_id, tid)
            store.start(tid, t.params)
            store.epoch(tid, {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
        store.finish("early_0")
        store.flush(force=True)
        ostudy.tell(early, 0.5)
        storage.flush()
        assert _tables_and_file(out, url)[1] == [(0, optuna.trial.TrialState.COMPLETE)]
        ostudy.tell(later, state=optuna.trial.TrialState.PRUNED)
        storage.flush()
        assert len(_tables_and_file(out, url)[1]) == 1
        store.finish("early_1")
        store.flush(force=True)
        storage.flush()
        assert _tables_and_file(out, url)[1] == [(0, optuna.trial.TrialState.COMPLETE), (1, optuna.trial.TrialState.PRUNED)]
