"""What a search leaves in its Optuna storage as a record (bug hunt s50/h3): ``optuna.db`` alone
holds every trial once the search's storage closed (the command then leaves with ``os._exit``), and
the trials table's ``optuna_trial`` is filled from the storage when a search resumes after a
``kill -9`` (the numbers were only in the driver's memory). No Ray."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pandas as pd

from hpbench.dispatch.storage import open_storage, search_storage, sqlite_url

optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = Path(__file__).resolve().parents[1]


def _n_trials(db: Path) -> int:
    return len(optuna.load_study(study_name="s", storage=open_storage(sqlite_url(db))).get_trials(deepcopy=False))


def test_optuna_db_alone_holds_every_trial_after_the_command_left_with_os_exit(tmp_path):
    """The finding: a search that ended normally (or by Ctrl-C) left the last ~20% of its trials
    only in ``optuna.db-wal`` (WAL mode; the engine never closed, the CLI leaves with ``os._exit``):
    ``optuna.db`` copied alone lacked them. Run as the CLI ends: closed, then ``os._exit``."""
    db = tmp_path / "optuna.db"
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        import optuna
        from hpbench.dispatch.storage import search_storage, sqlite_url
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        db = Path({str(db)!r})
        with search_storage(sqlite_url(db), "s", new_file=db) as storage:
            study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
            for _ in range(30):
                t = study.ask()
                x = t.suggest_float("x", 0.0, 1.0)
                for step in range(1, 6):
                    t.report(x * step, step)
                study.tell(t, x)
        os._exit(0)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)
    wal = tmp_path / "optuna.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(db, alone / "optuna.db")
    assert _n_trials(alone / "optuna.db") == 30


def test_a_non_sqlite_storage_is_closed_without_a_checkpoint():
    """Only SQLite has a WAL to fold back; any other database's engine is just disposed."""
    from types import SimpleNamespace

    from hpbench.dispatch.storage import close_storage

    disposed: list[bool] = []
    engine = SimpleNamespace(dialect=SimpleNamespace(name="postgresql"), dispose=lambda: disposed.append(True),
                             connect=lambda: (_ for _ in ()).throw(AssertionError("connected")))
    close_storage(SimpleNamespace(engine=engine))
    close_storage(None)  # a storage that never opened
    close_storage(optuna.storages.InMemoryStorage())  # no engine
    assert disposed == [True]


def _killed_search(out: Path, db: Path) -> tuple[dict[str, int], list[str]]:
    """A search driven as the driver drives it (Tune's searcher asks and notes each trial, the
    recorder writes its rows), then killed: the tables and optuna.db as a ``kill -9`` leaves them
    (copied aside while the writer is idle), without the final ``optuna_trial`` annotation. Returns
    the numbers the storage gave each trial, and the rows that finished before the kill."""
    import hpbench
    from hpbench.dispatch.optuna_numbers import AskedTrials
    from hpbench.dispatch.plan import write_study_record
    from hpbench.dispatch.searchers import OBJECTIVE, make_searcher
    from hpbench.results.store import ResultsStore
    from tests.test_searchers import _study

    study = _study("random", name="s")
    live, live_db = out.with_name("live"), db.with_name("live.db")
    store = ResultsStore(out=live, metric="val_accuracy", mode="max", param_keys=study.space.keys())
    asked = AskedTrials()
    live.mkdir()
    write_study_record(study, live)
    with search_storage(sqlite_url(live_db), study.name, new_file=live_db, tables=store) as storage:
        tune = make_searcher(study, storage=storage, asked=asked)
        for tid in ("t0", "t1", "t2", "t3"):
            store.start(tid, study.space.resolve(tune.suggest(tid)))
            store.epoch(tid, {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
        for tid, value in (("t2", 0.7), ("t0", 0.5), ("t3", 0.6)):  # they end out of start order; t1 still running
            tune.on_trial_complete(tid, {OBJECTIVE: value, "epoch": 1, "stop_reason": "completed"})
            store.finish(tid)
        store.flush(force=True)
        storage.flush()
        shutil.copytree(live, out)  # killed here: the tables and the file as they are on disk
        for part in (live_db, live_db.with_name("live.db-wal")):
            if part.exists():
                shutil.copy(part, db.with_name(db.name + part.name[len("live.db"):]))
        assert hpbench.load(out).get("optuna_trial", pd.Series(dtype="Int64")).isna().all()
    numbers = {tid: storage.numbers[oid] for tid, oid in asked.ids.items() if oid in storage.numbers}
    return numbers, ["t2", "t0", "t3"]


def test_a_resumed_search_fills_optuna_trial_for_the_trials_run_before_a_kill(tmp_path):
    """The finding: after ``kill -9`` the ``optuna_trial`` column stayed NA for every trial run before
    the kill, even after ``--resume``, though optuna.db held them (the numbers lived in the driver's
    memory, written in a ``finally``). Each trial in the storage carries its row's id
    (``hpbench_trial_id``); the resumed search fills the column from it."""
    import hpbench
    from hpbench.dispatch.optuna_numbers import ROW_ATTR
    from hpbench.results.resume import load_previous
    from hpbench.results.store import ResultsStore
    from tests.test_searchers import _study

    out, db = tmp_path / "out", tmp_path / "optuna.db"
    numbers, finished = _killed_search(out, db)
    stored = optuna.load_study(study_name="s", storage=open_storage(sqlite_url(db))).get_trials(deepcopy=False)
    assert {t.user_attrs[ROW_ATTR]: t.number for t in stored} == {tid: numbers[tid] for tid in finished}
    # the resume: the finished rows loaded (the running one dropped), the storage opened with the tables
    study = _study("random", name="s")
    prev = load_previous(out)
    assert prev is not None
    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=study.space.keys())
    store.load(prev.trials, prev.epochs)
    with search_storage(sqlite_url(db), "s", new_file=db, tables=store):
        store.flush(force=True)
    trials = hpbench.load(out).set_index("trial_id")
    assert sorted(trials.index) == sorted(finished)
    assert {tid: int(trials.loc[tid, "optuna_trial"]) for tid in finished} == {tid: numbers[tid] for tid in finished}
    assert str(trials["optuna_trial"].dtype) == "Int64"


def test_the_report_s_importances_close_the_storage_they_read(tmp_path):
    """The final report opens the study by its URL for the importances and left that connection
    open, and the command then leaves with os._exit: an empty optuna.db-wal and -shm stayed beside
    optuna.db (fix helper s50/B). Once read, its connections are closed: SQLite removes both."""
    from types import SimpleNamespace

    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from hpbench.dispatch.storage import close_storage
    from hpbench.report.matters import importance

    db = tmp_path / "optuna.db"
    storage = open_storage(sqlite_url(db))  # WAL, as a search writes it
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    dist = {"lr": FloatDistribution(1e-4, 1e-1, log=True)}
    for i in range(6):
        study.add_trial(create_trial(params={"lr": 10 ** -(1 + i % 3)}, distributions=dist, value=0.1 * i))
    close_storage(storage)
    imp = importance(SimpleNamespace(name="s", storage=sqlite_url(db)))
    assert imp["available"], imp
    assert not (tmp_path / "optuna.db-wal").exists() and not (tmp_path / "optuna.db-shm").exists()
