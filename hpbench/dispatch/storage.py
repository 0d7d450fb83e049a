"""The Optuna storage a study is recorded in (searcher history, intermediate values).

By default a SQLite file in the results directory, opened in WAL mode with
``synchronous=NORMAL``: measured here, that cuts a ``trial.report`` from 17 ms to 0.7 ms and
an ask+tell from 98 ms to 27 ms — the driver does both for every epoch and trial, so plain
SQLite's fsync per commit was the largest per-trial overhead of a search. WAL with NORMAL
sync survives a killed process (only a power loss can drop the last commits). The search folds
the WAL back into the file as its storage closes (:func:`close_storage`): the command leaves with
``os._exit``, and SQLite folds it only as the last connection closes, so ``optuna.db`` copied
alone lacked the last ~20% of its trials (bug hunt s50/h3, finding 1). Any other
SQLAlchemy URL (e.g. PostgreSQL) is used as given. A driver that was killed leaves trials RUNNING
there: :func:`settle_running` marks them failed before a search continues — only those of its
own study, and only while it holds the study's name (:mod:`hpbench.dispatch.study_lock`: on a
shared storage another live search of that name is refused, so no running trial is its).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def open_storage(url: str) -> Any:
    import optuna
    import sqlalchemy

    storage = optuna.storages.RDBStorage(url)
    if url.startswith("sqlite"):

        @sqlalchemy.event.listens_for(storage.engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        storage.engine.dispose()  # reconnect with the pragmas
    return storage


def close_storage(storage: Any) -> None:
    """Close a storage :func:`open_storage` opened: a SQLite file's WAL is folded into the file and
    emptied (``optuna.db`` alone then holds the whole study, as plain Optuna's rollback journal
    leaves it) and the engine's connections closed. Storages without an engine (in memory, None:
    never opened) are left as they are; another database's engine is only disposed."""
    engine = getattr(storage, "engine", None)
    if engine is None:
        return
    try:
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except Exception as err:  # the study is whole in the file and its WAL together still (SQLite reads both)
        _log.warning("the Optuna storage's WAL was not folded into the file (%s): keep %s-wal beside it", err, engine.url.database)
    finally:
        engine.dispose()


def settle_running(storage: Any, study_name: str) -> int:
    """Trials left RUNNING in Optuna's storage by a killed driver are marked FAIL, so that the
    sampler neither waits for them nor learns from half a trial. Returns how many."""
    import optuna
    from optuna.trial import TrialState

    try:
        ostudy = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return 0
    stale = ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    for t in stale:
        storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
    return len(stale)


@contextlib.contextmanager
def search_storage(url: str, study_name: str, *, new_file: Path | None = None, imported: Future[None] | None = None,
                   tables: Any = None) -> Iterator[Any]:
    """The storage a search's searcher (and its early trials) use: ``url``'s, its stale running
    trials settled, served from memory with every write copied to ``url`` behind
    (:class:`~hpbench.dispatch.write_behind.WriteBehind`); complete in ``url`` on exit.

    ``tables``: the search's :class:`~hpbench.results.store.ResultsStore`. A trial tied to its row
    (``owned_by``) reaches ``url`` once the tables on disk hold its end, never before; on exit the
    tables are written (a forced flush) before the storage's last copies. Rows without an
    ``optuna_trial`` (a driver killed before it numbered them) get theirs from the storage as it opens.

    ``new_file``: ``url``'s SQLite file, when the search may create it. Where it does not exist
    yet (a fresh search: nothing to load, nothing to settle) the writer thread opens it, after
    ``imported`` (SQLAlchemy and Alembic, :func:`hpbench.dispatch.backend.import_driver_modules`):
    the early trials start from memory at once, not ~0.7 s later (the schema's creation and
    Alembic's import, on the race's critical path).

    Closed however the search ends (done, budget, Ctrl-C, a failure): :func:`close_storage`."""
    import optuna

    from hpbench.dispatch.optuna_numbers import fill_from_storage
    from hpbench.dispatch.write_behind import WriteBehind

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if new_file is not None and not new_file.exists():

        def opened() -> Any:
            if imported is not None:
                imported.result()
            return open_storage(url)

        storage = WriteBehind(opened, study_name=study_name)
    else:
        if imported is not None:  # the imports' thread may be inside SQLAlchemy now: two threads importing it at once
            imported.result()     # failed ("partially initialized module 'sqlalchemy.sql.roles'") on a resumed search
        backing = open_storage(url)
        settle_running(backing, study_name)
        storage = WriteBehind(backing, study_name=study_name)
        if tables is not None:  # the rows of a driver killed before it numbered them (hpbench.dispatch.optuna_numbers)
            fill_from_storage(tables, storage, study_name)
    if tables is not None:
        tables.on_written = storage.tables_wrote
    try:
        yield storage
    finally:
        try:
            if tables is not None:
                tables.flush(force=True)  # the ends the storage holds back, on disk first
        finally:
            close_storage(storage.close())  # the file complete on its own (its WAL folded in): the command leaves by os._exit
            if tables is not None:
                tables.on_written = None


def stored_direction(url: str, study_name: str) -> str | None:
    """The direction (``"min"`` / ``"max"``) of the Optuna study ``study_name`` already in the
    storage ``url``, or None where there is none. Optuna loads an existing study with the direction
    it was created with, whatever the caller asks (``create_study(load_if_exists=True)``): a study
    of the same name that ranks by another metric or mode would get this one's values told the
    other way round. A SQLite file that does not exist is not created."""
    import optuna
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").expanduser().is_file():
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    try:
        ostudy = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return None
    finally:
        storage.engine.dispose()
    return "max" if ostudy.direction == optuna.study.StudyDirection.MAXIMIZE else "min"


def url_problem(url: str) -> tuple[str, str] | None:
    """Why the Optuna storage ``url`` cannot be used, as (rule, hint), before anything is written
    (a URL SQLAlchemy cannot parse ended the search in a traceback, the results folder made);
    None when it can. A SQLite file's folder must exist (connecting would create the file); any
    other database is connected to once, for at most :data:`CONNECT_TIMEOUT_S` seconds."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    from hpbench.user_code import exception_line

    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return "must be a database URL, e.g. sqlite:///results/optuna.db or postgresql://USER:PASSWORD@HOST/DB", ""
    backend = parsed.get_backend_name()
    try:
        parsed.get_dialect().import_dbapi()
    except ModuleNotFoundError as err:  # the dialect's driver not installed (SQLAlchemy 2.1's postgresql:// is psycopg 3)
        named = " (e.g. postgresql+psycopg2:// for psycopg2)" if backend == "postgresql" else ""
        return "must name a database driver that is installed", f"{err}: install it, or name an installed one in the URL{named}"
    except Exception as err:  # an unknown dialect (NoSuchModuleError)
        return "must name a database SQLAlchemy can open", exception_line(err)
    if backend == "sqlite":
        where = sqlite_file(url)
        if where is None:  # the searcher's history in this process only (the early trials' helper records in another), lost at its end
            return ("must name a SQLite file, not an in-memory database", "an in-memory study is seen by this process only and lost "
                    "when the search ends; leave --storage out for the results folder's own optuna.db")
        folder = Path(where).expanduser().resolve().parent
        if not folder.is_dir():
            return "must name a SQLite file in an existing folder", f"{folder} does not exist"
        return None
    engine = sqlalchemy.create_engine(parsed, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect():
            pass
    except Exception as err:
        return "must reach its database", exception_line(err)
    finally:
        engine.dispose()
    return None


CONNECT_TIMEOUT_S = 5


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL, without the URL's options (``sqlite:///my.db?timeout=30``
    is ``my.db``); None for SQLite's in-memory database (``sqlite://``, ``sqlite:///:memory:``, a
    URI filename asking for one: ``file::memory:``, ``mode=memory``)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:") or parsed.query.get("mode") == "memory":
        return None
    return database


def shown_url(url: str) -> str:
    """The URL with its password hidden (an error message names it); one without a password as
    given (SQLAlchemy's rendering quotes it: ``sqlite:///%3Amemory%3A``)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        return url if parsed.password is None else parsed.render_as_string(hide_password=True)
    except Exception:
        return url
